"""`digits_segmentation`: the embedded offline segmentation dataset, scikit-learn's real digits
composed onto canvases.

Each canvas is a black `image_size` x `image_size` grayscale image holding `digits_per_image`
of load_digits' handwritten digits (resized to `digit_size` pixels) at random non-overlapping
positions: the canvas is cut into a grid of cells at least `digit_size` wide, each digit gets
its own cell and a random offset inside it. Every digit pixel of value >= FOREGROUND_THRESHOLD
(half of load_digits' full intensity) is labelled with its digit's class d + 1, every other
pixel with the background class 0: 11 classes, named 'background', '0', ..., '9'.
Train canvases are built only from the digits of the fixed digits train split
(`digits.digits_split`), test canvases only from its test split, with a FIXED generation
seed, so the data are the same in every run, trial and experiment seed.

Fields of `config.dataset` (0 or absent = the default): image_size (canvas side, 48),
digit_size (24), digits_per_image (3), train_size (800 canvases), test_size (200).
At the defaults the digits fill three of the canvas' four 24-px cells (no room for an
offset). The sizes are set by what a stride-8 network can resolve. Trained 20 epochs (Adam
1e-3, batch 16) on 100 and on 400 canvases: with 12-px digits on 32-px canvases a width-8
DRN-D-22 reached test mIoU 0.08 and 0.09 (it predicts background: strokes are thinner than
its 8-px output cells); with 24 px on 48 a width-4 one reached 0.14 and 0.47, at about
75 ms a step on 2 shared CPU cores.
"""

from typing import Tuple

import numpy as np

from tavaal_jax.data import DATASETS
from tavaal_jax.data.base import Dataset, MaskArraySource
from tavaal_jax.data.digits import digits_arrays, digits_split
from tavaal_jax.data.image_ops import array_batches, channel_mean_std
from tavaal_jax.errors import ConfigError

DEFAULTS = {"image_size": 48, "digit_size": 24, "digits_per_image": 3, "train_size": 800,
            "test_size": 200}
FOREGROUND_THRESHOLD = 128
BACKGROUND = 0
CLASS_NAMES = ("background",) + tuple(str(d) for d in range(10))
# The canvases' own seed, fixed: the data never depend on the experiment's seed.
_GENERATION_SEED = 20211
_SPLIT_STREAMS = {"train": 0, "test": 1}


def _field(dataset_config, name: str) -> int:
  value = dataset_config.get(name, 0) or 0
  if isinstance(value, bool) or not isinstance(value, int) or value < 0:
    raise ConfigError(f"dataset.{name}={value!r} must be a positive integer (0 = the "
                      f"default {DEFAULTS[name]})")
  return value or DEFAULTS[name]


def compose_canvases(digits: np.ndarray, labels: np.ndarray, count: int, canvas: int,
                     per_image: int, rng: np.random.Generator
                     ) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
  """Pastes `per_image` distinct digits onto each of `count` canvases.

  digits: uint8 [n, d, d] grayscale digits; labels: int [n] in 0..9.
  Returns images uint8 [count, canvas, canvas, 1], masks uint8 [count, canvas, canvas]
  (BACKGROUND, or the digit's class + 1 where its pixel >= FOREGROUND_THRESHOLD), and the
  digits used, int64 [count, per_image] (rows of `digits`).
  """
  d = digits.shape[1]
  grid = canvas // d
  cell = canvas // grid
  images = np.zeros((count, canvas, canvas, 1), np.uint8)
  masks = np.full((count, canvas, canvas), BACKGROUND, np.uint8)
  used = np.zeros((count, per_image), np.int64)
  for i in range(count):
    used[i] = rng.choice(len(digits), per_image, replace=False)
    cells = rng.choice(grid * grid, per_image, replace=False)
    for digit, where in zip(used[i], cells):
      top, left = (where // grid) * cell, (where % grid) * cell
      top += int(rng.integers(0, cell - d + 1))
      left += int(rng.integers(0, cell - d + 1))
      pixels = digits[digit]
      images[i, top:top + d, left:left + d, 0] = pixels
      box = masks[i, top:top + d, left:left + d]
      box[pixels >= FOREGROUND_THRESHOLD] = labels[digit] + 1
  return images, masks, used


@DATASETS.register("digits_segmentation", task="segmentation")
def build_digits_segmentation(dataset_config) -> Dataset:
  """The digits canvases per `dataset_config` (see the module docstring for the fields)."""
  canvas, digit_size, per_image, train_size, test_size = (
      _field(dataset_config, name) for name in DEFAULTS)
  if digit_size > canvas:
    raise ConfigError(f"dataset.digit_size={digit_size} is larger than the canvas "
                      f"dataset.image_size={canvas}; lower it or raise dataset.image_size")
  cells = (canvas // digit_size) ** 2
  if per_image > cells:
    raise ConfigError(
        f"dataset.digits_per_image={per_image} digits of {digit_size} px do not fit apart on "
        f"a {canvas} px canvas (at most {cells}); lower it, lower dataset.digit_size or raise "
        f"dataset.image_size")
  digit_images, digit_labels = digits_arrays(digit_size)
  split_indices = dict(zip(("train", "test"), digits_split(digit_labels)))
  sources = {}
  for split, count in (("train", train_size), ("test", test_size)):
    pool = split_indices[split]
    rng = np.random.default_rng([_GENERATION_SEED, _SPLIT_STREAMS[split]])
    images, masks, used = compose_canvases(digit_images[pool, ..., 0], digit_labels[pool],
                                           count, canvas, per_image, rng)
    names = [f"{split}[{i}]:load_digits[{','.join(str(j) for j in pool[row])}]"
             for i, row in enumerate(used)]
    sources[split] = MaskArraySource(images, masks, names)
  mean, std = channel_mean_std(array_batches(sources["train"].get(np.arange(train_size))[0]))
  return Dataset(name="digits_segmentation", train=sources["train"], test=sources["test"],
                 num_classes=len(CLASS_NAMES), mean=mean, std=std,
                 class_names=list(CLASS_NAMES), task="segmentation")
