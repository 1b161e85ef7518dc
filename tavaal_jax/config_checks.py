"""Checks a config before anything is loaded or trained, so bad input fails in one line."""

from typing import Iterable

import jax
import ml_collections

from tavaal_jax.errors import ConfigError

# Fields that must hold positive integers.
POSITIVE_INTS = ("trials", "al.initial", "al.budget", "al.stages", "al.subset",
                 "train.epochs", "train.batch_size", "train.eval_batch_size", "model.width",
                 "strategy.batch_size")
NON_NEGATIVE_INTS = ("seed", "dataset.image_size", "dataset.augment.crop_padding")
STRINGS = ("dataset.name", "model.name", "strategy.name", "optimizer.name",
           "optimizer.schedule.name")
NUMBERS = ("optimizer.learning_rate", "optimizer.weight_decay")


def lookup(config: ml_collections.ConfigDict, field: str):
  """config['a.b.c'] with a ConfigError naming the field when it is missing."""
  node = config
  for part in field.split("."):
    if part not in node:
      raise ConfigError(f"config field {field} is missing; add it to the config "
                        "(see configs/cifar10.py for every field and its default)")
    node = node[part]
  return node


def _check_types(config, fields: Iterable[str], types, description: str) -> None:
  for field in fields:
    value = lookup(config, field)
    if isinstance(value, bool) or not isinstance(value, types):
      raise ConfigError(f"{field}={value!r} has type {type(value).__name__}; "
                        f"it must be {description}")


def check_config(config: ml_collections.ConfigDict) -> None:
  """Types, sizes and names; everything that can be checked without the data."""
  # Imported here so that the registries are filled when the check runs.
  from tavaal_jax.data import DATASETS
  from tavaal_jax.models import MODELS
  from tavaal_jax.strategies import STRATEGIES
  from tavaal_jax.optim import make_optimizer

  _check_types(config, POSITIVE_INTS + NON_NEGATIVE_INTS, int, "an integer")
  _check_types(config, STRINGS, str, "a string")
  _check_types(config, NUMBERS, (int, float), "a number")
  for field in POSITIVE_INTS:
    if lookup(config, field) <= 0:
      raise ConfigError(f"{field}={lookup(config, field)} must be positive")
  for field in NON_NEGATIVE_INTS:
    if lookup(config, field) < 0:
      raise ConfigError(f"{field}={lookup(config, field)} must be >= 0")
  if config.al.budget > config.al.subset:
    raise ConfigError(
        f"al.budget={config.al.budget} is larger than the candidate subset "
        f"al.subset={config.al.subset}; raise al.subset or lower al.budget")
  DATASETS.get(config.dataset.name)
  MODELS.get(config.model.name)
  STRATEGIES.get(config.strategy.name)
  if config.model.get("dtype", "float32") not in ("float32", "bfloat16"):
    raise ConfigError(f"model.dtype={config.model.dtype!r}; use 'float32' or 'bfloat16'")
  make_optimizer(config.optimizer, steps_per_epoch=1, epochs=config.train.epochs)
  check_task_fit(config)
  check_strategy_config(config)
  check_batch_sizes(config, jax.device_count())


# Settings that only a segmentation dataset uses (a classification one has no masks to
# crop with its images, and is resized with dataset.image_size).
SEGMENTATION_SETTINGS = ("dataset.image_hw", "dataset.augment.crop_hw")


def dataset_task(config: ml_collections.ConfigDict) -> str:
  """The task of config.dataset.name as its registration declares it ('classification'
  unless it says task='segmentation')."""
  from tavaal_jax.data import DATASETS
  return DATASETS.trait(config.dataset.name, "task", "classification")


def check_task_fit(config: ml_collections.ConfigDict) -> None:
  """The model, the strategy and the settings fit the dataset's task (registry traits:
  a model's task=..., a strategy's tasks=(...))."""
  from tavaal_jax.models import MODELS
  from tavaal_jax.strategies import STRATEGIES
  task = dataset_task(config)
  model_task = MODELS.trait(config.model.name, "task", "classification")
  if model_task != task:
    raise ConfigError(
        f"model.name={config.model.name!r} is a {model_task} network but "
        f"dataset.name={config.dataset.name!r} is a {task} dataset; use one of: "
        f"{', '.join(MODELS.names_where('task', task, 'classification'))}")
  tasks = STRATEGIES.trait(config.strategy.name, "tasks", None)
  if tasks is not None and task not in tasks:
    raise ConfigError(
        f"strategy.name={config.strategy.name!r} works on {' and '.join(tasks)} only, but "
        f"dataset.name={config.dataset.name!r} is a {task} dataset; choose another strategy")
  if task != "segmentation":
    for field in SEGMENTATION_SETTINGS:
      value = _get(config, field)
      if value not in (None, (), [], 0, (0, 0)):
        raise ConfigError(
            f"{field}={value!r} is a segmentation setting but dataset.name="
            f"{config.dataset.name!r} is a {task} dataset; remove it (classification "
            "images are sized by dataset.image_size and cropped by "
            "dataset.augment.crop_padding)")


def _get(config: ml_collections.ConfigDict, field: str):
  """config['a.b'] or None when a part is missing (optional fields)."""
  node = config
  for part in field.split("."):
    if not hasattr(node, "get") or part not in node:
      return None
    node = node[part]
  return node


def check_batch_sizes(config: ml_collections.ConfigDict, num_devices: int) -> None:
  """Every training batch is split evenly over the devices (and hosts) in use.

  Only the batch sizes that shape the optimisation are checked: train.batch_size, and
  vae.batch_size when the strategy trains an adversary. Evaluation and scoring batches
  (train.eval_batch_size, strategy.batch_size) are rounded up to a multiple of the devices
  where they are used (`parallel.device_multiple`), so any positive size runs.
  """
  from tavaal_jax.strategies import uses_adversary
  fields = ["train.batch_size"]
  if uses_adversary(config):
    fields.append("vae.batch_size")
  for field in fields:
    value = lookup(config, field)
    if value % num_devices:
      raise ConfigError(
          f"{field}={value} is not divisible by the {num_devices} devices in use; set it "
          f"to a multiple of {num_devices} (e.g. {max(1, value // num_devices) * num_devices})")


def check_strategy_config(config: ml_collections.ConfigDict) -> None:
  """What the chosen strategy needs, as its registration declares: a trained ranker, the
  backbone's embedding, a VAE that fits, and its own fields (its `check`)."""
  from tavaal_jax import adversary_config
  from tavaal_jax.learner import RankerLoss
  from tavaal_jax.models import MODELS
  from tavaal_jax.strategies import (STRATEGIES, needs_embedding, needs_ranker, uses_adversary,
                                     uses_ranker)

  name = config.strategy.name
  if uses_ranker(config):
    RankerLoss.from_config(config.ranker)  # unknown ranker.loss, negative weights
    if config.train.batch_size % 2:
      raise ConfigError(f"train.batch_size={config.train.batch_size} is odd; the ranking "
                        "loss pairs a batch as (i, B-1-i), so it must be even")
  if needs_ranker(config) and not config.ranker.weight > 0:
    raise ConfigError(f"strategy.name={name!r} needs a trained ranker, but "
                      f"ranker.weight={config.ranker.weight} gives it no training signal; "
                      "set ranker.weight > 0 (the paper uses 1)")
  if needs_embedding(config) and not MODELS.trait(config.model.name, "embedding"):
    task = dataset_task(config)
    with_embedding = [m for m in MODELS.names_where("task", task, "classification")
                      if MODELS.trait(m, "embedding")]
    raise ConfigError(f"strategy.name={name!r} selects on the backbone's pooled embedding, "
                      f"but model.name={config.model.name!r} has none; use one of "
                      f"{', '.join(with_embedding)}")
  check = STRATEGIES.trait(name, "check", None)
  if check is not None:
    check(config)
  if uses_adversary(config):
    adversary_config.check_config(config)


def check_dataset_fit(config: ml_collections.ConfigDict, dataset) -> None:
  """What can only be checked once the data is known: the pool size, the VAE's input size."""
  check_pool_size(config, len(dataset.train))
  check_image_fit(config, dataset.image_shape)


def check_image_fit(config: ml_collections.ConfigDict, image_shape) -> None:
  """What the images' shape [H, W, C] must fit: the VAE's input size (vaal, tavaal)."""
  from tavaal_jax import adversary_config
  from tavaal_jax.strategies import uses_adversary
  if uses_adversary(config):
    adversary_config.check_config(config, image_shape=image_shape)


def check_pool_size(config: ml_collections.ConfigDict, train_size: int) -> None:
  """The whole protocol must fit in the training pool."""
  needed = config.al.initial + (config.al.stages - 1) * config.al.budget
  if needed > train_size:
    raise ConfigError(
        f"al.initial + (al.stages - 1) * al.budget = {config.al.initial} + "
        f"({config.al.stages} - 1) * {config.al.budget} = {needed} exceeds the "
        f"{train_size} training images of {config.dataset.name!r}; "
        "lower al.initial, al.budget or al.stages")
