"""TFDS datasets through `tfds.data_source` (random access over ArrayRecord files, no TensorFlow).

Registered: cifar10, cifar100, svhn_cropped, fashion_mnist, caltech101. Nothing is downloaded
(`download=False`): the dataset must already be prepared in `config.dataset.data_dir`, else a
`DataError` says how to prepare it on a connected machine.
"""

from typing import Any, Dict, List, Sequence, Tuple

import numpy as np

from tavaal_jax.data import DATASETS
from tavaal_jax.data.base import Dataset
from tavaal_jax.data.image_ops import resize_center_crop
from tavaal_jax.errors import DataError

# Per-channel (mean, std) on the [0, 1] scale; CIFAR-10's are the paper's.
_STATS: Dict[str, Tuple[Tuple[float, ...], Tuple[float, ...]]] = {
    "cifar10": ((0.4914, 0.4822, 0.4465), (0.2023, 0.1994, 0.2010)),
    "cifar100": ((0.5071, 0.4865, 0.4409), (0.2673, 0.2564, 0.2762)),
    "svhn_cropped": ((0.4377, 0.4438, 0.4728), (0.1980, 0.2010, 0.1970)),
    "fashion_mnist": ((0.2860,), (0.3530,)),
    "caltech101": ((0.485, 0.456, 0.406), (0.229, 0.224, 0.225)),  # ImageNet's
}
# Square side used when config.dataset.image_size is 0 for datasets of variable image size.
_DEFAULT_SIZE = {"caltech101": 224}
# Records decoded per call when reading all labels.
_LABEL_CHUNK = 1024


def _fix_message(name: str, data_dir: str) -> str:
  target = data_dir or "DIR"
  return (
      f"on a machine with internet, run `python -c \"import tensorflow_datasets as tfds; "
      f"tfds.data_source('{name}', data_dir='{target}', download=True)\"` (or `tfds build "
      f"{name} --data_dir {target} --file_format=array_record`; data_source needs the "
      f"array_record format, not tfds build's default tfrecord), copy the folder "
      f"{target}/{name} to this machine, then set --config.dataset.data_dir={target}")


def open_tfds(name: str, split: str, data_dir: str = ""):
  """`tfds.data_source(name, split=split)` without downloading; DataError if not prepared."""
  import tensorflow_datasets as tfds  # imported here: only the TFDS datasets need it
  try:
    return tfds.data_source(name, split=split, data_dir=data_dir or None, download=False)
  except (KeyError, NotImplementedError, ValueError, OSError) as e:
    # Observed with tfds 4.9.10: an unprepared dataset raises KeyError ("splits is empty") in
    # the default data_dir, NotImplementedError ("file format TFRECORD is not supported") in
    # an empty data_dir; a tfrecord-prepared one raises NotImplementedError too.
    searched = data_dir or tfds.core.constants.DATA_DIR
    cause = " ".join(str(e).split())  # tfds's own message, folded onto one line
    cause = f"{type(e).__name__}: {cause[:240]}{'...' if len(cause) > 240 else ''}"
    raise DataError(
        f"TFDS dataset {name!r} (split {split!r}) is not prepared for random access in "
        f"dataset.data_dir {searched!r} and this code never downloads; "
        f"{_fix_message(name, data_dir)} (tfds said: {cause})") from e


class TfdsSource:
  """An `ImageSource` over one split of a TFDS data source; records are read on demand.

  data_source: what `tfds.data_source` returns (records are dicts with 'image' uint8
  [H, W, C] or [H, W] and 'label' int); image_size: 0 keeps the native (fixed) size, else
  every image is resized (shorter side) and center-cropped to [image_size, image_size, C].
  """

  def __init__(self, data_source, split: str, image_size: int = 0):
    self._ds = data_source
    self._split = split
    self._size = image_size
    self._labels = None
    self._batched = hasattr(data_source, "__getitems__")
    shape = tuple(data_source.dataset_info.features["image"].shape)
    channels = shape[-1] if len(shape) == 3 else 1
    if image_size > 0:
      self.image_shape = (image_size, image_size, channels)
    elif None in shape[:2]:
      raise DataError(f"{data_source.dataset_info.name} has images of variable size "
                      f"{shape}; set --config.dataset.image_size=N")
    else:
      self.image_shape = (int(shape[0]), int(shape[1]), channels)

  def __len__(self) -> int:
    return len(self._ds)

  def _records(self, keys: List[int]) -> Sequence[Dict[str, Any]]:
    if self._batched:
      try:
        return self._ds.__getitems__(keys)
      except TypeError:
        # tfds.testing.mock_data (4.9.10) installs a `__getitems__` that is not bound to its
        # object and so always raises TypeError; the one-by-one path below is equivalent.
        self._batched = False
    return [self._ds[k] for k in keys]

  def _image(self, record) -> np.ndarray:
    image = np.asarray(record["image"], np.uint8)
    if image.ndim == 2:  # grayscale stored without a channel axis
      image = image[..., None]
    if self._size > 0:
      image = resize_center_crop(image, self._size)
    return image

  def get(self, indices):
    indices = np.asarray(indices, np.int64)
    images = np.zeros((len(indices),) + self.image_shape, np.uint8)
    labels = np.zeros(len(indices), np.int32)
    for k, record in enumerate(self._records([int(i) for i in indices])):
      images[k] = self._image(record)
      labels[k] = record["label"]
    return images, labels

  def labels(self):
    # Computed once: this decodes every record of the split (seconds for CIFAR-sized data).
    if self._labels is None:
      labels = np.zeros(len(self), np.int32)
      for start in range(0, len(self), _LABEL_CHUNK):
        keys = list(range(start, min(start + _LABEL_CHUNK, len(self))))
        labels[start:start + len(keys)] = [r["label"] for r in self._records(keys)]
      self._labels = labels
    return self._labels

  def names(self, indices):
    return [f"{self._split}[{int(i)}]" for i in np.asarray(indices, np.int64)]


def build_tfds(name: str, dataset_config) -> Dataset:
  """Opens the train and test splits of TFDS dataset `name` per `dataset_config`."""
  data_dir = dataset_config.get("data_dir", "") or ""
  size = int(dataset_config.get("image_size", 0) or 0) or _DEFAULT_SIZE.get(name, 0)
  sources = {split: open_tfds(name, split, data_dir) for split in ("train", "test")}
  label = sources["train"].dataset_info.features["label"]
  mean, std = _STATS[name]
  return Dataset(
      name=name,
      train=TfdsSource(sources["train"], "train", size),
      test=TfdsSource(sources["test"], "test", size),
      num_classes=int(label.num_classes),
      mean=np.asarray(mean, np.float32),
      std=np.asarray(std, np.float32),
      class_names=list(label.names))


def _register(name: str) -> None:
  DATASETS.register(name)(lambda dataset_config: build_tfds(name, dataset_config))


for _name in _STATS:
  _register(_name)
