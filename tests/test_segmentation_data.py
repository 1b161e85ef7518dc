"""Tests of the segmentation data: the Cityscapes reader (official layout and TFDS), the user's
segmentation_folder and each of its bad inputs, the embedded digits_segmentation, the
dataset.image_hw field, and the joint image/mask augmentation."""

import functools
import os

import jax
import ml_collections
import numpy as np
import PIL.Image
import pytest
import tensorflow_datasets as tfds

from tavaal_jax.data import IGNORE_LABEL, load_dataset
from tavaal_jax.data.augment import augment_pair
from tavaal_jax.data.cityscapes import CLASS_NAMES, LABEL_ID_TO_TRAIN_ID
from tavaal_jax.data.digits import digits_arrays, digits_split
from tavaal_jax.data.digits_segmentation import FOREGROUND_THRESHOLD, compose_canvases
from tavaal_jax.data.image_ops import image_hw, resize_image, resize_mask
from tavaal_jax.errors import ConfigError, DataError


def _config(**fields):
  return ml_collections.ConfigDict(fields)


def _png(path, array):
  os.makedirs(os.path.dirname(path), exist_ok=True)
  PIL.Image.fromarray(np.asarray(array, np.uint8)).save(path)


def _one_line_error(kind, config, *needles):
  with pytest.raises(kind) as caught:
    load_dataset(config)
  message = str(caught.value)
  assert "\n" not in message
  for needle in needles:
    assert needle in message, message
  return message


# ----------------------------------------------------------------------------------- image_hw

def test_image_hw_field():
  assert image_hw(_config()) is None
  assert image_hw(_config(image_hw=())) is None
  assert image_hw(_config(image_hw=(0, 0))) is None
  assert image_hw(_config(image_hw=(16, 32))) == (16, 32)
  for bad in ((16,), (16, -2), (0, 8), (1.5, 2), "16,32"):
    with pytest.raises(ConfigError, match=r"dataset.image_hw.*--config.dataset.image_hw=H,W"):
      image_hw(_config(image_hw=bad))
  with pytest.raises(ConfigError, match=r"dataset.image_size=64 does not apply to "
                     r"'cityscapes'; set --config.dataset.image_size=0 and "
                     r"--config.dataset.image_hw=H,W"):
    image_hw(_config(name="cityscapes", image_size=64, image_hw=(16, 32)))


# --------------------------------------------------------------------------------- cityscapes

# The labelIds the tiny tree's masks draw from, and their train ids (cityscapesScripts).
LABEL_IDS = {0: 255, 1: 255, 6: 255, 7: 0, 8: 1, 9: 255, 11: 2, 21: 8, 23: 10, 24: 11, 26: 13,
             29: 255, 33: 18}
CITY_FILES = {"train": [("aachen", "aachen_000000_000019"), ("aachen", "aachen_000001_000019"),
                        ("bochum", "bochum_000000_000313")],
              "val": [("frankfurt", "frankfurt_000000_000294"),
                      ("lindau", "lindau_000000_000019")]}


def _cityscapes_tree(root, h=16, w=32):
  """The official layout with 16x32 PNGs; -> {split: [(image, labelIds)]} in reading order."""
  rng = np.random.default_rng(0)
  written = {}
  for folder, files in CITY_FILES.items():
    written[folder] = []
    for city, stem in files:
      image = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
      label_ids = rng.choice(sorted(LABEL_IDS), (h, w)).astype(np.uint8)
      _png(os.path.join(root, "leftImg8bit", folder, city, f"{stem}_leftImg8bit.png"), image)
      _png(os.path.join(root, "gtFine", folder, city, f"{stem}_gtFine_labelIds.png"),
           label_ids)
      # What the release also ships next to labelIds; the reader must ignore these.
      _png(os.path.join(root, "gtFine", folder, city, f"{stem}_gtFine_color.png"), image)
      written[folder].append((image, label_ids))
  return written


def test_label_table_is_the_official_one():
  assert len(CLASS_NAMES) == 19 and CLASS_NAMES[0] == "road" and CLASS_NAMES[18] == "bicycle"
  for label_id, train_id in LABEL_IDS.items():
    assert LABEL_ID_TO_TRAIN_ID[label_id] == train_id
  assert sorted(set(LABEL_ID_TO_TRAIN_ID.tolist()) - {255}) == list(range(19))


def test_cityscapes_reads_the_official_layout(tmp_path):
  written = _cityscapes_tree(str(tmp_path))
  ds = load_dataset(_config(name="cityscapes", path=str(tmp_path), data_dir=""))
  assert ds.task == "segmentation" and ds.num_classes == 19
  assert list(ds.class_names) == list(CLASS_NAMES)
  assert ds.image_shape == (16, 32, 3) and ds.mean.shape == ds.std.shape == (3,)
  assert len(ds.train) == 3 and len(ds.test) == 2  # test = the official val split
  assert ds.train.labels() is None
  assert ds.train.names([2, 0]) == [
      "leftImg8bit/train/bochum/bochum_000000_000313_leftImg8bit.png",
      "leftImg8bit/train/aachen/aachen_000000_000019_leftImg8bit.png"]
  for source, folder in ((ds.train, "train"), (ds.test, "val")):
    order = np.arange(len(source))[::-1]
    images, masks = source.get(order)
    assert images.dtype == masks.dtype == np.uint8 and masks.shape == images.shape[:3]
    for k, i in enumerate(order):
      image, label_ids = written[folder][i]
      np.testing.assert_array_equal(images[k], image)
      expected = np.vectorize(LABEL_IDS.get)(label_ids)  # labelIds -> train ids, 255 ignored
      np.testing.assert_array_equal(masks[k], expected)
  assert {0, 13, 18, IGNORE_LABEL} <= set(np.unique(ds.train.get([0, 1, 2])[1]).tolist())


def test_cityscapes_resizes_to_image_hw(tmp_path):
  written = _cityscapes_tree(str(tmp_path))
  ds = load_dataset(_config(name="cityscapes", path=str(tmp_path), image_hw=(8, 12)))
  assert ds.image_shape == (8, 12, 3)
  images, masks = ds.train.get([1])
  image, label_ids = written["train"][1]
  np.testing.assert_array_equal(images[0], resize_image(image, (8, 12)))
  # Nearest: every resized pixel is one of the mask's own train ids, never a blend.
  np.testing.assert_array_equal(masks[0], resize_mask(LABEL_ID_TO_TRAIN_ID[label_ids], (8, 12)))


def test_cityscapes_bad_trees(tmp_path):
  _cityscapes_tree(str(tmp_path))
  mask = tmp_path / "gtFine/val/lindau/lindau_000000_000019_gtFine_labelIds.png"
  os.rename(mask, str(mask) + ".bak")
  _one_line_error(DataError, _config(name="cityscapes", path=str(tmp_path)),
                  "image leftImg8bit/val/lindau/lindau_000000_000019_leftImg8bit.png has no "
                  "mask gtFine/val/lindau/lindau_000000_000019_gtFine_labelIds.png")
  _png(str(mask), np.zeros((16, 31), np.uint8))
  _one_line_error(DataError, _config(name="cityscapes", path=str(tmp_path)),
                  "gtFine/val/lindau/lindau_000000_000019_gtFine_labelIds.png is 31x16",
                  "is 32x16", "a mask must have its image's size")


def test_cityscapes_missing_everywhere_says_where_to_download(tmp_path):
  empty = tmp_path / "tfds"
  empty.mkdir()
  for path in ("", str(tmp_path)):
    message = _one_line_error(
        DataError, _config(name="cityscapes", path=path, data_dir=str(empty)),
        "https://www.cityscapes-dataset.com/downloads/", "leftImg8bit_trainvaltest.zip",
        "gtFine_trainvaltest.zip", "--config.dataset.path=ROOT",
        "cityscapes/semantic_segmentation")
    assert ("dataset.path is empty" in message) == (path == "")


def test_cityscapes_from_tfds_mock_data():
  with tfds.testing.mock_data(num_examples=3, policy=tfds.testing.MockPolicy.USE_CODE):
    ds = load_dataset(_config(name="cityscapes", path="", data_dir="", image_hw=(16, 32)))
    raw = {split: tfds.data_source("cityscapes/semantic_segmentation", split=split)
           for split in ("train", "validation")}
  assert ds.task == "segmentation" and ds.num_classes == 19 and ds.image_shape == (16, 32, 3)
  assert ds.train.labels() is None and ds.test.names([2]) == ["validation[2]"]
  for source, split in ((ds.train, "train"), (ds.test, "validation")):
    assert len(source) == 3
    images, masks = source.get([2, 0])
    for k, i in enumerate((2, 0)):
      record = raw[split][i]
      # mock_data's records are full-size (1024 x 2048), random labelIds 0..254.
      np.testing.assert_array_equal(images[k], resize_image(record["image_left"], (16, 32)))
      label_ids = np.asarray(record["segmentation_label"])[..., 0]
      np.testing.assert_array_equal(masks[k],
                                    resize_mask(LABEL_ID_TO_TRAIN_ID[label_ids], (16, 32)))
      assert set(np.unique(masks[k]).tolist()) <= set(range(19)) | {IGNORE_LABEL}


# ------------------------------------------------------------------------ segmentation_folder

def _segmentation_folder(root, sizes=None):
  """train: a, b, c; test: d, e; 8x6 RGB images; masks of ids 0..2 and 255."""
  rng = np.random.default_rng(1)
  written = {}
  for split, stems in (("train", "abc"), ("test", "de")):
    for stem in stems:
      h, w = (sizes or {}).get(stem, (6, 8))
      image = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
      mask = rng.choice([0, 1, 2, IGNORE_LABEL], (h, w)).astype(np.uint8)
      mask[0, 0] = 2  # every mask holds the largest id
      _png(os.path.join(root, split, "images", f"{stem}.png"), image)
      _png(os.path.join(root, split, "masks", f"{stem}.png"), mask)
      written[stem] = (image, mask)
  return written


def test_segmentation_folder_reads_pairs(tmp_path):
  written = _segmentation_folder(str(tmp_path))
  ds = load_dataset(_config(name="segmentation_folder", path=str(tmp_path), num_classes=0))
  assert ds.task == "segmentation" and ds.num_classes == 3 and ds.class_names == ["0", "1", "2"]
  assert ds.image_shape == (6, 8, 3) and len(ds.train) == 3 and len(ds.test) == 2
  assert ds.train.names([2, 0]) == ["train/images/c.png", "train/images/a.png"]
  images, masks = ds.test.get([1, 0])
  for k, stem in enumerate("ed"):
    np.testing.assert_array_equal(images[k], written[stem][0])
    np.testing.assert_array_equal(masks[k], written[stem][1])
  # classes.txt names the classes (and may name more than the masks use).
  (tmp_path / "classes.txt").write_text("sky\nroad\n\ncar\nperson\n")
  ds = load_dataset(_config(name="segmentation_folder", path=str(tmp_path), image_hw=(3, 4)))
  assert ds.num_classes == 4 and ds.class_names == ["sky", "road", "car", "person"]
  assert ds.image_shape == (3, 4, 3)
  np.testing.assert_array_equal(ds.train.get([0])[1][0], resize_mask(written["a"][1], (3, 4)))


def test_segmentation_folder_bad_inputs(tmp_path):
  root = str(tmp_path)
  written = _segmentation_folder(root)
  config = _config(name="segmentation_folder", path=root)

  _png(os.path.join(root, "train/images/f.png"), written["a"][0])   # an image without a mask
  _one_line_error(DataError, config, "image train/images/f.png has no mask train/masks/f.png",
                  "add its mask or remove the image")
  os.remove(os.path.join(root, "train/images/f.png"))

  _png(os.path.join(root, "test/masks/g.png"), written["d"][1])     # a mask without an image
  _one_line_error(DataError, config, "mask test/masks/g.png has no image in test/images/",
                  "add the image or remove the mask")
  os.remove(os.path.join(root, "test/masks/g.png"))

  _png(os.path.join(root, "train/masks/b.png"), np.zeros((6, 7), np.uint8))  # wrong size
  _one_line_error(DataError, config, "mask train/masks/b.png is 7x6 but its image "
                  "train/images/b.png is 8x6 (WxH)")
  _png(os.path.join(root, "train/masks/b.png"), written["b"][1])

  bad = written["e"][1].copy()
  bad[1, 1] = 7                                                     # an id out of range
  _png(os.path.join(root, "test/masks/e.png"), bad)
  _one_line_error(DataError, _config(name="segmentation_folder", path=root, num_classes=3),
                  "mask test/masks/e.png has class id 7, outside 0..2 (dataset.num_classes=3)",
                  "not the ignore value 255")
  (tmp_path / "classes.txt").write_text("a\nb\nc\n")
  _one_line_error(DataError, config, "class id 7, outside 0..2 (classes.txt names 3 classes)")
  os.remove(tmp_path / "classes.txt")
  _png(os.path.join(root, "test/masks/e.png"), written["e"][1])

  _png(os.path.join(root, "train/masks/c.png"), written["c"][0])    # an RGB mask
  _one_line_error(DataError, config, "mask train/masks/c.png has Pillow mode 'RGB'",
                  "single-channel")
  _png(os.path.join(root, "train/masks/c.png"), written["c"][1])

  load_dataset(config)  # repaired: loads again


def test_segmentation_folder_sizes_and_layout(tmp_path):
  root = str(tmp_path)
  _segmentation_folder(root, sizes={"b": (5, 9)})
  _one_line_error(DataError, _config(name="segmentation_folder", path=root),
                  "have different sizes", "--config.dataset.image_hw=H,W")
  ds = load_dataset(_config(name="segmentation_folder", path=root, image_hw=(4, 4)))
  assert ds.train.get([0, 1, 2])[0].shape == (3, 4, 4, 3)
  _one_line_error(DataError, _config(name="segmentation_folder", path=str(tmp_path / "none")),
                  "is not a folder", "--config.dataset.path=DIR", "train,test}/masks")
  os.rename(os.path.join(root, "test/masks"), os.path.join(root, "test/labels"))
  _one_line_error(DataError, _config(name="segmentation_folder", path=root),
                  "has no test/masks/ folder")


# ------------------------------------------------------------------------ digits_segmentation

@pytest.fixture(scope="module")
def digits_canvases():
  return load_dataset(_config(name="digits_segmentation"))


def test_digits_segmentation_defaults(digits_canvases):
  ds = digits_canvases
  assert ds.task == "segmentation" and ds.num_classes == 11
  assert ds.class_names == ["background"] + [str(d) for d in range(10)]
  assert ds.image_shape == (48, 48, 1) and len(ds.train) == 800 and len(ds.test) == 200
  assert ds.train.labels() is None
  _, masks = ds.train.get(np.arange(800))
  assert set(np.unique(masks).tolist()) == set(range(11))  # background and every digit


def test_digits_segmentation_masks_agree_with_the_digits(digits_canvases):
  _, labels = digits_arrays(8)
  train_split, test_split = digits_split(labels)
  for source, split in ((digits_canvases.train, train_split), (digits_canvases.test, test_split)):
    images, masks = source.get(np.arange(len(source)))
    # Digits never overlap and the canvas is black, so a pixel is labelled iff it is bright.
    np.testing.assert_array_equal(masks != 0, images[..., 0] >= FOREGROUND_THRESHOLD)
    for name, mask in zip(source.names(np.arange(len(source))), masks):
      used = [int(j) for j in name.split("load_digits[")[1].rstrip("]").split(",")]
      assert len(used) == 3 and set(used) <= set(split.tolist())  # the split's own digits
      assert set(np.unique(mask).tolist()) - {0} <= {int(labels[j]) + 1 for j in used}


def test_digits_segmentation_is_fixed(digits_canvases):
  # Same data in every call, whatever else the config holds: a 40-canvas build is the
  # start of the default 800 (the canvases come from one fixed stream).
  small = load_dataset(_config(name="digits_segmentation", train_size=40, test_size=10,
                               seed=123))
  for a, b in ((small.train, digits_canvases.train), (small.test, digits_canvases.test)):
    n = len(a)
    for x, y in zip(a.get(np.arange(n)), b.get(np.arange(n))):
      np.testing.assert_array_equal(x, y)
    assert a.names(np.arange(n)) == b.names(np.arange(n))


def test_compose_canvases_places_each_digit_in_its_own_cell():
  digits = np.zeros((4, 4, 4), np.uint8)
  digits[:, 1:3, 1:3] = 255
  digits[:, 0, 0] = FOREGROUND_THRESHOLD - 1  # faint: drawn but background
  labels = np.array([0, 1, 2, 3])
  images, masks, used = compose_canvases(digits, labels, 20, 8, 4, np.random.default_rng(0))
  assert images.shape == (20, 8, 8, 1) and masks.shape == (20, 8, 8)
  for image, mask, row in zip(images, masks, used):
    assert sorted(row.tolist()) == [0, 1, 2, 3]       # 4 cells of 4 px: all four, apart
    assert np.bincount(mask.ravel(), minlength=5).tolist() == [48, 4, 4, 4, 4]
    assert (image[..., 0] == FOREGROUND_THRESHOLD - 1).sum() == 4


def test_digits_segmentation_bad_sizes():
  with pytest.raises(ConfigError, match=r"dataset.digits_per_image=5 .* \(at most 4\)"):
    load_dataset(_config(name="digits_segmentation", digits_per_image=5))
  with pytest.raises(ConfigError, match="dataset.digit_size=60 is larger than the canvas"):
    load_dataset(_config(name="digits_segmentation", digit_size=60))
  with pytest.raises(ConfigError, match="dataset.train_size"):
    load_dataset(_config(name="digits_segmentation", train_size=-1))


# ------------------------------------------------------------------------------ augment_pair

def _coordinate_batch(b=6, h=12, w=15):
  """Images whose pixels hold (row + 1, col + 1, sample) and masks holding row * 16 + col."""
  rows, cols = np.meshgrid(np.arange(h), np.arange(w), indexing="ij")
  images = np.stack([np.broadcast_to(rows + 1, (b, h, w)), np.broadcast_to(cols + 1, (b, h, w)),
                     np.broadcast_to(np.arange(b)[:, None, None], (b, h, w))], -1)
  masks = np.broadcast_to(rows * 16 + cols, (b, h, w))
  return images.astype(np.uint8), masks.astype(np.uint8)


def test_augment_pair_keeps_every_mask_pixel_on_its_image_pixel():
  images, masks = _coordinate_batch()
  augment = jax.jit(functools.partial(augment_pair, crop_hw=(10, 12), crop_padding=3, flip=True))
  flipped_any = unflipped_any = False
  for seed in range(4):
    x, m = augment(jax.random.key(seed), images, masks)
    x, m = np.asarray(x), np.asarray(m)
    assert x.shape == (6, 10, 12, 3) and x.dtype == np.float32
    assert m.shape == (6, 10, 12) and m.dtype == np.int32
    padding = m == IGNORE_LABEL
    assert padding.any()
    # Padding: black image pixels under ignored mask pixels.
    assert (x[padding] == 0).all()
    inside = ~padding
    np.testing.assert_array_equal(x[..., 0][inside] - 1, m[inside] // 16)
    np.testing.assert_array_equal(x[..., 1][inside] - 1, m[inside] % 16)
    sample_ids = np.broadcast_to(np.arange(6)[:, None, None], (6, 10, 12))
    np.testing.assert_array_equal(x[..., 2][inside], sample_ids[inside])  # its own image
    for sample in range(6):  # a rigid window: columns step by +1 (kept) or -1 (mirrored)
      cols = x[sample, ..., 1][inside[sample]].reshape(-1)
      steps = np.diff(x[sample, ..., 1], axis=1)[inside[sample][:, 1:] & inside[sample][:, :-1]]
      assert len(cols) and len(set(steps.tolist())) == 1
      flipped_any |= steps[0] == -1
      unflipped_any |= steps[0] == 1
  assert flipped_any and unflipped_any


def test_augment_pair_defaults_are_the_identity_and_crop_must_fit():
  images, masks = _coordinate_batch()
  x, m = augment_pair(jax.random.key(0), images, masks)
  np.testing.assert_array_equal(x, images.astype(np.float32))
  np.testing.assert_array_equal(m, masks.astype(np.int32))
  x, m = augment_pair(jax.random.key(0), images, masks, crop_hw=(12, 15), crop_padding=0)
  np.testing.assert_array_equal(m, masks)
  with pytest.raises(ValueError, match="does not fit"):
    augment_pair(jax.random.key(0), images, masks, crop_hw=(13, 15))
