"""Datasets: `load_dataset(config.dataset)` looks up `config.dataset.name` and builds it.

Registered names: the TFDS datasets (cifar10, cifar100, svhn_cropped, fashion_mnist,
caltech101), cifar10_imbalanced, digits (embedded, offline), npz and folder (the user's data);
segmentation (task 'segmentation', masks instead of labels): cityscapes, digits_segmentation
(embedded, offline) and segmentation_folder (the user's data). For the query rounds only:
image_pool (the user's images, partly labeled).
"""

from tavaal_jax.data.base import (
    IGNORE_LABEL, ArraySource, Dataset, ImageSource, MaskArraySource, SubsetSource)
from tavaal_jax.errors import ConfigError
from tavaal_jax.registry import Registry

DATASETS = Registry("dataset", "dataset.name")


def load_dataset(dataset_config) -> Dataset:
  """Builds the dataset named by `dataset_config.name` (a ConfigDict, see configs/cifar10.py)."""
  name = dataset_config.get("name", "")
  dataset = DATASETS.get(name)(dataset_config)
  declared = DATASETS.trait(name, "task", "classification")
  if dataset.task != declared:   # the config checks read the registration, the learner this
    raise RuntimeError(f"dataset {name!r} is registered with task={declared!r} but builds a "
                       f"{dataset.task!r} dataset")
  wanted = int(dataset_config.get("num_classes", 0) or 0)
  if wanted > 0 and wanted != dataset.num_classes:
    raise ConfigError(
        f"dataset.num_classes is {wanted} but {dataset.name!r} has {dataset.num_classes} "
        f"classes; set --config.dataset.num_classes=0 to infer it")
  return dataset


# Imported after DATASETS exists: each module registers its builders on import.
from tavaal_jax.data import (  # noqa: E402,F401
    cityscapes, digits, digits_segmentation, folder_source, image_pool, imbalance,
    npz_source, segmentation_folder, tfds_source)

__all__ = ["ArraySource", "DATASETS", "Dataset", "IGNORE_LABEL", "ImageSource", "MaskArraySource",
           "SubsetSource", "load_dataset"]
