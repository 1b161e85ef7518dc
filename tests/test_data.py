"""Tests of the data sources: TFDS (mocked and a real tiny ArrayRecord dataset), the imbalance
subsampling, digits, npz and folder, and the error message of every bad input."""

import os

import ml_collections
import numpy as np
import PIL.Image
import pytest
import tensorflow_datasets as tfds

from tavaal_jax.data import DATASETS, load_dataset
from tavaal_jax.data.image_ops import resize_center_crop
from tavaal_jax.data.imbalance import imbalanced_indices
from tavaal_jax.data.tfds_source import TfdsSource
from tavaal_jax.errors import ConfigError, DataError


def _config(**fields):
  return ml_collections.ConfigDict(fields)


def _mock():
  return tfds.testing.mock_data(num_examples=16, policy=tfds.testing.MockPolicy.USE_CODE)


# ---------------------------------------------------------------------------------------- TFDS

TFDS_CASES = {  # name -> (image_shape, num_classes)
    "cifar10": ((32, 32, 3), 10),
    "cifar100": ((32, 32, 3), 100),
    "svhn_cropped": ((32, 32, 3), 10),
    "fashion_mnist": ((28, 28, 1), 10),
    "caltech101": ((224, 224, 3), 102),
}


@pytest.mark.parametrize("name", sorted(TFDS_CASES))
def test_tfds_mock_reads_back_the_records(name):
  shape, num_classes = TFDS_CASES[name]
  with _mock():
    ds = load_dataset(_config(name=name, data_dir="", image_size=0))
    raw = {split: tfds.data_source(name, split=split, download=False)
           for split in ("train", "test")}
  assert ds.name == name and ds.num_classes == num_classes
  assert ds.image_shape == shape and ds.test.image_shape == shape
  assert ds.mean.shape == ds.std.shape == (shape[-1],)
  for split, source in (("train", ds.train), ("test", ds.test)):
    assert len(source) == 16
    indices = np.array([3, 0, 15, 3])
    images, labels = source.get(indices)
    assert images.dtype == np.uint8 and images.shape == (4,) + shape
    assert labels.dtype == np.int32
    for k, i in enumerate(indices):
      record = raw[split][int(i)]
      expected = np.asarray(record["image"])
      if name == "caltech101":  # variable size: resized and center-cropped to 224
        expected = resize_center_crop(expected, 224)
      np.testing.assert_array_equal(images[k], expected)
      assert labels[k] == record["label"]
    all_labels = source.labels()
    assert all_labels.dtype == np.int32 and all_labels.shape == (16,)
    np.testing.assert_array_equal(all_labels[indices], labels)
    assert source.names([3, 0]) == [f"{split}[3]", f"{split}[0]"]


def test_tfds_image_size_resizes():
  with _mock():
    ds = load_dataset(_config(name="caltech101", image_size=64))
  images, _ = ds.train.get([1, 2])
  assert images.shape == (2, 64, 64, 3) and ds.image_shape == (64, 64, 3)


class TavaalTinyImages(tfds.core.GeneratorBasedBuilder):
  """A real (not mocked) TFDS dataset, written as ArrayRecord with PNG-encoded images."""

  VERSION = tfds.core.Version("1.0.0")

  def _info(self):
    return tfds.core.DatasetInfo(builder=self, features=tfds.features.FeaturesDict({
        "image": tfds.features.Image(shape=(8, 8, 3)),
        "label": tfds.features.ClassLabel(num_classes=4)}))

  def _split_generators(self, dl_manager):
    return {"train": self._generate_examples(40), "test": self._generate_examples(8)}

  def _generate_examples(self, n):
    rng = np.random.default_rng(n)
    for i in range(n):
      # A PIL image is PNG-encoded by Pillow; an array would need TensorFlow to encode.
      image = PIL.Image.fromarray(rng.integers(0, 256, (8, 8, 3), dtype=np.uint8))
      yield i, {"image": image, "label": i % 4}


def test_tfds_real_array_record(tmp_path):
  builder = TavaalTinyImages(data_dir=str(tmp_path), file_format="array_record")
  builder.download_and_prepare()
  raw = tfds.data_source("tavaal_tiny_images", split="train", data_dir=str(tmp_path),
                         download=False)
  source = TfdsSource(raw, "train")
  assert len(source) == 40 and source.image_shape == (8, 8, 3)
  images, labels = source.get(np.array([7, 2, 39]))
  assert source._batched  # the real data source reads a batch with __getitems__
  for k, i in enumerate([7, 2, 39]):
    np.testing.assert_array_equal(images[k], raw[i]["image"])
    assert labels[k] == raw[i]["label"]
  np.testing.assert_array_equal(source.labels(), [raw[i]["label"] for i in range(40)])
  assert TfdsSource(raw, "train", image_size=4).get([0])[0].shape == (1, 4, 4, 3)


def test_tfds_unprepared_dataset_says_how_to_fix(tmp_path):
  with pytest.raises(DataError) as info:
    load_dataset(_config(name="cifar10", data_dir=str(tmp_path)))
  message = str(info.value)
  for needed in ("'cifar10'", str(tmp_path), "dataset.data_dir", "tfds build cifar10",
                 "download=True", f"--config.dataset.data_dir={tmp_path}"):
    assert needed in message


# ----------------------------------------------------------------------------------- imbalance

def test_imbalanced_indices_counts():
  labels = np.tile(np.arange(10), 5000)  # 5000 per class, classes interleaved
  for ratio, even_kept in ((100, 50), (10, 500), (1, 5000)):
    keep = imbalanced_indices(labels, ratio)
    counts = np.bincount(labels[keep], minlength=10)
    np.testing.assert_array_equal(counts[0::2], even_kept)
    np.testing.assert_array_equal(counts[1::2], 5000)
    # the kept images of an even class are its first ones by index order
    np.testing.assert_array_equal(keep[labels[keep] == 4], np.flatnonzero(labels == 4)[:even_kept])
    assert np.all(np.diff(keep) > 0)


def test_imbalanced_indices_small_hand_made():
  labels = np.array([0, 1, 0, 2, 2, 0, 3, 1])
  keep = imbalanced_indices(labels, 2, per_class=2)  # 1 per even class
  np.testing.assert_array_equal(keep, [0, 1, 3, 6, 7])


@pytest.mark.parametrize("ratio", [0, -5])
def test_imbalance_ratio_must_be_positive(ratio):
  with pytest.raises(ConfigError, match="dataset.imbalance_ratio"):
    imbalanced_indices(np.arange(10), ratio)
  with pytest.raises(ConfigError, match="dataset.imbalance_ratio"):
    load_dataset(_config(name="cifar10_imbalanced", imbalance_ratio=ratio))


def test_cifar10_imbalanced_mock():
  with _mock():
    base = load_dataset(_config(name="cifar10"))
    ds = load_dataset(_config(name="cifar10_imbalanced", imbalance_ratio=5000))  # 1 per even
  labels = ds.train.labels()
  assert np.all(np.bincount(labels, minlength=10)[0::2] <= 1)
  keep = imbalanced_indices(base.train.labels(), 5000)
  assert len(ds.train) == len(keep) < 16 and len(ds.test) == 16
  np.testing.assert_array_equal(ds.train.get([0])[0], base.train.get(keep[:1])[0])


# -------------------------------------------------------------------------------------- digits

def test_digits_fixed_split():
  a = load_dataset(_config(name="digits"))
  b = load_dataset(_config(name="digits", image_size=16))
  assert a.num_classes == 10 and a.image_shape == (16, 16, 1)
  assert len(a.train) + len(a.test) == 1797 and len(a.test) == 360
  train_names = a.train.names(np.arange(len(a.train)))
  test_names = a.test.names(np.arange(len(a.test)))
  assert not set(train_names) & set(test_names)
  assert train_names == b.train.names(np.arange(len(b.train)))
  np.testing.assert_array_equal(a.train.get([0, 5])[0], b.train.get([0, 5])[0])
  assert set(a.test.labels()) == set(range(10))  # stratified
  images, labels = a.train.get(np.arange(len(a.train)))
  assert images.dtype == np.uint8 and images.max() == 255 and labels.dtype == np.int32
  native = load_dataset(_config(name="digits", image_size=8))
  assert native.image_shape == (8, 8, 1)
  assert native.train.names([0]) == train_names[:1]


# ----------------------------------------------------------------------------------------- npz

def _write_npz(path, **arrays):
  np.savez(path, **arrays)
  return str(path)


def test_npz_reads_back(tmp_path):
  rng = np.random.default_rng(0)
  x_train = rng.integers(0, 256, (12, 5, 6, 3), dtype=np.uint8)
  x_test = rng.integers(0, 256, (4, 5, 6, 3), dtype=np.uint8)
  y_train, y_test = rng.integers(0, 3, 12), np.array([0, 1, 4, 2])
  path = _write_npz(tmp_path / "d.npz", x_train=x_train, y_train=y_train,
                    x_test=x_test, y_test=y_test)
  ds = load_dataset(_config(name="npz", path=path))
  assert ds.num_classes == 5 and ds.image_shape == (5, 6, 3)
  images, labels = ds.train.get([11, 0])
  np.testing.assert_array_equal(images, x_train[[11, 0]])
  np.testing.assert_array_equal(labels, y_train[[11, 0]])
  np.testing.assert_array_equal(ds.test.get(np.arange(4))[0], x_test)
  assert ds.train.names([11]) == ["x_train[11]"] and ds.test.names([2]) == ["x_test[2]"]
  np.testing.assert_allclose(ds.mean, (x_train / 255.0).mean((0, 1, 2)), atol=1e-6)
  np.testing.assert_allclose(ds.std, (x_train / 255.0).std((0, 1, 2)), atol=1e-5)
  assert load_dataset(_config(name="npz", path=path, num_classes=7)).num_classes == 7


def test_npz_grayscale_and_float(tmp_path):
  rng = np.random.default_rng(1)
  x_train = rng.integers(0, 256, (6, 4, 4), dtype=np.uint8)
  path = _write_npz(tmp_path / "g.npz", x_train=x_train / 255.0, y_train=np.arange(6) % 2,
                    x_test=x_train[:2], y_test=np.array([0, 1]))
  ds = load_dataset(_config(name="npz", path=path))
  assert ds.image_shape == (4, 4, 1)
  np.testing.assert_array_equal(ds.train.get(np.arange(6))[0][..., 0], x_train)


def test_npz_errors(tmp_path):
  with pytest.raises(DataError, match="dataset.path.*x_train"):
    load_dataset(_config(name="npz", path=str(tmp_path / "missing.npz")))
  with pytest.raises(DataError, match="dataset.path"):
    load_dataset(_config(name="npz"))
  x = np.zeros((2, 4, 4), np.uint8)
  path = _write_npz(tmp_path / "k.npz", x_train=x, y_train=np.zeros(2, int), x_test=x)
  with pytest.raises(DataError, match=r"lacks arrays \['y_test'\]"):
    load_dataset(_config(name="npz", path=path))
  path = _write_npz(tmp_path / "t.npz", x_train=x.astype(np.int64), y_train=np.zeros(2, int),
                    x_test=x, y_test=np.zeros(2, int))
  with pytest.raises(DataError, match="x_train has dtype int64; expected uint8"):
    load_dataset(_config(name="npz", path=path))
  path = _write_npz(tmp_path / "f.npz", x_train=x.astype(np.float32) + 3.0,
                    y_train=np.zeros(2, int), x_test=x, y_test=np.zeros(2, int))
  with pytest.raises(DataError, match="x_train has dtype float32"):
    load_dataset(_config(name="npz", path=path))


# -------------------------------------------------------------------------------------- folder

def _write_png(path, array):
  os.makedirs(os.path.dirname(path), exist_ok=True)
  PIL.Image.fromarray(array).save(path)


def _make_folder(root, shape=(6, 5, 3), seed=0):
  """Writes train/{cat,dog} (3 + 2 images) and test/cat (1 image); returns {relpath: array}."""
  rng = np.random.default_rng(seed)
  written = {}
  for rel in ("train/cat/a.png", "train/cat/b.PNG", "train/cat/c.png", "train/dog/x.png",
              "train/dog/y.png", "test/cat/t.png"):
    array = rng.integers(0, 256, shape, dtype=np.uint8)
    _write_png(os.path.join(root, rel), array)
    written[rel] = array
  with open(os.path.join(root, "train", "dog", "notes.txt"), "w") as f:
    f.write("not an image")
  return written


def test_folder_reads_back(tmp_path):
  written = _make_folder(tmp_path)
  ds = load_dataset(_config(name="folder", path=str(tmp_path)))
  assert ds.class_names == ["cat", "dog"] and ds.num_classes == 2
  assert ds.image_shape == (6, 5, 3) and len(ds.train) == 5 and len(ds.test) == 1
  indices = np.arange(5)
  images, labels = ds.train.get(indices)
  names = ds.train.names(indices)
  assert names == ["train/cat/a.png", "train/cat/b.PNG", "train/cat/c.png",
                   "train/dog/x.png", "train/dog/y.png"]
  np.testing.assert_array_equal(labels, [0, 0, 0, 1, 1])
  for image, name in zip(images, names):
    np.testing.assert_array_equal(image, written[name])
  np.testing.assert_array_equal(ds.test.get([0])[0][0], written["test/cat/t.png"])


def test_folder_grayscale_and_resize(tmp_path):
  written = _make_folder(tmp_path, shape=(6, 5))
  ds = load_dataset(_config(name="folder", path=str(tmp_path)))
  assert ds.image_shape == (6, 5, 1)
  np.testing.assert_array_equal(ds.train.get([3])[0][0, ..., 0], written["train/dog/x.png"])
  _write_png(str(tmp_path / "train" / "dog" / "big.png"), np.zeros((9, 12), np.uint8))
  ds = load_dataset(_config(name="folder", path=str(tmp_path), image_size=4))
  assert ds.image_shape == (4, 4, 1)
  assert ds.train.get(np.arange(len(ds.train)))[0].shape == (6, 4, 4, 1)


def test_folder_errors(tmp_path):
  with pytest.raises(DataError, match="dataset.path.*train/<class>"):
    load_dataset(_config(name="folder", path=str(tmp_path / "nope")))
  _make_folder(tmp_path)
  _write_png(str(tmp_path / "train" / "dog" / "big.png"),
             np.zeros((9, 12, 3), np.uint8))
  with pytest.raises(DataError) as info:
    load_dataset(_config(name="folder", path=str(tmp_path)))
  message = str(info.value)
  assert "train/cat/a.png is 5x6" in message and "train/dog/big.png is 12x9" in message
  assert "--config.dataset.image_size=N" in message
  os.makedirs(tmp_path / "test" / "bird")
  with pytest.raises(DataError, match="bird"):
    load_dataset(_config(name="folder", path=str(tmp_path), image_size=4))
  os.makedirs(tmp_path / "train" / "bird")
  with pytest.raises(DataError, match="no image files.*expected layout"):
    load_dataset(_config(name="folder", path=str(tmp_path), image_size=4))


def test_folder_missing_test_split(tmp_path):
  _write_png(str(tmp_path / "train" / "a" / "0.png"), np.zeros((4, 4, 3), np.uint8))
  with pytest.raises(DataError, match="no test/ folder.*expected layout"):
    load_dataset(_config(name="folder", path=str(tmp_path)))


# ------------------------------------------------------------------------------------- lookups

def test_unknown_dataset_lists_valid_names():
  with pytest.raises(ConfigError) as info:
    load_dataset(_config(name="imagenet"))
  message = str(info.value)
  assert "dataset.name" in message
  for name in ("cifar10", "cifar10_imbalanced", "digits", "npz", "folder", "caltech101"):
    assert name in message and name in DATASETS


def test_num_classes_mismatch_is_a_config_error():
  with pytest.raises(ConfigError, match="dataset.num_classes"):
    load_dataset(_config(name="digits", num_classes=7))
