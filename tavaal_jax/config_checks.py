"""Checks a config before anything is loaded or trained, so bad input fails in one line."""

from typing import Iterable

import ml_collections

from tavaal_jax.errors import ConfigError

# Fields that must hold positive integers.
POSITIVE_INTS = ("trials", "al.initial", "al.budget", "al.stages", "al.subset",
                 "train.epochs", "train.batch_size", "train.eval_batch_size", "model.width")
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


def check_pool_size(config: ml_collections.ConfigDict, train_size: int) -> None:
  """The whole protocol must fit in the training pool."""
  needed = config.al.initial + (config.al.stages - 1) * config.al.budget
  if needed > train_size:
    raise ConfigError(
        f"al.initial + (al.stages - 1) * al.budget = {config.al.initial} + "
        f"({config.al.stages} - 1) * {config.al.budget} = {needed} exceeds the "
        f"{train_size} training images of {config.dataset.name!r}; "
        "lower al.initial, al.budget or al.stages")
