"""One whole active-learning stage of configs/cifar10.py on synthetic data (section
`cifar10_stage` of `benchmarks.run`).

The machine it runs on needs no dataset: the pool is an in-memory `ArraySource` of random
uint8 images [train, 32, 32, 3] and random labels (CIFAR-10's shapes and normalisation),
registered as the dataset `synthetic_cifar10` in this process only. The stage is the
package's own: `tavaal_jax.experiment.run` trains ResNet-18 (+ ranker) on the initial labeled
set, evaluates on the test split, selects the next budget (TA-VAAL by default: VAE + D
training, then scoring of the candidate subset) and writes its checkpoint. The run then
stops before stage 1 (al.stages is 2 so that stage 0 selects).

Sizes: p['cifar10_stage'] (a dict, e.g. `--set cifar10_stage.epochs=1`) overrides the
config's fields below; {} is the paper's protocol. p['dtype'] sets model.dtype (the VAE
follows it).
"""

import tempfile
import time
from typing import Any, Dict

import numpy as np

from benchmarks.common import peak_rss_mb

DATASET = "synthetic_cifar10"
# CIFAR-10's split sizes; the synthetic pool and test split have these many images.
SPLITS = dict(train=50000, test=10000)
_registered = False


class _FirstStageDone(Exception):
  """Raised by the writer once stage 0's metrics are written: the run stops there."""


class _StageWriter:
  """A MetricWriter keeping the stage's scalars (no TensorBoard files); stops the run after
  stage 0's per-stage scalars, which the loop writes after the stage's checkpoint."""

  def __init__(self):
    self.stage: Dict[str, float] = {}
    self.epochs = 0

  def write_scalars(self, step, scalars):
    if any(k.startswith("train/") for k in scalars):
      self.epochs += 1
    if any(k.startswith("stage/") for k in scalars):
      self.stage = {k: float(v) for k, v in scalars.items() if v is not None}
      raise _FirstStageDone()

  def flush(self):
    pass

  def close(self):
    pass


def _register(train: int, test: int, image_size: int, num_classes: int = 10) -> None:
  """Registers DATASET: random images uint8 [n, s, s, 3] and labels, CIFAR-10's mean/std."""
  global _registered
  if _registered:
    return
  from tavaal_jax.data import DATASETS
  from tavaal_jax.data.base import ArraySource, Dataset
  rng = np.random.default_rng(0)

  def source(n):
    images = rng.integers(0, 256, (n, image_size, image_size, 3), dtype=np.uint8)
    return ArraySource(images, rng.integers(0, num_classes, n).astype(np.int32))

  @DATASETS.register(DATASET)
  def build(dataset_config):
    del dataset_config
    return Dataset(name=DATASET, train=source(train), test=source(test),
                   num_classes=num_classes,
                   mean=np.asarray((0.4914, 0.4822, 0.4465), np.float32),
                   std=np.asarray((0.2023, 0.1994, 0.2010), np.float32))
  _registered = True


def config_for(p: Dict[str, Any]):
  """configs/cifar10.py with the stage's overrides; returns (config, sizes used)."""
  from configs import cifar10
  sp = dict(p.get("cifar10_stage") or {})
  config = cifar10.get_config()
  config.trials = 1
  config.al.stages = 2
  config.strategy.name = str(sp.get("strategy", "tavaal"))
  config.model.dtype = str(p.get("dtype", "float32"))
  config.dataset.name = DATASET
  fields = {"width": "model.width", "epochs": "train.epochs", "batch_size": "train.batch_size",
            "eval_batch_size": "train.eval_batch_size", "vae_epochs": "vae.epochs",
            "vae_width": "vae.width", "latent_dim": "vae.latent_dim",
            "vae_batch_size": "vae.batch_size", "subset": "al.subset",
            "initial": "al.initial", "budget": "al.budget",
            "scoring_batch_size": "strategy.batch_size"}
  for key, field in fields.items():
    if key in sp:
      section, name = field.split(".")
      config[section][name] = int(sp[key])
  if "epochs" in sp:
    # The schedule's epochs scale with train.epochs (paper: 200 epochs, ranker cut at 120,
    # lr drop at 160).
    config.train.epoch_l = min(int(config.train.epoch_l), config.train.epochs)
    config.optimizer.schedule.milestones = tuple(
        m for m in config.optimizer.schedule.milestones if m < config.train.epochs)
  sizes = dict(SPLITS, image_size=32)
  sizes.update({k: int(sp[k]) for k in ("train", "test", "image_size") if k in sp})
  return config, sizes


def cifar10_stage(p: Dict[str, Any]) -> Dict[str, Any]:
  """Stage 0 of configs/cifar10.py on synthetic data: train + evaluate + select, timed.

  Includes every compilation (the first stage of a run does); `steps_per_second` is the
  fit's own rate (steps / fit seconds).
  """
  from tavaal_jax import experiment
  config, sizes = config_for(p)
  _register(sizes["train"], sizes["test"], sizes["image_size"])
  writer = _StageWriter()
  with tempfile.TemporaryDirectory() as workdir:
    start = time.perf_counter()
    try:
      experiment.run(config, workdir, writer=writer)
      raise RuntimeError("experiment.run finished without writing stage 0's metrics")
    except _FirstStageDone:
      pass
    seconds = time.perf_counter() - start
  s = writer.stage
  train, select = s.get("stage/train_seconds"), s.get("stage/select_seconds")
  steps = -(-int(config.al.initial) // int(config.train.batch_size)) * int(config.train.epochs)
  return {"seconds": seconds, "train_seconds": train, "select_seconds": select,
          "stage_seconds": (train or 0.0) + (select or 0.0),
          "steps_per_second": s.get("stage/train_steps_per_second"),
          "train_steps": steps, "epochs_written": writer.epochs,
          "test_accuracy": s.get("stage/test_accuracy"),
          "num_labeled": s.get("stage/num_labeled"), "strategy": config.strategy.name,
          "dtype": config.model.dtype, "peak_rss_mb": peak_rss_mb(),
          "sizes": dict(sizes, width=config.model.width, epochs=config.train.epochs,
                        batch_size=config.train.batch_size, vae_width=config.vae.width,
                        latent_dim=config.vae.latent_dim, vae_epochs=config.vae.epochs,
                        vae_batch_size=config.vae.batch_size, subset=config.al.subset,
                        initial=config.al.initial, budget=config.al.budget)}
