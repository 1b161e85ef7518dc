"""`segmentation_folder`: the user's own segmentation data, an image and a mask per sample.

Layout of `config.dataset.path`:

  train/images/<stem>.png|jpg|jpeg|bmp|gif    train/masks/<stem>.png
  test/images/<stem>...                       test/masks/<stem>.png
  classes.txt                                 (optional) one class name per line

A mask is a single-channel PNG (mode L or P; a palette PNG's indices are the ids) of class
ids 0..K-1, with 255 for pixels that count for nothing; it has its image's size, and pairs
by file stem. K is `dataset.num_classes`, else the number of lines of classes.txt, else the
largest id in the masks + 1. Images and masks are resized to `dataset.image_hw` (bilinear /
nearest), or keep their common native size.
At construction every mask is read once (in a thread pool) to check its ids, and every
image's header to check sizes, so bad data stops the run before training.
"""

import os
from typing import List, Optional, Tuple

import numpy as np

from tavaal_jax.data import DATASETS
from tavaal_jax.data.base import IGNORE_LABEL, Dataset
from tavaal_jax.data.folder_source import GRAY_MODES, IMAGE_EXTENSIONS, STATS_SAMPLE
from tavaal_jax.data.image_ops import image_hw
from tavaal_jax.data.mask_files import (
    MaskFileSource, check_pairs, common_hw, parallel_map, read_mask, relative)
from tavaal_jax.errors import DataError

CLASSES_FILE = "classes.txt"
_LAYOUT = ("expected layout: PATH/{train,test}/images/<stem>.<image> and "
           "PATH/{train,test}/masks/<stem>.png (single-channel class ids, 255 = ignore), "
           "optional PATH/classes.txt with one class name per line")


def _list_split(root: str, split: str) -> Tuple[List[str], List[str]]:
  """(image files, mask files) of root/split, paired by stem and sorted by it."""
  image_dir = os.path.join(root, split, "images")
  mask_dir = os.path.join(root, split, "masks")
  for folder in (image_dir, mask_dir):
    if not os.path.isdir(folder):
      raise DataError(f"dataset.path {root!r} has no {relative(folder, root)}/ folder; "
                      f"{_LAYOUT}")
  images = {}
  for name in sorted(os.listdir(image_dir)):
    stem, ext = os.path.splitext(name)
    if name.startswith(".") or ext.lower() not in IMAGE_EXTENSIONS:
      continue
    if stem in images:
      raise DataError(f"{split}/images has two images with the stem {stem!r} "
                      f"({os.path.basename(images[stem])} and {name}); keep one")
    images[stem] = os.path.join(image_dir, name)
  masks = {os.path.splitext(name)[0]: os.path.join(mask_dir, name)
           for name in sorted(os.listdir(mask_dir))
           if not name.startswith(".") and name.lower().endswith(".png")}
  for stem, path in images.items():
    if stem not in masks:
      raise DataError(f"image {relative(path, root)} has no mask {split}/masks/{stem}.png; "
                      f"add its mask or remove the image")
  for stem, path in masks.items():
    if stem not in images:
      raise DataError(f"mask {relative(path, root)} has no image in {split}/images/ "
                      f"(same stem, any of {', '.join(IMAGE_EXTENSIONS)}); add the image or "
                      f"remove the mask")
  if not images:
    raise DataError(f"{split}/images under dataset.path {root!r} has no image files; {_LAYOUT}")
  stems = sorted(images)
  return [images[s] for s in stems], [masks[s] for s in stems]


def _class_names(root: str) -> Optional[List[str]]:
  """The lines of root/classes.txt (blank lines skipped), or None without the file."""
  path = os.path.join(root, CLASSES_FILE)
  if not os.path.isfile(path):
    return None
  with open(path, encoding="utf-8") as f:
    names = [line.strip() for line in f if line.strip()]
  if not names:
    raise DataError(f"{CLASSES_FILE} in dataset.path {root!r} is empty; write one class name "
                    f"per line or delete it")
  return names


def _mask_ids(path: str) -> Tuple[int, int]:
  """(smallest id, largest id other than IGNORE_LABEL, -1 if none) of one mask file."""
  ids = read_mask(path)
  valid = ids[ids != IGNORE_LABEL]
  return int(ids.min()), int(valid.max()) if valid.size else -1


def _num_classes(mask_files: List[str], root: str, configured: int,
                 names: Optional[List[str]]) -> int:
  """K, after checking every mask's ids against it (see the module docstring)."""
  if configured > 0 and names is not None and configured != len(names):
    raise DataError(f"dataset.num_classes={configured} but {CLASSES_FILE} in dataset.path "
                    f"names {len(names)} classes; make them agree or set "
                    f"--config.dataset.num_classes=0")
  ranges = parallel_map(_mask_ids, mask_files)
  for path, (lowest, _) in zip(mask_files, ranges):
    if lowest < 0:
      raise DataError(f"mask {relative(path, root)} has the negative class id {lowest}; "
                      f"class ids are 0..K-1, {IGNORE_LABEL} = ignore")
  k = configured or (len(names) if names is not None else 0)
  if k <= 0:
    k = max(highest for _, highest in ranges) + 1
    if k <= 0:
      raise DataError(f"every mask under dataset.path {root!r} is all {IGNORE_LABEL} "
                      f"(ignore); set --config.dataset.num_classes=K")
  where = (f"dataset.num_classes={configured}" if configured
           else f"{CLASSES_FILE} names {k} classes" if names is not None else "")
  for path, (_, highest) in zip(mask_files, ranges):
    if highest >= k:
      if highest >= IGNORE_LABEL:
        fix = f"class ids must be 0..{IGNORE_LABEL - 1}, {IGNORE_LABEL} = ignore; fix the mask"
      else:
        fix = f"fix the mask, or raise dataset.num_classes (or {CLASSES_FILE})"
      raise DataError(f"mask {relative(path, root)} has class id {highest}, outside "
                      f"0..{k - 1} ({where}) and not the ignore value {IGNORE_LABEL}; {fix}")
  return k


@DATASETS.register("segmentation_folder", task="segmentation")
def build_segmentation_folder(dataset_config) -> Dataset:
  """Builds `segmentation_folder` from `dataset_config.path` (see the module docstring)."""
  root = dataset_config.get("path", "") or ""
  if not root or not os.path.isdir(root):
    raise DataError(f"dataset.path {root!r} is not a folder; set --config.dataset.path=DIR; "
                    f"{_LAYOUT}")
  root = os.path.abspath(root)
  pairs = {split: _list_split(root, split) for split in ("train", "test")}
  headers = {split: check_pairs(images, masks, root) for split, (images, masks) in pairs.items()}
  names = _class_names(root)
  k = _num_classes(pairs["train"][1] + pairs["test"][1], root,
                   int(dataset_config.get("num_classes", 0) or 0), names)
  hw = common_hw(pairs["train"][0] + pairs["test"][0], headers["train"] + headers["test"],
                 root, image_hw(dataset_config))
  # Grayscale only when every train image is; otherwise everything becomes RGB.
  mode = "L" if all(m in GRAY_MODES for _, m in headers["train"]) else "RGB"
  train, test = (MaskFileSource(images, masks, root, mode, hw)
                 for images, masks in (pairs["train"], pairs["test"]))
  mean, std = train.mean_std(STATS_SAMPLE)
  return Dataset(name="segmentation_folder", train=train, test=test, num_classes=k,
                 mean=mean, std=std, class_names=names or [str(c) for c in range(k)],
                 task="segmentation")
