"""`digits`: the embedded offline dataset, scikit-learn's real `load_digits`.

1,797 grayscale 8x8 handwritten digits, 10 classes, shipped with scikit-learn (no download).
The train/test split is FIXED (stratified, 20% test, random_state 0) and independent of the
experiment seed, so every run and trial sees the same pool and test set.
"""

import numpy as np

from tavaal_jax.data import DATASETS
from tavaal_jax.data.base import ArraySource, Dataset
from tavaal_jax.data.image_ops import array_batches, channel_mean_std, resize_center_crop

DEFAULT_SIZE = 16   # used when dataset.image_size is 0
_TEST_FRACTION = 0.2
_SPLIT_SEED = 0


def digits_arrays(image_size: int = DEFAULT_SIZE):
  """All of load_digits as (images uint8 [1797, S, S, 1], labels int32 [1797]), S = image_size."""
  from sklearn.datasets import load_digits  # imported here: slow, and only this source needs it
  bunch = load_digits()
  # Pixel values are 0..16; scale to the full uint8 range.
  images = np.round(bunch.images * (255.0 / 16.0)).astype(np.uint8)[..., None]
  if image_size != images.shape[1]:
    images = np.stack([resize_center_crop(im, image_size) for im in images])
  return images, bunch.target.astype(np.int32)


def digits_split(labels: np.ndarray):
  """The fixed stratified split: (train indices int64 [n_train], test indices int64 [n_test])."""
  from sklearn.model_selection import train_test_split
  train, test = train_test_split(np.arange(len(labels)), test_size=_TEST_FRACTION,
                                 random_state=_SPLIT_SEED, stratify=labels)
  return np.sort(train).astype(np.int64), np.sort(test).astype(np.int64)


@DATASETS.register("digits")
def build_digits(dataset_config) -> Dataset:
  """The digits dataset at `dataset_config.image_size` (0 -> 16; 8 keeps the native 8x8)."""
  size = int(dataset_config.get("image_size", 0) or 0) or DEFAULT_SIZE
  images, labels = digits_arrays(size)
  train, test = digits_split(labels)
  names = np.array([f"load_digits[{i}]" for i in range(len(labels))])
  mean, std = channel_mean_std(array_batches(images[train]))
  return Dataset(
      name="digits",
      train=ArraySource(images[train], labels[train], names[train]),
      test=ArraySource(images[test], labels[test], names[test]),
      num_classes=10, mean=mean, std=std, class_names=[str(d) for d in range(10)])
