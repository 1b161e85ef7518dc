"""The independent learner (supplement Sec. 2): a ranker-free learner retrained on each
stage's labeled set, recorded beside the main one without changing the main run."""

import json
import os

from tavaal_jax import experiment
from tavaal_jax.strategies import uses_ranker


def _rows(workdir, name):
  with open(os.path.join(workdir, name)) as f:
    return [json.loads(line) for line in f]


def test_independent_config_has_no_ranker_and_leaves_the_config_alone(tiny_digits_config):
  config = tiny_digits_config
  config.strategy.name = "tavaal"
  config.compat.ranker_for_all = True
  independent = experiment.independent_config(config)
  assert uses_ranker(config) and not uses_ranker(independent)
  assert config.strategy.name == "tavaal" and config.compat.ranker_for_all
  assert independent.model == config.model and independent.train == config.train


def test_lloss_run_with_independent_learner_keeps_its_picks(tiny_digits_config, tmp_path):
  config = tiny_digits_config
  config.strategy.name = "lloss"
  config.al.stages = 2
  experiment.run(config, str(tmp_path / "plain"))
  config.al.independent = True
  experiment.run(config, str(tmp_path / "independent"))

  plain = _rows(str(tmp_path / "plain"), "results.jsonl")
  independent = _rows(str(tmp_path / "independent"), "results.jsonl")
  assert (_rows(str(tmp_path / "plain"), "picks.jsonl")
          == _rows(str(tmp_path / "independent"), "picks.jsonl"))
  for before, after in zip(plain, independent):
    assert after["test_accuracy"] == before["test_accuracy"]
    assert after["ranking_loss"] == before["ranking_loss"]  # the main learner has its ranker
    assert 0.0 <= after["independent_accuracy"] <= 1.0
    assert "independent_accuracy" not in before
