"""Every config in configs/ on the simulated devices of this process, batch sizes untouched.

  XLA_FLAGS=--xla_force_host_platform_device_count=8 python -m tests.config_device_checks

For each config: the config check passes as shipped, its data builds (TFDS datasets from
`tfds.testing.mock_data`, the `folder` source from a generated image folder, digits from
the embedded data; Cityscapes from TFDS's mock), and with only widths, epochs, the image
sizes and the pools shrunk (no
batch size is touched) it runs one learner train step, an evaluation, one scoring pass,
one VAE step and one D step (with D's scoring of both pools), and its own strategy's
selection. Configs that place the same things on the devices (same image shape, model,
batch sizes, strategy, VAE and D) share one run, to keep the check near a minute: e.g.
cifar10_large and cifar100 are cifar10 with other al.* sizes or 100 classes. Also checks
that scoring batches that the devices do not divide give the per-sample outputs of one
device, even for a per-batch random function (MC dropout).
`image_pool` reads that folder with labels files (write_pool_labels).
Prints one JSON line; tests/test_configs.py asserts on it.
"""

import glob
import importlib
import json
import logging
import os
import sys
import tempfile
import time

import jax

# Compile time dominates these tiny models; XLA's optimisations only cost time here.
jax.config.update("jax_disable_most_optimizations", True)

import numpy as np  # noqa: E402
import tensorflow_datasets as tfds  # noqa: E402
from PIL import Image  # noqa: E402

from tavaal_jax import adversary, config_checks, parallel  # noqa: E402
from tavaal_jax.data import ArraySource, load_dataset  # noqa: E402
from tavaal_jax.learner import Learner  # noqa: E402
from tavaal_jax.scoring import score_pool  # noqa: E402
from tavaal_jax.strategies import STRATEGIES, SelectionContext, uses_adversary  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CONFIG_NAMES = sorted(os.path.splitext(os.path.basename(p))[0]
                      for p in glob.glob(os.path.join(ROOT, "configs", "*.py"))
                      if not p.endswith("__init__.py"))
BATCH_FIELDS = ("train.batch_size", "train.eval_batch_size", "strategy.batch_size",
                "vae.batch_size")


def write_folder(root, image_size=(20, 24)):
  """A 2-class image folder with 4 train and 4 test images per class."""
  for split in ("train", "test"):
    for label in ("ant", "bee"):
      os.makedirs(os.path.join(root, split, label))
      for i in range(4):
        pixels = np.random.default_rng(i).integers(0, 255, image_size + (3,), np.uint8)
        Image.fromarray(pixels).save(os.path.join(root, split, label, f"{i}.png"))


def write_pool_labels(root) -> dict:
  """Labels files for `write_folder`'s images as an `image_pool`: its train images labeled,
  its test images the test labels. Returns the dataset fields to set."""
  fields = {}
  for split, field in (("train", "labels"), ("test", "test_labels")):
    path = os.path.join(root, f"{split}_labels.csv")
    with open(path, "w") as f:
      f.write("file,label\n")
      for label in ("ant", "bee"):
        for i in range(4):
          f.write(f"{split}/{label}/{i}.png,{label}\n")
    fields[field] = path
  return fields


def shrink(config):
  """Widths, epochs and the image size only: every batch size stays as shipped."""
  config.model.width = 4
  config.train.epochs = 1
  config.vae.width = 4
  config.vae.latent_dim = 4
  config.vae.epochs = 1
  config.discriminator.hidden = (8,)
  config.strategy.mc_passes = 2
  if config.dataset.image_size == 224:
    config.dataset.image_size = 32  # the code path is the same; 224 only costs time here
  if config.dataset.get("image_hw"):   # segmentation (Cityscapes 512 x 1024, 412 crops)
    config.dataset.image_hw = (64, 128)
    config.dataset.augment.crop_hw = (48, 48)
    config.vae.image_size = 32
  return config


def _signature(config, dataset) -> str:
  """What a run places on the devices; configs with the same signature differ only in
  al.* sizes, optimizer constants, the data or the number of classes (the head's width)."""
  keep = {"image_shape": dataset.image_shape,
          "model": config.model.to_dict(), "train": config.train.to_dict(),
          "augment": config.dataset.augment.to_dict(), "strategy": config.strategy.to_dict(),
          "vae": config.vae.to_dict(), "discriminator": config.discriminator.hidden,
          "optimizer": config.optimizer.name, "ranker": config.ranker.to_dict(),
          "compat": config.compat.to_dict()}
  return json.dumps(keep, sort_keys=True, default=str)


def run_steps(config, dataset, mesh) -> dict:
  """One step of everything a run of `config` places on the devices."""
  # A few images: pools smaller than every batch, so one epoch is one step (and one VAE
  # epoch over L + S one iteration: Cityscapes' VAE batch is 8).
  n = min(len(dataset.train), 16, config.vae.batch_size)
  labeled, candidates = np.arange(n // 2), np.arange(n // 2, n)
  test_images, test_labels = dataset.test.get(np.arange(min(len(dataset.test), 16)))
  seconds = {}
  clock = time.time()

  def lap(name):
    nonlocal clock
    seconds[name], clock = round(time.time() - clock, 1), time.time()

  learner = Learner(dataset, config, mesh)
  fit = learner.fit(labeled, jax.random.key(0), np.random.default_rng(0))
  lap("train")
  evaluation = learner.evaluate(fit.state, ArraySource(test_images, test_labels))
  lap("evaluate")
  scores = score_pool(learner.predict_batch, fit.state, dataset.train, candidates,
                      batch_size=config.strategy.batch_size, mesh=mesh,
                      field="strategy.batch_size")
  lap("score")
  context = SelectionContext(config=config, dataset=dataset, labeled_idx=labeled,
                             candidate_idx=candidates, budget=2,
                             rng=np.random.default_rng(2), key=jax.random.key(2),
                             learner=learner, learner_state=fit.state)
  if uses_adversary(config):
    # The strategy trains its adversary (vae.epochs = 1 over a pool smaller than
    # vae.batch_size: one VAE and one D step) and scores S with D.
    picks = STRATEGIES.get(config.strategy.name)(context).indices
    iterations, vae_loss = context.diagnostics["iterations"], context.diagnostics["vae_loss"]
  else:
    # Its adversary's batch sizes are checked all the same: one VAE and one D step (VAAL).
    result = adversary.train_adversary(config, dataset, learner.preprocessing, labeled,
                                       candidates, None, None, jax.random.key(1),
                                       np.random.default_rng(1), mesh)
    assert int(result.state.vae.step) == int(result.state.disc.step) == 1
    assert len(result.unlabeled_scores) == len(candidates)
    iterations, vae_loss = result.history["iterations"], result.history["vae_loss"]
    picks = STRATEGIES.get(config.strategy.name)(context).indices
  lap("adversary_and_selection")
  return {"seconds": seconds, "train_steps": int(fit.state.step), "eval_count": evaluation["count"],
          "test_size": len(test_labels), "scored": int(len(scores["embedding"])),
          "candidates": int(len(candidates)), "adversary_iterations": int(iterations),
          "picks": int(len(picks)),
          "finite": bool(np.isfinite(fit.epoch_loss[-1]) and np.isfinite(evaluation["loss"])
                         and np.isfinite(vae_loss[-1])
                         and np.all(np.isfinite(scores["embedding"])))}


def _noisy_batch(state, images, extras, key):
  """A per-batch random function like MC dropout: a Bernoulli mask over the pixels."""
  del extras
  x = images.reshape(images.shape[0], -1).astype(jax.numpy.float32)
  keep = jax.random.bernoulli(key, 0.5, x.shape)
  return {"score": (x * keep).sum(1) + state}


def scoring_matches_one_device() -> bool:
  """Scoring batches of 10 on all devices and on one give the same per-sample outputs."""
  images = np.random.default_rng(0).integers(0, 256, (37, 4, 4, 1)).astype(np.uint8)
  source = ArraySource(images, np.zeros(37))
  outputs = [score_pool(_noisy_batch, np.float32(0.0), source, np.arange(37)[::-1],
                        batch_size=10, mesh=parallel.make_mesh(devices),
                        key=jax.random.key(5), scan_steps=2)["score"]
             for devices in (jax.devices(), jax.devices()[:1])]
  return bool(np.array_equal(*outputs))


class _Messages(logging.Handler):
  def __init__(self):
    super().__init__(logging.INFO)
    self.messages = []

  def emit(self, record):
    self.messages.append(record.getMessage())


def main(names=CONFIG_NAMES) -> dict:
  handler = _Messages()
  logging.getLogger().addHandler(handler)
  logging.getLogger().setLevel(logging.INFO)
  mesh = parallel.make_mesh()
  out = {"devices": jax.device_count(), "configs": {}, "runs": {}}
  runs = {}
  with tempfile.TemporaryDirectory() as folder:
    write_folder(folder)
    for name in names:
      start = time.time()
      config = importlib.import_module(f"configs.{name}").get_config()
      shipped = {field: config_checks.lookup(config, field) for field in BATCH_FIELDS}
      config_checks.check_config(config)  # as shipped, on these devices
      shrink(config)
      if config.dataset.name in ("folder", "image_pool"):
        config.dataset.path = folder
      if config.dataset.name == "image_pool":
        config.dataset.update(write_pool_labels(folder))
      assert {f: config_checks.lookup(config, f) for f in BATCH_FIELDS} == shipped
      # Mock sources are read inside the mock.
      with tfds.testing.mock_data(num_examples=16, policy=tfds.testing.MockPolicy.USE_CODE):
        dataset = load_dataset(config.dataset)
        signature = _signature(config, dataset)
        if signature not in runs:
          runs[signature] = name
          out["runs"][name] = run_steps(config, dataset, mesh)
      out["configs"][name] = {"run": runs[signature], "seconds": round(time.time() - start, 1),
                              "uses_adversary": uses_adversary(config), **shipped}
  out["scoring_matches_one_device"] = scoring_matches_one_device()
  out["rounding_logs"] = [m for m in handler.messages if "is not a multiple of" in m]
  return out


if __name__ == "__main__":
  # Optional config names (all by default), to time one config by hand.
  print(json.dumps(main(sys.argv[1:] or CONFIG_NAMES)))
