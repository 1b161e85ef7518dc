"""The active-learning loop end to end on the real digits data with a tiny model."""

import glob
import json
import logging
import os

import numpy as np
import pytest

from tavaal_jax import experiment
from tavaal_jax.data import load_dataset
from tavaal_jax.errors import ConfigError


@pytest.fixture
def config(tiny_digits_config):
  """The tiny digits config with random selection (the loop, not a strategy, is tested)."""
  tiny_digits_config.strategy.name = "random"
  return tiny_digits_config


def _rows(workdir, name):
  with open(os.path.join(workdir, name)) as f:
    return [json.loads(line) for line in f]


def _labeled_sets(picks):
  return [np.asarray(p["indices"]) for p in sorted(picks, key=lambda p: p["stage"])]


def test_digits_run_end_to_end(config, tmp_path):
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


def test_same_seed_same_picks_other_seed_other_picks(config, tmp_path):
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


def test_rerun_resumes_from_the_checkpoints(config, tmp_path, caplog):
  workdir = str(tmp_path / "run")
  experiment.run(config, workdir)
  complete_results = _rows(workdir, "results.jsonl")
  complete_picks = _rows(workdir, "picks.jsonl")
  assert sorted(os.listdir(os.path.join(workdir, "checkpoints"))) == ["1", "2"]

  # A torn last line: the rows the checkpoint of stage 2 holds are restored, nothing retrains.
  with open(os.path.join(workdir, "results.jsonl"), "w") as f:
    f.write(json.dumps(complete_results[0], sort_keys=True) + "\n")
    f.write('{"trial": 0, "stage": 1, "num_lab')
  experiment.run(config, workdir)
  assert _rows(workdir, "results.jsonl") == complete_results
  assert _rows(workdir, "picks.jsonl") == complete_picks

  # A truncated newest checkpoint: reported, the one before is used, stage 2 is redone.
  for path in glob.glob(os.path.join(workdir, "checkpoints", "2", "state", "**", "*"),
                        recursive=True):
    if os.path.isfile(path):
      with open(path, "r+b") as f:
        f.truncate(os.path.getsize(path) // 2)
  with caplog.at_level(logging.WARNING):
    experiment.run(config, workdir)
  assert any("checkpoint step 2" in r.getMessage() and "corrupt" in r.getMessage()
             for r in caplog.records)
  assert any("dropping the results rows of trial/stage [0/2]" in r.getMessage()
             for r in caplog.records)
  (discarded,) = os.listdir(os.path.join(workdir, "checkpoints.discarded"))
  assert discarded.startswith("2.")
  assert sorted(os.listdir(os.path.join(workdir, "checkpoints"))) == ["1", "2"]
  resumed_results = _rows(workdir, "results.jsonl")
  assert [r["stage"] for r in resumed_results] == [0, 1, 2]
  assert resumed_results[:2] == complete_results[:2]
  assert resumed_results[2]["train_seconds"] != complete_results[2]["train_seconds"]
  assert resumed_results[2]["test_accuracy"] == complete_results[2]["test_accuracy"]
  assert _rows(workdir, "picks.jsonl") == complete_picks

  # A finished run is left alone, except that a torn tail is cut off.
  with open(os.path.join(workdir, "results.jsonl"), "a") as f:
    f.write('{"trial": 0, "st')
  experiment.run(config, workdir)
  assert _rows(workdir, "results.jsonl") == resumed_results


def test_a_workdir_of_another_config_refuses_to_resume(config, tmp_path):
  config.al.stages = 1
  workdir = str(tmp_path / "run")
  experiment.run(config, workdir)
  config.al.budget = 10
  with pytest.raises(ConfigError, match=r"different config \(al.budget: 20 -> 10\)"):
    experiment.run(config, workdir)


def test_initial_pool_and_subset_are_distinct_and_seeded(config):
  pool = experiment.initial_pool(config, trial=0, pool_size=100)
  assert len(np.unique(pool)) == 20
  assert not np.array_equal(pool, experiment.initial_pool(config, trial=1, pool_size=100))
  unlabeled = np.setdiff1d(np.arange(100), pool)
  subset = experiment.candidate_subset(config, 0, 0, unlabeled)
  assert len(subset) == 80 and not np.isin(subset, pool).any()  # all of U when U < subset


def _write_npz(path, rng):
  np.savez(path, x_train=rng.integers(0, 256, (60, 16, 16), dtype=np.uint8),
           y_train=np.arange(60) % 10, x_test=rng.integers(0, 256, (20, 16, 16), dtype=np.uint8),
           y_test=np.arange(20) % 10)


def _write_folder(root, rng):
  from PIL import Image
  for split, count in (("train", 6), ("test", 2)):
    for label in range(10):
      os.makedirs(root / split / f"class{label}")
      for i in range(count):
        Image.fromarray(rng.integers(0, 256, (16, 16), dtype=np.uint8), "L").save(
            root / split / f"class{label}" / f"{i}.png")


def test_picks_of_an_npz_dataset_carry_names(config, tmp_path):
  path = tmp_path / "data.npz"
  _write_npz(path, np.random.default_rng(0))
  config.dataset.name = "npz"
  config.dataset.path = str(path)
  config.dataset.image_size = 0
  config.al.stages = 2
  config.al.subset = 40
  workdir = str(tmp_path / "run")
  experiment.run(config, workdir)

  picks = _rows(workdir, "picks.jsonl")
  assert [p["stage"] for p in picks] == [0, 1]
  for row in picks:
    assert row["names"] == [f"x_train[{i}]" for i in row["indices"]]


def test_folder_names_are_paths_relative_to_the_dataset_path(config, tmp_path):
  root = tmp_path / "images"
  _write_folder(root, np.random.default_rng(0))
  config.dataset.name = "folder"
  config.dataset.path = str(root)
  dataset = load_dataset(config.dataset)
  listing = sorted(f"train/{c}/{f}" for c in os.listdir(root / "train")
                   for f in os.listdir(root / "train" / c))
  indices = np.array([59, 0, 7])
  assert experiment._names(config, dataset, indices) == [listing[i] for i in indices]
  config.dataset.name = "digits"  # sources without file names get no names column
  assert experiment._names(config, dataset, indices) is None
