"""A 2-stage digits run of every strategy with a tiny model: valid picks, same picks twice."""

import json
import os

import numpy as np
import pytest

from tavaal_jax import experiment
from tavaal_jax.strategies import STRATEGIES
from tests.tiny_configs import tiny_selection


def _picks(workdir):
  with open(os.path.join(workdir, "picks.jsonl")) as f:
    return [json.loads(line) for line in f]


def _results(workdir):
  with open(os.path.join(workdir, "results.jsonl")) as f:
    return [json.loads(line) for line in f]


def _configure(config, strategy):
  config = tiny_selection(config, strategy)
  config.al.stages = 2
  config.al.subset = 90         # not a multiple of the scoring batch (16)
  return config


STRATEGY_NAMES = ["random", "mc_dropout", "coreset", "lloss", "vaal", "tavaal", "entropy",
                  "margin", "least_confidence", "badge", "uncertaingcn", "coregcn"]


def test_every_registered_strategy_is_covered():
  assert set(STRATEGIES.names()) == set(STRATEGY_NAMES)


@pytest.mark.parametrize("strategy", STRATEGY_NAMES)
def test_two_stage_run_picks_budget_new_images_deterministically(
    strategy, tiny_digits_config, tmp_path):
  config = _configure(tiny_digits_config, strategy)
  experiment.run(config, str(tmp_path / "a"))
  experiment.run(config, str(tmp_path / "b"))
  picks = _picks(str(tmp_path / "a"))
  assert picks == _picks(str(tmp_path / "b")), "same config and seed, other picks"
  initial, added = (np.asarray(p["indices"]) for p in picks)
  assert len(added) == config.al.budget == len(np.unique(added))
  assert not np.isin(added, initial).any()
  # The picks row carries each pick's score, the initial pool none.
  assert "scores" not in picks[0]
  assert len(picks[1]["scores"]) == len(added)
  if strategy == "random":
    assert picks[1]["scores"] == [None] * len(added) and picks[1]["score_name"] is None
  else:
    assert all(isinstance(s, float) for s in picks[1]["scores"]), picks[1]["scores"]
    assert isinstance(picks[1]["score_name"], str)
  results = _results(str(tmp_path / "a"))
  assert [r["num_labeled"] for r in results] == [20, 40]
  if strategy in ("lloss", "tavaal"):
    assert "ranker_spearman" in results[0] and len(results[0]["ranking_loss_per_epoch"]) == 1
  else:
    assert "ranker_spearman" not in results[0]
  if strategy in ("vaal", "tavaal"):
    for field in ("vae_loss", "disc_loss", "disc_labeled_mean", "disc_unlabeled_mean"):
      assert field in results[0]
