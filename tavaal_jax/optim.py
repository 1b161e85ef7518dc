"""Optimizers and learning-rate schedules chosen by name in the config.

`optimizer.name` is any optax optimizer (`sgd`, `adamw`, `lamb`, ...), called as
`optax.<name>(learning_rate=<schedule>, **optimizer.kwargs)`. Schedules count in epochs in
the config and are converted to steps here, because the number of steps per epoch grows
with the labeled pool from stage to stage.
"""

import functools
import inspect
import json

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import optax

from tavaal_jax.errors import ConfigError

SCHEDULES = ("constant", "multistep", "cosine")


def _optax_optimizer(name: str):
  factory = getattr(optax, name, None) if not name.startswith("_") else None
  if factory is None or not callable(factory) or "learning_rate" not in _params(factory):
    raise ConfigError(
        f"optimizer.name={name!r} is not an optax optimizer; use e.g. "
        "'sgd', 'adam', 'adamw', 'lamb', 'lars', 'rmsprop'")
  return factory


def _params(fn):
  try:
    return inspect.signature(fn).parameters
  except (TypeError, ValueError):
    return {}


def make_schedule(schedule_config: ml_collections.ConfigDict, base_lr: float,
                  steps_per_epoch: int, epochs: int) -> optax.Schedule:
  """Learning rate per optimizer step for a run of `epochs` epochs."""
  name = schedule_config.name
  total_steps = max(1, steps_per_epoch * epochs)
  if name == "constant":
    return optax.constant_schedule(base_lr)
  if name == "multistep":
    boundaries = {int(m) * steps_per_epoch: float(schedule_config.decay_factor)
                  for m in schedule_config.milestones if 0 < int(m) < epochs}
    return optax.piecewise_constant_schedule(base_lr, boundaries)
  if name == "cosine":
    warmup = int(schedule_config.get("warmup_epochs", 0)) * steps_per_epoch
    if warmup > 0:
      return optax.warmup_cosine_decay_schedule(
          0.0, base_lr, warmup_steps=min(warmup, total_steps - 1) or 1,
          decay_steps=total_steps)
    return optax.cosine_decay_schedule(base_lr, decay_steps=total_steps)
  raise ConfigError(
      f"unknown optimizer.schedule.name {name!r}; valid names: {', '.join(SCHEDULES)}")


def make_optimizer(optimizer_config: ml_collections.ConfigDict, steps_per_epoch: int,
                   epochs: int) -> optax.GradientTransformation:
  """The optax transformation that the config names, with its schedule and weight decay.

  Identical arguments give the identical object, so a jitted step that holds it as static
  state (e.g. a TrainState's `tx`) is not recompiled when it is rebuilt every stage.
  """
  return _make_optimizer(optimizer_config.to_json(sort_keys=True), steps_per_epoch, epochs)


@functools.lru_cache(maxsize=64)
def _make_optimizer(config_json: str, steps_per_epoch: int, epochs: int):
  optimizer_config = ml_collections.ConfigDict(json.loads(config_json))
  schedule = make_schedule(optimizer_config.schedule, float(optimizer_config.learning_rate),
                           steps_per_epoch, epochs)
  return _build(optimizer_config, schedule)


def make_settable_lr_optimizer(optimizer_config: ml_collections.ConfigDict
                               ) -> optax.GradientTransformation:
  """The optimizer with its learning rate held in its state (`optax.inject_hyperparams`).

  The caller sets the rate of every step with `set_learning_rate`, from a schedule it
  evaluates itself; so one compiled train step serves the schedules of every stage,
  whose lengths differ with the size of the labeled pool.
  """
  return _make_settable(optimizer_config.to_json(sort_keys=True))


@functools.lru_cache(maxsize=64)
def _make_settable(config_json: str):
  optimizer_config = ml_collections.ConfigDict(json.loads(config_json))
  build = functools.partial(_build, optimizer_config)
  return optax.inject_hyperparams(build)(
      learning_rate=float(optimizer_config.learning_rate))


def set_learning_rate(opt_state, learning_rate):
  """The state of a `make_settable_lr_optimizer` optimizer with the given rate (traceable)."""
  hyperparams = dict(opt_state.hyperparams, learning_rate=jnp.asarray(
      learning_rate, opt_state.hyperparams["learning_rate"].dtype))
  return opt_state._replace(hyperparams=hyperparams)


def schedule_values(schedule_config: ml_collections.ConfigDict, base_lr: float,
                    steps_per_epoch: int, epochs: int) -> np.ndarray:
  """The learning rate of every step of a run, float32 [steps_per_epoch * epochs]."""
  schedule = make_schedule(schedule_config, base_lr, steps_per_epoch, epochs)
  steps = jnp.arange(max(1, steps_per_epoch * epochs))
  return np.asarray(jax.vmap(schedule)(steps), np.float32)


def _build(optimizer_config: ml_collections.ConfigDict, learning_rate
           ) -> optax.GradientTransformation:
  factory = _optax_optimizer(optimizer_config.name)
  accepted = _params(factory)
  # None means "not passed", so a command line can drop an argument of another optimizer.
  kwargs = {k: v for k, v in optimizer_config.get("kwargs", {}).items() if v is not None}
  unknown = sorted(set(kwargs) - set(accepted))
  if unknown:
    raise ConfigError(
        f"optimizer.kwargs {unknown} are not arguments of optax.{optimizer_config.name}; "
        f"its arguments: {', '.join(p for p in accepted if p != 'learning_rate')}")
  weight_decay = float(optimizer_config.get("weight_decay", 0.0))
  if "weight_decay" in accepted and "weight_decay" not in kwargs:
    # Decoupled decay (AdamW, LAMB, ...) belongs to the optimizer itself.
    return factory(learning_rate=learning_rate, weight_decay=weight_decay, **kwargs)
  tx = factory(learning_rate=learning_rate, **kwargs)
  if weight_decay:
    # Coupled L2 decay: added to the gradient before momentum, as in PyTorch's SGD.
    tx = optax.chain(optax.add_decayed_weights(weight_decay), tx)
  return tx
