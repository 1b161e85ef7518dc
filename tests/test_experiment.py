"""The active-learning loop end to end on the real digits data with a tiny model."""

import json
import os

import numpy as np
import pytest

from tavaal_jax import experiment
from tavaal_jax.errors import ConfigError


def _rows(workdir, name):
  with open(os.path.join(workdir, name)) as f:
    return [json.loads(line) for line in f]


def _labeled_sets(picks):
  return [np.asarray(p["indices"]) for p in sorted(picks, key=lambda p: p["stage"])]


def test_digits_run_end_to_end(tiny_digits_config, tmp_path):
  config = tiny_digits_config
  workdir = str(tmp_path / "run")
  experiment.run(config, workdir)

  results = _rows(workdir, "results.jsonl")
  picks = _rows(workdir, "picks.jsonl")
  assert [r["stage"] for r in results] == [0, 1, 2]
  assert [r["num_labeled"] for r in results] == [20, 40, 60]
  for row in results:
    assert row["strategy"] == "random" and row["dataset"] == "digits"
    assert 0.0 <= row["test_accuracy"] <= 1.0
    assert row["train_seconds"] > 0 and row["select_seconds"] >= 0
  assert [p["stage"] for p in picks] == [0, 1, 2]
  chunks = _labeled_sets(picks)
  assert [len(c) for c in chunks] == [20, 20, 20]
  everything = np.concatenate(chunks)
  assert len(np.unique(everything)) == len(everything), "a pick was duplicated"
  assert everything.min() >= 0 and everything.max() < 1437
  with open(os.path.join(workdir, "config.json")) as f:
    assert json.load(f)["al"]["budget"] == 20


def test_same_seed_same_picks_other_seed_other_picks(tiny_digits_config, tmp_path):
  config = tiny_digits_config
  config.al.stages = 2
  experiment.run(config, str(tmp_path / "a"))
  experiment.run(config, str(tmp_path / "b"))
  config.seed = 1
  experiment.run(config, str(tmp_path / "c"))
  a, b, c = (_rows(str(tmp_path / d), "picks.jsonl") for d in "abc")
  assert a == b
  assert a != c
  accuracy = lambda d: [r["test_accuracy"] for r in _rows(str(tmp_path / d), "results.jsonl")]
  assert accuracy("a") == accuracy("b")


def test_rerun_resumes_and_drops_an_unfinished_stage(tiny_digits_config, tmp_path):
  config = tiny_digits_config
  workdir = str(tmp_path / "run")
  experiment.run(config, workdir)
  complete_results = _rows(workdir, "results.jsonl")
  complete_picks = _rows(workdir, "picks.jsonl")

  # Simulate a kill after stage 1 wrote its picks but before its result, mid-line.
  with open(os.path.join(workdir, "results.jsonl"), "w") as f:
    f.write(json.dumps(complete_results[0], sort_keys=True) + "\n")
    f.write('{"trial": 0, "stage": 1, "num_lab')
  experiment.run(config, workdir)
  resumed_results = _rows(workdir, "results.jsonl")
  assert [r["stage"] for r in resumed_results] == [0, 1, 2]
  assert _rows(workdir, "picks.jsonl") == complete_picks
  for before, after in zip(complete_results, resumed_results):
    assert before["test_accuracy"] == after["test_accuracy"]

  # A finished run is left alone.
  experiment.run(config, workdir)
  assert _rows(workdir, "results.jsonl") == resumed_results


def test_a_workdir_of_another_config_refuses_to_resume(tiny_digits_config, tmp_path):
  config = tiny_digits_config
  config.al.stages = 1
  workdir = str(tmp_path / "run")
  experiment.run(config, workdir)
  config.al.budget = 10
  with pytest.raises(ConfigError, match=r"different config \(al.budget: 20 -> 10\)"):
    experiment.run(config, workdir)


def test_initial_pool_and_subset_are_distinct_and_seeded(tiny_digits_config):
  config = tiny_digits_config
  pool = experiment.initial_pool(config, trial=0, pool_size=100)
  assert len(np.unique(pool)) == 20
  assert not np.array_equal(pool, experiment.initial_pool(config, trial=1, pool_size=100))
  unlabeled = np.setdiff1d(np.arange(100), pool)
  subset = experiment.candidate_subset(config, 0, 0, unlabeled)
  assert len(subset) == 80 and not np.isin(subset, pool).any()  # all of U when U < subset
