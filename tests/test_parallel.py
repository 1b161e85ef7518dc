"""Data parallelism on simulated CPU devices and processes (no accelerator needed).

Each check runs in a subprocess, because the number of simulated devices is fixed when
JAX starts (XLA_FLAGS=--xla_force_host_platform_device_count=N).
"""

import json
import os
import subprocess
import sys

import pytest

from tavaal_jax import experiment
from tests.parallel_checks import assert_same_picks, tiny_config

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _check(*args, devices=4):
  env = dict(os.environ, XLA_FLAGS=f"--xla_force_host_platform_device_count={devices}")
  result = subprocess.run([sys.executable, "-m", "tests.parallel_checks", *args], cwd=ROOT,
                          env=env, capture_output=True, text=True, timeout=600)
  assert result.returncode == 0, result.stderr[-3000:]
  return json.loads(result.stdout.strip().splitlines()[-1])


def _rows(workdir, name):
  with open(os.path.join(workdir, name)) as f:
    return [json.loads(line) for line in f]


def test_train_step_on_four_devices_equals_one_device():
  out = _check("step")
  assert out["devices"] == 4
  # Same global batch: the BatchNorm statistics are over all 8 images on both meshes.
  assert out["max_param_diff"] < 1e-5
  assert out["max_batch_stats_diff"] < 1e-5
  assert abs(out["loss_all"] - out["loss_one"]) < 1e-5


@pytest.mark.parametrize("strategy", ["random", "coreset", "tavaal"])
def test_four_device_run_picks_what_one_device_picks(strategy, tmp_path):
  four = str(tmp_path / "four")
  assert _check("run", strategy, four)["devices"] == 4
  one = str(tmp_path / "one")
  experiment.run(tiny_config(strategy), one)   # this process sees one device
  assert_same_picks(_rows(four, "picks.jsonl"), _rows(one, "picks.jsonl"))
  for a, b in zip(_rows(four, "results.jsonl"), _rows(one, "results.jsonl")):
    # Reductions run in another order over 4 devices. The width-4 model trained for one
    # epoch sits near chance, where that rounding can flip a few borderline test images
    # (7 of 360 seen with XLA:CPU's Eigen convolutions), so the loss is the close check.
    # With YNNPACK's fused train step on the AMD machine, the TA-VAAL case's second-stage
    # loss differed by 0.6% (2.946 against 2.928; picks identical), with and without the
    # malloc settings of tavaal_jax/host_memory.py.
    assert a["test_loss"] == pytest.approx(b["test_loss"], rel=1e-2)
    assert abs(a["test_accuracy"] - b["test_accuracy"]) <= 0.03


def test_batch_size_not_divisible_by_the_devices_is_a_clear_error(tmp_path):
  out = _check("bad-batch", str(tmp_path / "run"))
  assert out["error"] == "ConfigError"
  assert out["message"].startswith("train.batch_size=6 is not divisible by the 4 devices")
  assert not (tmp_path / "run").exists()
