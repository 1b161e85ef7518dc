"""Checks run in a subprocess whose XLA_FLAGS simulate several CPU devices.

  XLA_FLAGS=--xla_force_host_platform_device_count=4 python -m tests.parallel_checks step
  XLA_FLAGS=... python -m tests.parallel_checks run STRATEGY WORKDIR
  XLA_FLAGS=... python -m tests.parallel_checks bad-batch WORKDIR

Prints one JSON line; tests/test_parallel.py asserts on it.
"""

import json
import sys

import jax
import numpy as np

from configs import digits
from tavaal_jax import experiment, parallel
from tavaal_jax.data import load_dataset
from tavaal_jax.learner import Learner
from tests.tiny_configs import tiny_selection


def tiny_config(strategy: str = "tavaal"):
  """2 stages of digits with a width-4 ResNet; every batch divisible by 4 devices."""
  config = tiny_selection(digits.get_config(), strategy)
  config.model.width = 4
  config.train.epochs = 1
  config.train.batch_size = 8
  config.train.eval_batch_size = 64
  config.al.stages = 2
  config.al.initial = 20
  config.al.budget = 20
  config.al.subset = 100
  return config


def assert_same_picks(rows, reference) -> None:
  """Picks rows (picks.jsonl) of a multi-device or multi-process run against one device's:
  the same indices, names and score names exactly; the scores (distances, D's
  probabilities) up to the rounding of reductions run in another order."""
  rows, reference = [dict(r) for r in rows], [dict(r) for r in reference]
  scores = [(a.pop("scores", None), b.pop("scores", None)) for a, b in zip(rows, reference)]
  assert rows == reference
  for a, b in scores:
    if a is None or a[0] is None:
      assert a == b
    else:
      assert np.allclose(a, b, rtol=1e-4, atol=1e-6), (a, b)


def compare_train_step() -> dict:
  """One train step (ranker attached) on all devices vs on one, from the same state."""
  config = tiny_config("tavaal")
  dataset = load_dataset(config.dataset)
  images, labels = dataset.train.get(np.arange(config.train.batch_size))
  results = {}
  for name, devices in (("all", jax.devices()), ("one", jax.devices()[:1])):
    mesh = parallel.make_mesh(devices)
    learner = Learner(dataset, config, mesh)
    state = learner.init(jax.random.key(0), num_labeled=64)
    batch = parallel.shard_batch(mesh, learner.batch(images, labels))
    state, metrics = learner._train_step(state, batch, jax.random.key(1), np.float32(1.0),
                                         np.float32(0.05))
    results[name] = jax.device_get((state.params, state.batch_stats, metrics))
  differences = jax.tree_util.tree_map(lambda a, b: float(np.max(np.abs(a - b))),
                                       results["all"], results["one"])
  return {"devices": jax.device_count(),
          "max_param_diff": max(jax.tree_util.tree_leaves(differences[0])),
          "max_batch_stats_diff": max(jax.tree_util.tree_leaves(differences[1])),
          "loss_all": float(results["all"][2]["loss"]),
          "loss_one": float(results["one"][2]["loss"])}


def main(argv):
  if argv[1] == "step":
    print(json.dumps(compare_train_step()))
  elif argv[1] == "bad-batch":
    config = tiny_config("random")
    config.train.batch_size = 6
    try:
      experiment.run(config, argv[2])
    except Exception as error:  # pylint: disable=broad-except
      print(json.dumps({"error": type(error).__name__, "message": str(error)}))
  elif argv[1] == "run":
    experiment.run(tiny_config(argv[2]), argv[3])
    print(json.dumps({"devices": jax.device_count()}))
  else:
    raise SystemExit(f"unknown check {argv[1]!r}")


if __name__ == "__main__":
  main(sys.argv)
