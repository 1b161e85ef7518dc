"""Resume through the real driver: runs SIGKILLed at several points and restarted end with
the outputs of an uninterrupted run; a refused resume; --force; TensorBoard events.

Each `python -m tavaal_jax.main` costs a few seconds of start-up; the processes share a
persistent XLA compilation cache so that only the first one compiles.
"""

import glob
import json
import logging
import os
import shutil
import signal
import subprocess
import sys

import numpy as np
import pytest

from configs import digits
from tavaal_jax import experiment, metrics_writer
from tavaal_jax.errors import ConfigError

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TINY = ("--config=configs/digits.py", "--config.model.width=4", "--config.train.epochs=2",
        "--config.al.stages=3", "--config.al.initial=20", "--config.al.budget=20",
        "--config.al.subset=100", "--config.train.batch_size=8",
        "--config.strategy.name=random")


@pytest.fixture(scope="module")
def compilation_cache(tmp_path_factory):
  return str(tmp_path_factory.mktemp("xla_cache"))


def _main(cache, workdir, *flags, kill_at=None):
  """The driver in a subprocess; with kill_at='<point>@<step>' it runs with the hook of
  tests/kill_main.py that SIGKILLs it there."""
  env = dict(os.environ, JAX_DISABLE_MOST_OPTIMIZATIONS="1", JAX_COMPILATION_CACHE_DIR=cache,
             JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS="0")
  command = (["tavaal_jax.main"] if kill_at is None
             else ["tests.kill_main", f"--kill_at={kill_at}"])
  return subprocess.run([sys.executable, "-m", *command, *TINY, f"--workdir={workdir}", *flags],
                        cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)


def _tiny_config():
  """The config that the TINY flags make, built in-process."""
  config = digits.get_config()
  for flag in TINY[1:]:
    field, value = flag[len("--config."):].split("=")
    section, name = field.split(".")
    config[section][name] = type(config[section][name])(value)
  return config


def _rows(workdir, name):
  with open(os.path.join(workdir, name)) as f:
    return [json.loads(line) for line in f]


def _stable(rows):
  """Rows without their timings, the one thing two identical runs may differ in."""
  return [{k: v for k, v in row.items() if not k.endswith("_seconds")} for row in rows]


@pytest.fixture(scope="module")
def reference(compilation_cache, tmp_path_factory):
  """An uninterrupted run: its workdir and rows."""
  workdir = str(tmp_path_factory.mktemp("reference") / "run")
  done = _main(compilation_cache, workdir)
  assert done.returncode == 0, done.stderr[-3000:]
  return {"workdir": workdir, "results": _rows(workdir, "results.jsonl"),
          "picks": _rows(workdir, "picks.jsonl")}


def test_killed_runs_resume_to_the_outputs_of_an_uninterrupted_run(
    compilation_cache, reference, tmp_path, caplog):
  workdir = str(tmp_path / "run")
  checkpoints = os.path.join(workdir, "checkpoints")
  # Each run is SIGKILLed at the named point of the stage with that step, then restarted.
  for kill_at in ("train@0", "checkpoint@0", "select@1", "picks@1"):
    killed = _main(compilation_cache, workdir, kill_at=kill_at)
    assert killed.returncode == -signal.SIGKILL, (kill_at, killed.stderr[-3000:])
    results = _rows(workdir, "results.jsonl") if os.path.exists(
        os.path.join(workdir, "results.jsonl")) else []
    if kill_at == "checkpoint@0":  # the row is written, its checkpoint write was cut
      assert [r["stage"] for r in results] == [0]
    if kill_at == "picks@1":  # the picks row of stage 2 without the results row of stage 1
      assert [p["stage"] for p in _rows(workdir, "picks.jsonl")] == [0, 1, 2]
      assert [r["stage"] for r in results] == [0]
  final = _main(compilation_cache, workdir)
  assert final.returncode == 0, final.stderr[-3000:]
  assert _rows(workdir, "picks.jsonl") == reference["picks"]
  assert _stable(_rows(workdir, "results.jsonl")) == _stable(reference["results"])
  assert sorted(os.listdir(checkpoints)) == ["1", "2"]

  # Rerunning the finished run does nothing and says so (in-process: no start-up to pay).
  with caplog.at_level(logging.INFO):
    experiment.run(_tiny_config(), workdir)
  assert any("nothing to do" in r.getMessage() for r in caplog.records)
  assert _stable(_rows(workdir, "results.jsonl")) == _stable(reference["results"])


def test_another_config_refuses_and_force_moves_the_old_run_aside(
    compilation_cache, reference, tmp_path):
  workdir = str(tmp_path / "run")
  shutil.copytree(reference["workdir"], workdir)
  config = _tiny_config()
  config.al.independent = True
  with pytest.raises(ConfigError, match=r"al.independent: False -> True.*--force"):
    experiment.run(config, workdir)
  assert _rows(workdir, "results.jsonl") == reference["results"]

  forced = _main(compilation_cache, workdir, "--config.al.independent=True", "--force")
  assert forced.returncode == 0, forced.stderr[-3000:]
  (old,) = glob.glob(workdir + ".old-*")
  assert _rows(old, "results.jsonl") == reference["results"]  # moved, not deleted
  # The independent learner has its own random streams: the main run is unchanged.
  results = _rows(workdir, "results.jsonl")
  assert _rows(workdir, "picks.jsonl") == reference["picks"]
  assert [r["test_accuracy"] for r in results] == [
      r["test_accuracy"] for r in reference["results"]]
  for row in results:
    assert 0.0 <= row["independent_accuracy"] <= 1.0 and row["independent_seconds"] > 0
  with open(os.path.join(workdir, "config.json")) as f:
    assert json.load(f)["al"]["independent"] is True


def test_event_files_hold_the_training_curves_and_stage_figures(reference):
  scalars = metrics_writer.read_scalars(os.path.join(reference["workdir"], "tensorboard"))
  results = reference["results"]
  # 3 stages x 2 epochs, at steps stage * epochs + epoch + 1.
  assert [step for step, _ in scalars["train/loss"]] == [1, 2, 3, 4, 5, 6]
  losses = [v for _, v in scalars["train/loss"]]
  np.testing.assert_allclose(
      losses, np.concatenate([r["train_loss_per_epoch"] for r in results]), rtol=1e-6)
  assert len(scalars["train/accuracy"]) == 6
  np.testing.assert_allclose([v for _, v in scalars["stage/test_accuracy"]],
                             [r["test_accuracy"] for r in results], rtol=1e-6)
  assert [step for step, _ in scalars["stage/num_labeled"]] == [0, 1, 2]
  assert all(v > 0 for _, v in scalars["stage/train_steps_per_second"])


def test_writers_only_on_process_zero(tmp_path, caplog):
  logdir = str(tmp_path / "events")
  silent = metrics_writer.create_default_writer(logdir, is_writer=False)
  silent.write_scalars(1, {"a": 1.0})
  silent.close()
  assert not os.path.exists(logdir)

  writer = metrics_writer.create_default_writer(logdir, is_writer=True)
  with caplog.at_level(logging.INFO):
    writer.write_scalars(3, {"train/loss": 0.25, "skipped": None})
    writer.write_scalars(4, {"train/loss": np.float32(0.5)})
  writer.close()
  assert any("[3] train/loss=0.25" in r.getMessage() for r in caplog.records)
  assert metrics_writer.read_scalars(logdir) == {"train/loss": [(3, 0.25), (4, 0.5)]}
