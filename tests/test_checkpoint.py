"""Orbax checkpoints: round trip, corruption detected, fallback, agreement with the rows."""

import glob
import json
import logging
import os

import numpy as np
import pytest

from tavaal_jax import checkpoint


def _state(value):
  return {"params": {"dense": {"kernel": np.full((3, 4), value, np.float32)}},
          "batch_stats": {"mean": np.arange(4, dtype=np.float32)},
          "rng_key": np.array([0, value], np.uint32)}


def _meta(step):
  rows = [{"trial": 0, "stage": s, "test_accuracy": 0.5 + s / 10, "nan": float("nan")}
          for s in range(step + 1)]
  picks = [{"trial": 0, "stage": s, "indices": [s, s + 10]} for s in range(step + 2)]
  return {"trial": 0, "stage": step, "labeled_idx": [], "results": rows, "picks": picks}


def _saved(workdir, steps):
  checkpoints = checkpoint.Checkpoints(str(workdir))
  for step in steps:
    checkpoints.save(step, _state(step), _meta(step))
  checkpoints.close()
  return checkpoint.Checkpoints(str(workdir))


def test_round_trip_keeps_the_newest_two(tmp_path):
  checkpoints = _saved(tmp_path, [0, 1, 2])
  assert checkpoints.steps() == [1, 2]
  state, meta = checkpoints.restore(2)
  np.testing.assert_array_equal(state["params"]["dense"]["kernel"], np.full((3, 4), 2))
  np.testing.assert_array_equal(state["rng_key"], [0, 2])
  assert meta["step"] == 2 and meta["format"] == checkpoint.FORMAT
  assert meta["results"][2]["test_accuracy"] == 0.7
  assert len(meta["state_sha256"]) == 64
  assert checkpoints.latest_good(meta["results"], meta["picks"])[0] == 2
  checkpoints.close()


@pytest.mark.parametrize("damage", ["truncate_arrays", "truncate_meta", "wrong_digest",
                                    "remove_state"])
def test_a_damaged_newest_checkpoint_falls_back_to_the_one_before(tmp_path, caplog, damage):
  checkpoints = _saved(tmp_path, [0, 1])
  step_dir = os.path.join(checkpoints.directory, "1")
  if damage == "truncate_arrays":
    for path in glob.glob(os.path.join(step_dir, "state", "**", "*"), recursive=True):
      if os.path.isfile(path):
        with open(path, "r+b") as f:
          f.truncate(os.path.getsize(path) // 2)
  elif damage == "truncate_meta":
    with open(os.path.join(step_dir, "meta", "metadata"), "r+b") as f:
      f.truncate(20)
  elif damage == "wrong_digest":  # valid JSON whose digest does not match the arrays
    path = os.path.join(step_dir, "meta", "metadata")
    with open(path) as f:
      meta = json.load(f)
    meta["state_sha256"] = "0" * 64
    with open(path, "w") as f:
      json.dump(meta, f)
  else:
    import shutil
    shutil.rmtree(os.path.join(step_dir, "state"))

  with pytest.raises(checkpoint.CorruptCheckpoint):
    checkpoints.restore(1)
  with caplog.at_level(logging.WARNING):
    step, meta = checkpoints.latest_good(_meta(1)["results"], _meta(1)["picks"])
  assert step == 0 and meta["stage"] == 0
  assert any("checkpoint step 1" in r.getMessage() and "corrupt" in r.getMessage()
             for r in caplog.records)
  # The damaged step is moved aside (never deleted) so that it can be written again.
  checkpoints.discard_after(step)
  assert checkpoints.steps() == [0]
  assert len(os.listdir(tmp_path / checkpoint.DISCARDED_DIR)) == 1
  checkpoints.save(1, _state(1), _meta(1))
  checkpoints.wait_until_finished()
  assert checkpoints.restore(1)[1]["step"] == 1
  checkpoints.close()


def test_a_checkpoint_that_disagrees_with_the_rows_is_passed_over(tmp_path, caplog):
  checkpoints = _saved(tmp_path, [0, 1])
  results, picks = _meta(1)["results"], _meta(1)["picks"]
  assert checkpoint.disagreements(_meta(1), results, picks) == []
  # Rows only one side holds are no disagreement (NaN equals NaN in canonical JSON).
  assert checkpoint.disagreements(_meta(1), results[:1], picks[:1]) == []
  changed = [dict(r) for r in results]
  changed[1]["test_accuracy"] = 0.0
  assert checkpoint.disagreements(_meta(1), changed, picks) == ["results.jsonl trial 0 stage 1"]
  with caplog.at_level(logging.WARNING):
    assert checkpoints.latest_good(changed, picks)[0] == 0
  assert any("step 1" in r.getMessage() and "disagrees" in r.getMessage()
             for r in caplog.records)
  checkpoints.close()


def test_no_checkpoint_means_none(tmp_path):
  checkpoints = checkpoint.Checkpoints(str(tmp_path))
  assert checkpoints.latest_good([], []) == (None, None)
  checkpoints.close()


def test_digest_sees_values_dtypes_and_paths():
  base = checkpoint.state_digest(_state(1))
  assert base == checkpoint.state_digest(_state(1))
  assert base != checkpoint.state_digest(_state(2))
  other = _state(1)
  other["params"]["dense"]["kernel"] = other["params"]["dense"]["kernel"].astype(np.float64)
  assert base != checkpoint.state_digest(other)
  renamed = _state(1)
  renamed["params"]["other"] = renamed["params"].pop("dense")
  assert base != checkpoint.state_digest(renamed)
