"""Every config in configs/ loads, builds its data and model, and runs one train step.

TFDS datasets come from `tfds.testing.mock_data` (no download); the Caltech-256 config's
`folder` source gets a tiny generated image folder (with labels files for `image_pool`).
"""

import importlib
import json
import os
import subprocess
import sys

import jax
import numpy as np
import pytest
import tensorflow_datasets as tfds

from tavaal_jax import config_checks, parallel
from tavaal_jax.data import load_dataset
from tavaal_jax.learner import Learner
from tests.conftest import tiny
from tests.config_device_checks import CONFIG_NAMES, write_folder, write_pool_labels

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_every_paper_setting_has_a_config():
  assert set(CONFIG_NAMES) >= {
      "cifar10", "cifar100", "svhn", "fashion_mnist", "cifar10_imb10", "cifar10_imb100",
      "caltech101", "caltech256", "cifar10_large", "cifar100_large", "digits"}


@pytest.mark.parametrize("name", CONFIG_NAMES)
def test_config_builds_and_trains_one_step(name, tmp_path):
  config = importlib.import_module(f"configs.{name}").get_config()
  config_checks.check_config(config)
  tiny(config)
  config.train.batch_size = 4
  if config.dataset.name in ("folder", "image_pool"):
    write_folder(str(tmp_path))
    config.dataset.path = str(tmp_path)
  if config.dataset.name == "image_pool":
    config.dataset.update(write_pool_labels(str(tmp_path)))
  if config.dataset.image_size == 224:
    config.dataset.image_size = 32  # the code path is the same; 224 only costs time here
  if config.dataset.get("image_hw"):   # Cityscapes: 512 x 1024 with 412 crops
    config.dataset.image_hw = (64, 128)
    config.dataset.augment.crop_hw = (48, 48)
  with tfds.testing.mock_data(num_examples=16, policy=tfds.testing.MockPolicy.USE_CODE):
    dataset = load_dataset(config.dataset)
    images, labels = dataset.train.get(np.arange(4))
  assert images.dtype == np.uint8 and images.ndim == 4
  mesh = parallel.make_mesh()
  learner = Learner(dataset, config, mesh)
  state = learner.init(jax.random.key(0), num_labeled=4)
  before = jax.tree_util.tree_leaves(state.params)[0].copy()
  state, metrics = learner._train_step(
      state, parallel.shard_batch(mesh, learner.batch(images, labels)), jax.random.key(1))
  assert np.isfinite(float(metrics["loss"]))
  assert int(state.step) == 1
  assert not np.allclose(before, jax.tree_util.tree_leaves(state.params)[0])


def test_every_config_runs_unchanged_on_eight_devices():
  """tests/config_device_checks.py on 8 simulated devices: every config's batch sizes as
  shipped; scoring and evaluation batches that 8 does not divide (500, 250, 100) run."""
  env = dict(os.environ, XLA_FLAGS="--xla_force_host_platform_device_count=8")
  result = subprocess.run([sys.executable, "-m", "tests.config_device_checks"], cwd=ROOT,
                          env=env, capture_output=True, text=True, timeout=900)
  assert result.returncode == 0, result.stderr[-3000:]
  out = json.loads(result.stdout.strip().splitlines()[-1])
  assert out["devices"] == 8
  assert set(out["configs"]) == set(CONFIG_NAMES)
  for name, run in out["runs"].items():
    assert run["finite"], name
    assert run["train_steps"] == 1 and run["adversary_iterations"] == 1, name
    assert run["eval_count"] == run["test_size"], name
    assert run["scored"] == run["candidates"], name
    assert run["picks"] == 2, name
  assert out["configs"]["cifar10"]["strategy.batch_size"] == 500
  # One log line per rounded field, not one per batch.
  logs = out["rounding_logs"]
  assert len(logs) == len(set(logs))
  assert any(m.startswith("strategy.batch_size=500 ") for m in logs)
  assert any(m.startswith("train.eval_batch_size=500 ") for m in logs)
  # Batches padded, not regrouped: random per-batch outputs equal one device's.
  assert out["scoring_matches_one_device"]
