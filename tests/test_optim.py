"""Optimizers and schedules come from the config by name."""

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import optax
import pytest

from configs import cifar10
from tavaal_jax.errors import ConfigError
from tavaal_jax.optim import make_optimizer, make_schedule


def _optimizer_config(**overrides):
  config = cifar10.get_config().optimizer
  config.unlock()
  for key, value in overrides.items():
    config[key] = value
  return config


def _one_update(tx, params, grads):
  updates, _ = tx.update(grads, tx.init(params), params)
  return optax.apply_updates(params, updates)


def test_sgd_applies_coupled_weight_decay_like_pytorch():
  config = _optimizer_config(learning_rate=0.1, weight_decay=0.5)
  config.schedule.name = "constant"
  tx = make_optimizer(config, steps_per_epoch=10, epochs=2)
  params = {"w": jnp.array([2.0, -4.0])}
  grads = {"w": jnp.array([1.0, 1.0])}
  # First SGD step with momentum: p - lr * (g + wd * p).
  expected = np.array([2.0 - 0.1 * (1.0 + 1.0), -4.0 - 0.1 * (1.0 - 2.0)])
  np.testing.assert_allclose(_one_update(tx, params, grads)["w"], expected, rtol=1e-6)


def test_swapping_the_optimizer_in_the_config_changes_what_runs():
  sgd = make_optimizer(_optimizer_config(), steps_per_epoch=10, epochs=2)
  adamw_config = _optimizer_config(name="adamw", learning_rate=1e-3,
                                   kwargs=ml_collections.ConfigDict({"b1": 0.8}))
  adamw = make_optimizer(adamw_config, steps_per_epoch=10, epochs=2)
  lamb = make_optimizer(_optimizer_config(name="lamb", kwargs={}), 10, 2)
  params = {"w": jnp.ones(3)}

  def has_adam_state(tx):
    leaves = jax.tree_util.tree_leaves(tx.init(params), is_leaf=lambda x: hasattr(x, "nu"))
    return any(isinstance(x, optax.ScaleByAdamState) for x in leaves)

  assert not has_adam_state(sgd)
  assert has_adam_state(adamw) and has_adam_state(lamb)
  grads = {"w": jnp.array([1.0, 2.0, 3.0])}
  # Adam's first step is lr * sign(g) (plus decoupled decay), whatever |g|.
  step = params["w"] - _one_update(adamw, params, grads)["w"]
  np.testing.assert_allclose(step, 1e-3 * (1 + 5e-4), rtol=1e-4)


def test_multistep_schedule_counts_milestones_in_epochs():
  config = _optimizer_config().schedule
  schedule = make_schedule(config, 0.1, steps_per_epoch=5, epochs=200)
  assert schedule(0) == pytest.approx(0.1)
  assert schedule(160 * 5 - 1) == pytest.approx(0.1)
  assert schedule(160 * 5 + 1) == pytest.approx(0.01)


def test_cosine_schedule_decays_to_zero_over_the_run():
  config = _optimizer_config().schedule
  config.name = "cosine"
  schedule = make_schedule(config, 0.1, steps_per_epoch=4, epochs=10)
  assert schedule(0) == pytest.approx(0.1)
  assert schedule(20) == pytest.approx(0.05, abs=1e-6)
  assert schedule(40) == pytest.approx(0.0, abs=1e-6)


@pytest.mark.parametrize("overrides, message", [
    ({"name": "not_an_optimizer"}, "optimizer.name='not_an_optimizer'"),
    ({"name": "adamw"}, "optimizer.kwargs ['momentum'] are not arguments of optax.adamw"),
])
def test_bad_optimizer_configs_name_the_field(overrides, message):
  with pytest.raises(ConfigError, match=message.replace("[", r"\[").replace("]", r"\]")):
    make_optimizer(_optimizer_config(**overrides), 1, 1)


def test_none_drops_an_argument_so_the_command_line_can_switch_optimizer():
  config = _optimizer_config(name="adamw")
  config.kwargs.momentum = None
  make_optimizer(config, 1, 1)


def test_unknown_schedule_lists_valid_names():
  config = _optimizer_config()
  config.schedule.name = "linear"
  with pytest.raises(ConfigError, match="constant, multistep, cosine"):
    make_optimizer(config, 1, 1)
