"""The interface every data source implements.

A source is random access by index: `source.get(indices)` reads only the rows asked
for, so a pool of a million images is never loaded whole.
"""

import dataclasses
from typing import Optional, Protocol, Sequence, Tuple

import numpy as np


# The label value of a segmentation mask's pixels that count for nothing (Cityscapes' 255).
IGNORE_LABEL = 255


class ImageSource(Protocol):
  """Random-access images and labels of one split.

  `get(indices)` -> (images uint8 [n, H, W, C], labels) in the order asked: labels int32
  [n] for classification, uint8 masks [n, H, W] of class ids for segmentation (pixels of
  IGNORE_LABEL count for nothing).
  `names(indices)` -> original identifiers (file paths, original row numbers) as str [n].
  """

  image_shape: Tuple[int, int, int]

  def __len__(self) -> int: ...

  def get(self, indices: np.ndarray) -> Tuple[np.ndarray, np.ndarray]: ...

  def labels(self) -> np.ndarray: ...

  def names(self, indices: np.ndarray) -> Sequence[str]: ...


@dataclasses.dataclass(frozen=True)
class Dataset:
  """A train split (the active-learning pool) and a test split.

  mean / std: per-channel normalisation constants on the [0, 1] scale, shape [C].
  task: 'classification' (one label per image) | 'segmentation' (a mask per image).
  """

  name: str
  train: ImageSource
  test: ImageSource
  num_classes: int
  mean: np.ndarray
  std: np.ndarray
  class_names: Optional[Sequence[str]] = None
  task: str = "classification"

  @property
  def image_shape(self) -> Tuple[int, int, int]:
    return self.train.image_shape


class ArraySource:
  """An `ImageSource` over in-memory (or memory-mapped) arrays.

  images: uint8 [n, H, W, C]; labels: int [n]; names: optional identifiers [n].
  """

  def __init__(self, images: np.ndarray, labels: np.ndarray,
               names: Optional[Sequence[str]] = None):
    if images.ndim != 4:
      raise ValueError(f"images must be [n, H, W, C], got shape {images.shape}")
    if len(images) != len(labels):
      raise ValueError(f"{len(images)} images but {len(labels)} labels")
    self._images = images
    self._labels = np.asarray(labels, np.int32)
    self._names = names
    self.image_shape = tuple(int(s) for s in images.shape[1:])

  def __len__(self) -> int:
    return len(self._labels)

  def get(self, indices):
    indices = np.asarray(indices, np.int64)
    return np.asarray(self._images[indices], np.uint8), self._labels[indices]

  def labels(self):
    return self._labels

  def names(self, indices):
    indices = np.asarray(indices, np.int64)
    if self._names is None:
      return [str(i) for i in indices]
    return [str(self._names[i]) for i in indices]


class SubsetSource:
  """A view of `base` restricted to `keep` (e.g. imbalanced CIFAR-10): index i -> base[keep[i]]."""

  def __init__(self, base: ImageSource, keep: np.ndarray):
    self._base = base
    self._keep = np.asarray(keep, np.int64)
    self.image_shape = base.image_shape

  def __len__(self) -> int:
    return len(self._keep)

  def get(self, indices):
    return self._base.get(self._keep[np.asarray(indices, np.int64)])

  def labels(self):
    return self._base.labels()[self._keep]

  def names(self, indices):
    return self._base.names(self._keep[np.asarray(indices, np.int64)])


class MaskArraySource:
  """A segmentation `ImageSource` over in-memory arrays.

  images: uint8 [n, H, W, C]; masks: uint8 [n, H, W] of class ids or IGNORE_LABEL;
  names: identifiers [n]. `labels()` is None: there is no one label per image.
  """

  def __init__(self, images: np.ndarray, masks: np.ndarray, names: Sequence[str]):
    if images.ndim != 4 or masks.shape != images.shape[:3]:
      raise ValueError(f"images must be [n, H, W, C] and masks [n, H, W], got shapes "
                       f"{images.shape} and {masks.shape}")
    if len(names) != len(images):
      raise ValueError(f"{len(images)} images but {len(names)} names")
    self._images = np.asarray(images, np.uint8)
    self._masks = np.asarray(masks, np.uint8)
    self._names = list(names)
    self.image_shape = tuple(int(s) for s in images.shape[1:])

  def __len__(self) -> int:
    return len(self._images)

  def get(self, indices):
    indices = np.asarray(indices, np.int64)
    return self._images[indices], self._masks[indices]

  def labels(self):
    return None

  def names(self, indices):
    return [str(self._names[i]) for i in np.asarray(indices, np.int64)]
