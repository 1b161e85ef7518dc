"""`npz`: the user's own arrays from one `.npz` file at `config.dataset.path`.

The file holds x_train, y_train, x_test, y_test: images uint8 [n, H, W] (grayscale) or
[n, H, W, C]; labels integer [n], 0-based class ids.
"""

import os

import numpy as np

from tavaal_jax.data import DATASETS
from tavaal_jax.data.base import ArraySource, Dataset
from tavaal_jax.data.image_ops import array_batches, channel_mean_std, resize_center_crop
from tavaal_jax.errors import DataError

KEYS = ("x_train", "y_train", "x_test", "y_test")
_CONTENT = ("an .npz file with arrays x_train, x_test (uint8 images [n, H, W] or [n, H, W, C]) "
            "and y_train, y_test (integer labels [n]), e.g. written by "
            "np.savez(path, x_train=..., y_train=..., x_test=..., y_test=...)")


def _images(key: str, x: np.ndarray, size: int) -> np.ndarray:
  """Validates and converts one image array to uint8 [n, H, W, C] (resized if size > 0)."""
  if x.ndim == 3:
    x = x[..., None]  # grayscale: add the channel axis
  if x.ndim != 4:
    raise DataError(f"{key} must be images [n, H, W] or [n, H, W, C], got shape {x.shape}")
  if np.issubdtype(x.dtype, np.floating) and x.size and 0.0 <= x.min() and x.max() <= 1.0:
    x = np.round(x * 255.0).astype(np.uint8)  # float images on the [0, 1] scale
  elif x.dtype != np.uint8:
    raise DataError(f"{key} has dtype {x.dtype}; expected uint8 (0..255), or float in [0, 1]")
  if size > 0 and x.shape[1:3] != (size, size):
    x = np.stack([resize_center_crop(im, size) for im in x])
  return x


def _labels(key: str, y: np.ndarray, n: int) -> np.ndarray:
  if y.ndim != 1 or len(y) != n or not np.issubdtype(y.dtype, np.integer):
    raise DataError(f"{key} must be integer labels of shape [{n}], got {y.dtype} {y.shape}")
  if n and y.min() < 0:
    raise DataError(f"{key} has negative labels; expected 0-based class ids")
  return y.astype(np.int32)


@DATASETS.register("npz")
def build_npz(dataset_config) -> Dataset:
  """Builds the `npz` dataset from `dataset_config.path` (see the module docstring)."""
  path = dataset_config.get("path", "")
  if not path or not os.path.isfile(path):
    raise DataError(f"dataset.path {path!r} is not a file; set --config.dataset.path to "
                    f"{_CONTENT}")
  size = int(dataset_config.get("image_size", 0) or 0)
  try:
    npz = np.load(path, allow_pickle=False)
  except (OSError, ValueError) as e:
    raise DataError(f"cannot read dataset.path {path!r}: {e}; expected {_CONTENT}") from e
  if not hasattr(npz, "files"):  # a plain .npy file loads as one array
    raise DataError(f"dataset.path {path!r} holds a single array; expected {_CONTENT}")
  with npz:
    missing = [k for k in KEYS if k not in npz.files]
    if missing:
      raise DataError(f"dataset.path {path!r} lacks arrays {missing} (it has {npz.files}); "
                      f"expected {_CONTENT}")
    try:
      arrays = {k: npz[k] for k in KEYS}
    except ValueError as e:  # e.g. object arrays, which would need pickle
      raise DataError(f"cannot read the arrays of dataset.path {path!r}: {e}") from e

  x_train = _images("x_train", arrays["x_train"], size)
  x_test = _images("x_test", arrays["x_test"], size)
  if x_train.shape[1:] != x_test.shape[1:]:
    raise DataError(f"x_train images are {x_train.shape[1:]} but x_test images are "
                    f"{x_test.shape[1:]}; both splits need the same [H, W, C]")
  y_train = _labels("y_train", arrays["y_train"], len(x_train))
  y_test = _labels("y_test", arrays["y_test"], len(x_test))
  inferred = int(max(y_train.max(initial=-1), y_test.max(initial=-1))) + 1
  num_classes = int(dataset_config.get("num_classes", 0) or 0) or inferred
  if num_classes < inferred:
    raise DataError(f"dataset.num_classes is {num_classes} but the labels go up to "
                    f"{inferred - 1}")
  mean, std = channel_mean_std(array_batches(x_train))
  return Dataset(
      name="npz",
      train=ArraySource(x_train, y_train, [f"x_train[{i}]" for i in range(len(y_train))]),
      test=ArraySource(x_test, y_test, [f"x_test[{i}]" for i in range(len(y_test))]),
      num_classes=num_classes, mean=mean, std=std)
