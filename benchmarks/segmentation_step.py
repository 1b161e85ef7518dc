r"""One train step of configs/cityscapes.py at the paper's sizes, on synthetic data.

  python -m benchmarks.segmentation_step [--steps 3] [--batch_size 8]

DRN-D-22 (width 16) with the ranker (the config's tavaal), a batch of 512 x 1024 images
and masks cropped to 412 x 412 and flipped inside the jitted step, 19 classes: the
package's own `Learner` and train step. The data are random uint8 images and random
masks of class ids with some ignore pixels. Prints one JSON line: compile seconds and the
seconds of each step after the first call.
"""

import argparse
import json
import time

import jax
import numpy as np

from tavaal_jax import cpu_tuning


def main() -> None:
  parser = argparse.ArgumentParser()
  parser.add_argument("--steps", type=int, default=3)
  parser.add_argument("--batch_size", type=int, default=0, help="0: the config's")
  args = parser.parse_args()
  cpu_tuning.apply()
  from configs import cityscapes
  from tavaal_jax import parallel
  from tavaal_jax.data.base import IGNORE_LABEL, Dataset, MaskArraySource
  from tavaal_jax.learner import Learner

  config = cityscapes.get_config()
  if args.batch_size:
    config.train.batch_size = args.batch_size
  b = config.train.batch_size
  h, w = config.dataset.image_hw
  rng = np.random.default_rng(0)
  images = rng.integers(0, 256, (b, h, w, 3), np.uint8)
  masks = rng.integers(0, 19, (b, h, w)).astype(np.uint8)
  masks[:, :16] = IGNORE_LABEL
  source = MaskArraySource(images, masks, [str(i) for i in range(b)])
  dataset = Dataset("synthetic_cityscapes", source, source, 19, np.full(3, 0.3),
                    np.full(3, 0.2), task="segmentation")
  mesh = parallel.make_mesh()
  learner = Learner(dataset, config, mesh)
  state = learner.init(jax.random.key(0), b)
  batch = parallel.shard_batch(mesh, learner.batch(images, masks))
  key, scale, lr = jax.random.key(1), np.float32(1.0), np.float32(1e-3)
  start = time.perf_counter()
  compiled = learner._train_step.lower(state, batch, key, scale, lr).compile()
  compile_seconds = time.perf_counter() - start
  state, metrics = compiled(state, batch, key, scale, lr)   # first call: allocations
  jax.block_until_ready(metrics)
  seconds = []
  for _ in range(args.steps):
    start = time.perf_counter()
    state, metrics = compiled(state, batch, key, scale, lr)
    jax.block_until_ready(metrics)
    seconds.append(round(time.perf_counter() - start, 2))
  print(json.dumps({"device": jax.devices()[0].device_kind, "devices": jax.device_count(),
                    "batch_size": b, "image_hw": [h, w],
                    "crop_hw": list(config.dataset.augment.crop_hw),
                    "compile_seconds": round(compile_seconds, 1), "step_seconds": seconds,
                    "loss": float(metrics["loss"]), "has_ranker": learner.has_ranker}))


if __name__ == "__main__":
  main()
