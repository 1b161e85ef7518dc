"""Two processes on 127.0.0.1 run one experiment together, as two hosts would: killed
after stage 0 and restarted with the same commands, they end where one process ends, with
one shared workdir and with each host's own workdir."""

import json
import os
import signal
import sys

import pytest

from tavaal_jax import experiment
from tests.parallel_checks import assert_same_picks, tiny_config

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "launch"))
import local_cpu  # noqa: E402

# tests.parallel_checks.tiny_config(strategy) as command-line overrides.
TINY_FLAGS = [
    "--config=configs/digits.py", "--config.model.width=4",
    "--config.train.epochs=1", "--config.train.batch_size=8",
    "--config.train.eval_batch_size=64", "--config.al.stages=2", "--config.al.initial=20",
    "--config.al.budget=20", "--config.al.subset=100", "--config.strategy.batch_size=16",
    "--config.strategy.mc_passes=3", "--config.vae.width=4", "--config.vae.latent_dim=4",
    "--config.vae.epochs=1", "--config.vae.batch_size=16",
    "--config.discriminator.hidden=(8,)",
]
# Stage 1's training, after stage 0's checkpoint: both processes kill themselves there.
KILL_AFTER_STAGE_0 = "--kill_at=train@1"


@pytest.fixture(scope="module")
def env(tmp_path_factory):
  """The processes share a compilation cache, so a restart does not compile again."""
  cache = str(tmp_path_factory.mktemp("xla_cache"))
  return dict(os.environ, JAX_DISABLE_MOST_OPTIMIZATIONS="1", JAX_COMPILATION_CACHE_DIR=cache,
              JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS="0")


def _rows(workdir, name):
  with open(os.path.join(workdir, name)) as f:
    return [json.loads(line) for line in f]


def _killed_and_resumed(env, flags, process_args):
  """Runs the two processes until both kill themselves after stage 0, then again."""
  killed = local_cpu.launch(2, flags + [KILL_AFTER_STAGE_0], module="tests.kill_main",
                            process_args=process_args, env=env, timeout=600)
  assert killed == -signal.SIGKILL
  assert local_cpu.launch(2, flags, process_args=process_args, env=env, timeout=600) == 0


def _assert_matches_one_process(workdir, alone):
  # Process 0 alone wrote: one row per stage, not one per process.
  assert [r["stage"] for r in _rows(workdir, "results.jsonl")] == [0, 1]
  assert_same_picks(_rows(workdir, "picks.jsonl"), _rows(alone, "picks.jsonl"))
  for a, b in zip(_rows(workdir, "results.jsonl"), _rows(alone, "results.jsonl")):
    assert abs(a["test_accuracy"] - b["test_accuracy"]) <= 2 / 360 + 1e-9


def test_two_processes_with_one_shared_workdir_resume_to_one_process_run(env, tmp_path,
                                                                        monkeypatch):
  monkeypatch.chdir(ROOT)
  shared = str(tmp_path / "shared")
  _killed_and_resumed(env, TINY_FLAGS + ["--config.strategy.name=tavaal", f"--workdir={shared}"],
                      lambda i: ())
  alone = str(tmp_path / "alone")
  experiment.run(tiny_config("tavaal"), alone)
  _assert_matches_one_process(shared, alone)


def test_two_processes_with_their_own_workdirs_resume_from_process_zero(env, tmp_path,
                                                                       monkeypatch):
  monkeypatch.chdir(ROOT)
  workdirs = [str(tmp_path / f"host{i}") for i in range(2)]
  _killed_and_resumed(env, TINY_FLAGS + ["--config.strategy.name=random"],
                      lambda i: [f"--workdir={workdirs[i]}"])
  alone = str(tmp_path / "alone")
  experiment.run(tiny_config("random"), alone)
  _assert_matches_one_process(workdirs[0], alone)
  # Process 0 keeps the run; the other host's disk holds none of it.
  assert not os.path.exists(os.path.join(workdirs[1], "results.jsonl"))
  assert not os.path.exists(os.path.join(workdirs[1], "checkpoints"))


def test_processes_with_different_configs_stop_with_one_error_line(env, tmp_path, monkeypatch,
                                                                  capfd):
  monkeypatch.chdir(ROOT)
  workdir = str(tmp_path / "run")
  code = local_cpu.launch(2, TINY_FLAGS + ["--config.strategy.name=random", f"--workdir={workdir}"],
                          process_args=lambda i: [f"--config.seed={i}"], env=env, timeout=300)
  assert code == 2
  err = capfd.readouterr().err
  assert "error: the processes disagree on the config: process(es) 1" in err
  assert "seed: 0 -> 1" in err
  assert not os.path.exists(workdir)
