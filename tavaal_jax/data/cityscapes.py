"""`cityscapes`: Cityscapes fine annotations, 19 train classes, read without TensorFlow.

Two ways in, tried in this order:
1. The official download layout under `dataset.path` (leftImg8bit_trainvaltest.zip and
   gtFine_trainvaltest.zip unzipped into one folder ROOT), read with Pillow:
     ROOT/leftImg8bit/{train,val}/<city>/<city>_<seq>_<frame>_leftImg8bit.png
     ROOT/gtFine/{train,val}/<city>/<city>_<seq>_<frame>_gtFine_labelIds.png
2. TFDS `cityscapes/semantic_segmentation` prepared in `dataset.data_dir` in the
   array_record format (`tfds.data_source`; its labels are the same labelIds PNGs).
The pool is the train split (2,975 images), the test set the val split (500; the official
test split has no public labels). labelIds map to the 19 train ids of the official table
(cityscapesScripts' labels.py); every other id (void, and the classes not evaluated, such as
parking or caravan) becomes IGNORE_LABEL. Images and masks are resized to
`dataset.image_hw` (default: native 1024 x 2048).
"""

import logging
import os
from typing import Tuple

import numpy as np

from tavaal_jax.data import DATASETS
from tavaal_jax.data.base import IGNORE_LABEL, Dataset
from tavaal_jax.data.image_ops import image_hw, resize_image, resize_mask
from tavaal_jax.data.mask_files import MaskFileSource, check_pairs, common_hw, relative
from tavaal_jax.data.tfds_source import TfdsSource, open_tfds
from tavaal_jax.errors import DataError

TFDS_NAME = "cityscapes/semantic_segmentation"
# (labelId, name) of the 19 evaluated classes, in train-id order (cityscapesScripts).
TRAIN_CLASSES = (
    (7, "road"), (8, "sidewalk"), (11, "building"), (12, "wall"), (13, "fence"),
    (17, "pole"), (19, "traffic light"), (20, "traffic sign"), (21, "vegetation"),
    (22, "terrain"), (23, "sky"), (24, "person"), (25, "rider"), (26, "car"),
    (27, "truck"), (28, "bus"), (31, "train"), (32, "motorcycle"), (33, "bicycle"))
CLASS_NAMES = tuple(name for _, name in TRAIN_CLASSES)
# uint8 [256]: labelId -> train id, IGNORE_LABEL for every id that is not evaluated.
LABEL_ID_TO_TRAIN_ID = np.full(256, IGNORE_LABEL, np.uint8)
for _train_id, (_label_id, _) in enumerate(TRAIN_CLASSES):
  LABEL_ID_TO_TRAIN_ID[_label_id] = _train_id
# Per-channel (mean, std) on the [0, 1] scale of the train split (DRN's datasets/cityscapes
# info.json), so that opening the dataset does not decode thousands of 2-megapixel PNGs.
MEAN = (0.29010095, 0.32808145, 0.28696394)
STD = (0.18295405, 0.18656561, 0.18447509)
# Our split name -> the official folder / the TFDS split.
SPLITS = {"train": ("train", "train"), "test": ("val", "validation")}
_IMAGE_SUFFIX = "_leftImg8bit.png"
_MASK_SUFFIX = "_gtFine_labelIds.png"
_DOWNLOAD = (
    "download leftImg8bit_trainvaltest.zip and gtFine_trainvaltest.zip from "
    "https://www.cityscapes-dataset.com/downloads/ (free registration), unzip both into one "
    "folder ROOT (it then holds leftImg8bit/ and gtFine/) and pass --config.dataset.path=ROOT")

log = logging.getLogger(__name__)


def has_official_layout(root: str) -> bool:
  """Whether `root` holds leftImg8bit/ and gtFine/ with train and val splits."""
  return bool(root) and all(
      os.path.isdir(os.path.join(root, top, folder))
      for top in ("leftImg8bit", "gtFine") for folder in ("train", "val"))


def _list_pairs(root: str, folder: str):
  """(image files, mask files) of one official split, sorted by city then file name."""
  image_dir = os.path.join(root, "leftImg8bit", folder)
  mask_dir = os.path.join(root, "gtFine", folder)
  images, masks = [], []
  for city in sorted(d for d in os.listdir(image_dir)
                     if os.path.isdir(os.path.join(image_dir, d))):
    for name in sorted(f for f in os.listdir(os.path.join(image_dir, city))
                       if f.endswith(_IMAGE_SUFFIX)):
      mask = os.path.join(mask_dir, city, name[:-len(_IMAGE_SUFFIX)] + _MASK_SUFFIX)
      if not os.path.isfile(mask):
        raise DataError(
            f"image {relative(os.path.join(image_dir, city, name), root)} has no mask "
            f"{relative(mask, root)}; unzip gtFine_trainvaltest.zip into dataset.path too")
      images.append(os.path.join(image_dir, city, name))
      masks.append(mask)
  image_set = set(images)
  for city in sorted(d for d in os.listdir(mask_dir) if os.path.isdir(os.path.join(mask_dir, d))):
    for name in sorted(f for f in os.listdir(os.path.join(mask_dir, city))
                       if f.endswith(_MASK_SUFFIX)):
      image = os.path.join(image_dir, city, name[:-len(_MASK_SUFFIX)] + _IMAGE_SUFFIX)
      if image not in image_set:
        raise DataError(
            f"mask {relative(os.path.join(mask_dir, city, name), root)} has no image "
            f"{relative(image, root)}; unzip leftImg8bit_trainvaltest.zip into dataset.path too")
  if not images:
    raise DataError(f"{relative(image_dir, root)} under dataset.path {root!r} has no "
                    f"*{_IMAGE_SUFFIX} files; {_DOWNLOAD}")
  return images, masks


def _folder_sources(root: str, wanted_hw):
  """{'train', 'test'} -> MaskFileSource over the official layout under `root`."""
  pairs = {split: _list_pairs(root, folder) for split, (folder, _) in SPLITS.items()}
  headers = {split: check_pairs(images, masks, root) for split, (images, masks) in pairs.items()}
  hw = common_hw(pairs["train"][0] + pairs["test"][0], headers["train"] + headers["test"],
                 root, wanted_hw)
  return {split: MaskFileSource(images, masks, root, "RGB", hw, LABEL_ID_TO_TRAIN_ID)
          for split, (images, masks) in pairs.items()}


class CityscapesTfdsSource(TfdsSource):
  """A segmentation `ImageSource` over one split of TFDS `cityscapes/semantic_segmentation`.

  Records hold 'image_left' uint8 [1024, 2048, 3] and 'segmentation_label' uint8
  [1024, 2048, 1] of labelIds; `get` -> (uint8 [n, H, W, 3], train ids uint8 [n, H, W])
  at `hw`. `names` are '<split>[<index>]' (reading the record's image_id would decode it).
  """

  def __init__(self, data_source, split: str, hw: Tuple[int, int]):
    self._ds = data_source
    self._split = split
    self._batched = hasattr(data_source, "__getitems__")
    self._hw = (int(hw[0]), int(hw[1]))
    self.image_shape = self._hw + (3,)

  def get(self, indices):
    indices = [int(i) for i in np.asarray(indices, np.int64)]
    images = np.zeros((len(indices),) + self.image_shape, np.uint8)
    masks = np.zeros((len(indices),) + self._hw, np.uint8)
    for k, record in enumerate(self._records(indices)):
      images[k] = resize_image(np.asarray(record["image_left"], np.uint8), self._hw)
      label_ids = np.asarray(record["segmentation_label"], np.uint8)
      if label_ids.ndim == 3:  # [H, W, 1]
        label_ids = label_ids[..., 0]
      masks[k] = resize_mask(LABEL_ID_TO_TRAIN_ID[label_ids], self._hw)
    return images, masks

  def labels(self):
    return None


def _tfds_sources(data_dir: str, wanted_hw):
  """{'train', 'test'} -> CityscapesTfdsSource; DataError (from open_tfds) if not prepared."""
  opened = {split: open_tfds(TFDS_NAME, tfds_split, data_dir)
            for split, (_, tfds_split) in SPLITS.items()}
  shape = tuple(opened["train"].dataset_info.features["image_left"].shape)
  hw = wanted_hw or (int(shape[0]), int(shape[1]))
  return {split: CityscapesTfdsSource(source, SPLITS[split][1], hw)
          for split, source in opened.items()}


@DATASETS.register("cityscapes", task="segmentation")
def build_cityscapes(dataset_config) -> Dataset:
  """Cityscapes from `dataset_config.path` (official layout) or TFDS (see the module docstring)."""
  root = dataset_config.get("path", "") or ""
  data_dir = dataset_config.get("data_dir", "") or ""
  wanted_hw = image_hw(dataset_config)
  if has_official_layout(root):
    sources = _folder_sources(os.path.abspath(root), wanted_hw)
  else:
    if root:
      log.warning("dataset.path %r lacks leftImg8bit/{train,val} and gtFine/{train,val}; "
                  "trying TFDS %s", root, TFDS_NAME)
    try:
      sources = _tfds_sources(data_dir, wanted_hw)
    except DataError as e:
      where = (f"dataset.path {root!r} lacks leftImg8bit/{{train,val}} and gtFine/{{train,val}}"
               if root else "dataset.path is empty")
      raise DataError(
          f"Cityscapes not found: {where}, and TFDS {TFDS_NAME} is not prepared in "
          f"dataset.data_dir {data_dir or '(the TFDS default)'!r}; {_DOWNLOAD}") from e
  return Dataset(name="cityscapes", train=sources["train"], test=sources["test"],
                 num_classes=len(CLASS_NAMES), mean=np.asarray(MEAN, np.float32),
                 std=np.asarray(STD, np.float32), class_names=list(CLASS_NAMES),
                 task="segmentation")
