"""`cifar10_imbalanced`: CIFAR-10 with the even classes of the train split cut down.

The authors' pattern: each EVEN class keeps only its first 5000 // ratio train images (by
index order), odd classes keep all 5000; the test split stays balanced. Ratio 100 keeps 50
per even class, ratio 10 keeps 500.
"""

import numpy as np

from tavaal_jax.data import DATASETS
from tavaal_jax.data.base import Dataset, SubsetSource
from tavaal_jax.data.tfds_source import build_tfds
from tavaal_jax.errors import ConfigError

# Train images per class in balanced CIFAR-10; the kept count is this // ratio.
_PER_CLASS = 5000


def imbalanced_indices(labels: np.ndarray, ratio: int, per_class: int = _PER_CLASS) -> np.ndarray:
  """Indices to keep: the first per_class // ratio of each even class, all of each odd class.

  labels: int [n] -> sorted int64 [m] indices into labels.
  """
  if isinstance(ratio, bool) or not isinstance(ratio, (int, np.integer)) or ratio < 1:
    raise ConfigError(f"dataset.imbalance_ratio must be an integer >= 1, got {ratio!r}")
  labels = np.asarray(labels)
  keep_even = per_class // int(ratio)
  keep = np.ones(len(labels), bool)
  for c in np.unique(labels):
    if c % 2 == 0:
      members = np.flatnonzero(labels == c)
      keep[members[keep_even:]] = False
  return np.flatnonzero(keep).astype(np.int64)


@DATASETS.register("cifar10_imbalanced")
def build_cifar10_imbalanced(dataset_config) -> Dataset:
  """CIFAR-10 (TFDS) with `imbalanced_indices(train labels, dataset_config.imbalance_ratio)`."""
  ratio = dataset_config.get("imbalance_ratio", 1)
  imbalanced_indices(np.zeros(0, np.int32), ratio)  # validate before opening the dataset
  base = build_tfds("cifar10", dataset_config)
  keep = imbalanced_indices(base.train.labels(), ratio)
  return Dataset(name="cifar10_imbalanced", train=SubsetSource(base.train, keep),
                 test=base.test, num_classes=base.num_classes, mean=base.mean, std=base.std,
                 class_names=base.class_names)
