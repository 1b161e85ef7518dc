"""`image_pool`: a folder of the user's own images, only some of them labeled, for the query
rounds (python -m tavaal_jax.query).

  dataset.path         the pool: a folder searched recursively for IMAGE_EXTENSIONS, any
                       sizes. Hidden files and folders, and a query workdir inside the pool
                       (a folder holding rounds.jsonl), are skipped.
  dataset.labels       the labels so far (labeling/labels_file.py: CSV or Label Studio).
  dataset.test_labels  optional, the same for held-out images: never picked nor trained on,
                       they give each round's accuracy.
  dataset.image_size   every image is resized (shorter side) and center-cropped to this.

Every image is decoded once, here, and kept in memory as uint8 (n * size^2 * channels bytes:
10,000 images at 32x32 RGB are 31 MB). An image that cannot be decoded does not stop the
round: it is left out and listed in `train.unreadable` with the reason. Images are
grayscale only when every readable one is.

`train` is a `PoolSource` over the readable images outside the test labels, whose labels are
class ids, or UNLABELED for the images the user has not labeled: that value is no class,
and only `labeled_idx()` is ever trained on. `test` holds the test images (none without
dataset.test_labels). Classes are the sorted class names of both labels files.
"""

import concurrent.futures
import os
from typing import Dict, List, Sequence, Tuple

import numpy as np
import PIL.Image

from tavaal_jax.data import DATASETS
from tavaal_jax.data.base import ArraySource, Dataset
from tavaal_jax.data.folder_source import GRAY_MODES
from tavaal_jax.data.image_ops import array_batches, channel_mean_std, resize_center_crop
from tavaal_jax.errors import ConfigError, DataError
from tavaal_jax.labeling import labels_file

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp")
# The label of a pool image the user has not labeled: never a class id.
UNLABELED = -1
# A folder holding this file is a query workdir (labeling/rounds.py), not part of the pool.
WORKDIR_MARKER = "rounds.jsonl"


class PoolSource(ArraySource):
  """The pool's decoded images by index.

  images uint8 [n, S, S, C]; labels int32 [n], class ids or UNLABELED; files [n]: paths
  relative to the pool ('/'-separated), which `names` returns. unreadable: (file, reason)
  of every image of the pool and of the test labels that could not be decoded.
  given_labels / given_test_labels: {file: class name} as dataset.labels and
  dataset.test_labels hold them (unreadable images included).
  """

  def __init__(self, images: np.ndarray, labels: np.ndarray, files: Sequence[str],
               unreadable: Sequence[Tuple[str, str]], given_labels: Dict[str, str],
               given_test_labels: Dict[str, str]):
    super().__init__(images, labels, list(files))
    self.files: List[str] = list(files)
    self.unreadable: List[Tuple[str, str]] = list(unreadable)
    self.given_labels = dict(given_labels)
    self.given_test_labels = dict(given_test_labels)

  def labeled_idx(self) -> np.ndarray:
    """[n_labeled] the indices with a label, ascending."""
    return np.flatnonzero(self.labels() != UNLABELED)

  def unlabeled_idx(self) -> np.ndarray:
    """[n_unlabeled] the indices without a label, ascending."""
    return np.flatnonzero(self.labels() == UNLABELED)


def discover(root: str) -> List[str]:
  """The pool's image files, relative to `root` with '/' separators, sorted."""
  found = []
  for folder, dirs, files in os.walk(root):
    dirs[:] = sorted(d for d in dirs if not d.startswith(".")
                     and not os.path.isfile(os.path.join(folder, d, WORKDIR_MARKER)))
    relative = os.path.relpath(folder, root)
    for name in files:
      if name.startswith(".") or not name.lower().endswith(IMAGE_EXTENSIONS):
        continue
      path = name if relative == "." else os.path.join(relative, name)
      found.append(path.replace(os.sep, "/"))
  return sorted(found)


def _decode(path: str, size: int) -> Tuple[np.ndarray, bool]:
  """(uint8 [size, size, 1 or 3], grayscale?) of one image file; raises if unreadable."""
  with PIL.Image.open(path) as pil:
    pil.load()  # decodes now: a truncated or corrupt file fails here, not in training
    gray = pil.mode in GRAY_MODES
    image = np.asarray(pil.convert("L" if gray else "RGB"), np.uint8)
  if image.ndim == 2:
    image = image[..., None]
  return resize_center_crop(image, size), gray


def decode_all(root: str, files: Sequence[str], size: int
               ) -> Tuple[Dict[str, np.ndarray], List[Tuple[str, str]]]:
  """({file: uint8 [size, size, C]} of the readable files, with C = 1 only when all are
  grayscale, and (file, reason) of the others), decoded on a few threads."""
  def attempt(file):
    try:
      return _decode(os.path.join(root, file), size), None
    except Exception as error:  # noqa: BLE001 - any failure only leaves this image out
      return None, f"{type(error).__name__}: {error}"

  workers = min(8, os.cpu_count() or 1)
  with concurrent.futures.ThreadPoolExecutor(max_workers=workers) as pool:
    outcomes = list(pool.map(attempt, files))
  decoded, unreadable = {}, []
  for file, (result, reason) in zip(files, outcomes):
    if result is None:
      unreadable.append((file, reason))
    else:
      decoded[file] = result
  if decoded and not all(gray for _, gray in decoded.values()):
    return ({f: np.repeat(im, 3, -1) if gray else im for f, (im, gray) in decoded.items()},
            unreadable)
  return {f: im for f, (im, _) in decoded.items()}, unreadable


def _stack(images: Dict[str, np.ndarray], files: Sequence[str], size: int,
           channels: int) -> np.ndarray:
  out = np.zeros((len(files), size, size, channels), np.uint8)
  for k, file in enumerate(files):
    out[k] = images[file]
  return out


@DATASETS.register("image_pool", partially_labeled=True)
def build_image_pool(dataset_config) -> Dataset:
  """Builds the `image_pool` dataset (see the module docstring)."""
  root = dataset_config.get("path", "")
  if not root or not os.path.isdir(root):
    raise DataError(f"dataset.path {root!r} is not a folder; set --config.dataset.path=POOL, "
                    "a folder of your images (searched recursively)")
  root = os.path.abspath(root)
  size = dataset_config.get("image_size", 0)
  if isinstance(size, bool) or not isinstance(size, int) or size <= 0:
    raise ConfigError(f"dataset.image_size={size!r}: the pool's images have any sizes; set "
                      "--config.dataset.image_size=N (e.g. 32) to resize and center-crop "
                      "each to NxN")
  files = discover(root)
  if not files:
    raise DataError(f"dataset.path {root} holds no image files "
                    f"({', '.join(IMAGE_EXTENSIONS)}); point it at your images")
  known = frozenset(files)
  labels = labels_file.read_labels(dataset_config.get("labels", ""), known, root,
                                   "dataset.labels")
  test_path = dataset_config.get("test_labels", "") or ""
  test_labels: Dict[str, str] = {}
  if test_path:
    test_labels = labels_file.read_labels(test_path, known, root, "dataset.test_labels")
    both = sorted(set(test_labels) & set(labels))
    if both:
      raise DataError(f"dataset.test_labels {test_path} and dataset.labels both hold "
                      f"{len(both)} image(s), e.g. {both[0]!r}; a test image is never "
                      "trained on: delete it from one of the two files")

  images, unreadable = decode_all(root, files, size)
  channels = next(iter(images.values())).shape[-1] if images else 3
  classes = sorted(set(labels.values()) | set(test_labels.values()))
  class_id = {name: i for i, name in enumerate(classes)}
  pool_files = [f for f in files if f in images and f not in test_labels]
  pool_labels = np.array([class_id[labels[f]] if f in labels else UNLABELED
                          for f in pool_files], np.int32)
  trained_classes = sorted({labels[f] for f in pool_files if f in labels})
  if len(trained_classes) < 2:
    raise DataError(
        f"dataset.labels {dataset_config.get('labels')} labels {len(trained_classes)} "
        f"class(es) {trained_classes} among the readable images; label images of at least "
        "two classes")
  pool_images = _stack(images, pool_files, size, channels)
  train = PoolSource(pool_images, pool_labels, pool_files, unreadable, labels, test_labels)
  test_files = [f for f in files if f in images and f in test_labels]
  test = ArraySource(_stack(images, test_files, size, channels),
                     np.array([class_id[test_labels[f]] for f in test_files], np.int32),
                     test_files)
  mean, std = channel_mean_std(array_batches(pool_images))
  return Dataset(name="image_pool", train=train, test=test, num_classes=len(classes),
                 mean=mean, std=std, class_names=classes)
