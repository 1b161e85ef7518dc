"""The `folder` dataset: the user's own images, one sub-folder per class.

Layout of `config.dataset.path`:

  train/<class_name>/*.png|jpg|jpeg|bmp|gif
  test/<class_name>/*.png|...

Classes are the sorted sub-folder names of train/. Images are read lazily with Pillow in
`get`; at construction only the file headers are opened (sizes and modes), never the pixels
(except a small sample for the mean/std).
"""

import os
from typing import List, Sequence, Tuple

import numpy as np
import PIL.Image

from tavaal_jax.data import DATASETS
from tavaal_jax.data.base import Dataset
from tavaal_jax.data.image_ops import channel_mean_std, resize_center_crop
from tavaal_jax.errors import DataError

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".gif")
# Pillow modes that carry one intensity channel.
GRAY_MODES = frozenset({"1", "L", "LA", "I", "I;16", "F"})
# The mean/std of a folder is estimated from at most this many evenly spaced train images,
# so that opening a large folder stays cheap.
STATS_SAMPLE = 1000

_LAYOUT = ("expected layout: PATH/train/<class>/<images> and PATH/test/<class>/<images> "
           f"(image files {', '.join(IMAGE_EXTENSIONS)}; classes are the sub-folders of train/)")


class FolderSource:
  """An `ImageSource` over image files read lazily.

  files: absolute paths [n]; labels: int [n]; root: what `names` are relative to;
  mode: Pillow mode to convert to ('RGB' or 'L'); size: square output side, or 0 to keep
  the (common) native size `native_hw`.
  """

  def __init__(self, files: Sequence[str], labels: Sequence[int], root: str, mode: str,
               size: int, native_hw: Tuple[int, int]):
    self._files = list(files)
    self._labels = np.asarray(labels, np.int32)
    self._root = root
    self._mode = mode
    self._size = size
    channels = 1 if mode == "L" else 3
    h, w = (size, size) if size > 0 else native_hw
    self.image_shape = (h, w, channels)

  def __len__(self) -> int:
    return len(self._files)

  def _read(self, i: int) -> np.ndarray:
    with PIL.Image.open(self._files[i]) as pil:
      image = np.asarray(pil.convert(self._mode), np.uint8)
    if image.ndim == 2:
      image = image[..., None]
    return resize_center_crop(image, self._size) if self._size > 0 else image

  def get(self, indices):
    indices = np.asarray(indices, np.int64)
    images = np.zeros((len(indices),) + self.image_shape, np.uint8)
    for k, i in enumerate(indices):
      images[k] = self._read(int(i))
    return images, self._labels[indices]

  def labels(self):
    return self._labels

  def names(self, indices):
    return [os.path.relpath(self._files[int(i)], self._root).replace(os.sep, "/")
            for i in np.asarray(indices, np.int64)]


def _list_split(root: str, split: str, classes: Sequence[str] = None):
  """Lists (files [n], labels [n], class names) of root/split/<class>/*, sorted."""
  split_dir = os.path.join(root, split)
  if not os.path.isdir(split_dir):
    raise DataError(f"dataset.path {root!r} has no {split}/ folder; {_LAYOUT}")
  found = sorted(d for d in os.listdir(split_dir)
                 if not d.startswith(".") and os.path.isdir(os.path.join(split_dir, d)))
  if not found:
    raise DataError(f"{split_dir!r} has no class sub-folders; {_LAYOUT}")
  if classes is None:
    classes = found
  unknown = sorted(set(found) - set(classes))
  if unknown:
    raise DataError(f"{split_dir!r} has class folders that train/ lacks: {unknown}; "
                    f"test classes must be a subset of the train classes")
  files: List[str] = []
  labels: List[int] = []
  for name in found:
    class_dir = os.path.join(split_dir, name)
    members = sorted(f for f in os.listdir(class_dir)
                     if f.lower().endswith(IMAGE_EXTENSIONS) and not f.startswith("."))
    if not members:
      raise DataError(f"class folder {class_dir!r} has no image files; {_LAYOUT}")
    files += [os.path.join(class_dir, f) for f in members]
    labels += [classes.index(name)] * len(members)
  return files, labels, list(classes)


def read_headers(files: Sequence[str]):
  """(size (W, H), mode) of every file, from the headers only (Pillow opens lazily)."""
  out = []
  for path in files:
    try:
      with PIL.Image.open(path) as pil:
        out.append((pil.size, pil.mode))
    except (OSError, PIL.UnidentifiedImageError) as e:
      raise DataError(f"cannot read image {path!r}: {e}") from e
  return out


@DATASETS.register("folder")
def build_folder(dataset_config) -> Dataset:
  """Builds the `folder` dataset from `dataset_config.path` (see the module docstring)."""
  root = dataset_config.get("path", "")
  if not root or not os.path.isdir(root):
    raise DataError(f"dataset.path {root!r} is not a folder; set --config.dataset.path=DIR; "
                    f"{_LAYOUT}")
  root = os.path.abspath(root)
  size = int(dataset_config.get("image_size", 0) or 0)
  train_files, train_labels, classes = _list_split(root, "train")
  test_files, test_labels, _ = _list_split(root, "test", classes)

  train_headers = read_headers(train_files)
  test_headers = read_headers(test_files)
  # Grayscale only when every train image is; otherwise everything becomes RGB.
  mode = "L" if all(m in GRAY_MODES for _, m in train_headers) else "RGB"
  sizes = {}
  for path, (wh, _) in zip(train_files + test_files, train_headers + test_headers):
    sizes.setdefault(wh, path)
  if size <= 0 and len(sizes) > 1:
    (wh_a, path_a), (wh_b, path_b) = list(sizes.items())[:2]
    raise DataError(
        f"images in dataset.path {root!r} have different sizes, e.g. "
        f"{os.path.relpath(path_a, root)} is {wh_a[0]}x{wh_a[1]} and "
        f"{os.path.relpath(path_b, root)} is {wh_b[0]}x{wh_b[1]} (WxH); set "
        f"--config.dataset.image_size=N to resize and center-crop every image to NxN")
  w, h = next(iter(sizes))
  train = FolderSource(train_files, train_labels, root, mode, size, (h, w))
  test = FolderSource(test_files, test_labels, root, mode, size, (h, w))
  sample = np.unique(np.linspace(0, len(train) - 1, min(len(train), STATS_SAMPLE)).astype(int))
  mean, std = channel_mean_std(
      train.get(sample[i:i + 64])[0] for i in range(0, len(sample), 64))
  return Dataset(name="folder", train=train, test=test, num_classes=len(classes),
                 mean=mean, std=std, class_names=classes)
