"""The task learner follows its schedule and compiles its step once per run."""

import jax
import numpy as np

from tavaal_jax import parallel
from tavaal_jax.data import load_dataset
from tavaal_jax.learner import Learner


def _learner(config):
  dataset = load_dataset(config.dataset)
  return Learner(dataset, config, parallel.make_mesh())


def test_schedule_reaches_the_step_a_zero_rate_freezes_the_weights(tiny_digits_config):
  config = tiny_digits_config
  config.optimizer.schedule.name = "multistep"
  config.optimizer.schedule.milestones = (1,)
  config.optimizer.schedule.decay_factor = 0.0   # lr = 0 from epoch 1 on
  learner = _learner(config)
  labeled = np.arange(40)
  one = learner.fit(labeled, jax.random.key(0), np.random.default_rng(0))
  config.train.epochs = 2
  two = learner.fit(labeled, jax.random.key(0), np.random.default_rng(0))
  config.optimizer.schedule.decay_factor = 0.5
  moving = learner.fit(labeled, jax.random.key(0), np.random.default_rng(0))
  same = jax.tree_util.tree_map(np.array_equal, one.state.params, two.state.params)
  assert all(jax.tree_util.tree_leaves(same))
  moved = jax.tree_util.tree_map(np.array_equal, one.state.params, moving.state.params)
  assert not all(jax.tree_util.tree_leaves(moved))


def test_train_step_compiles_once_across_stages(tiny_digits_config):
  learner = _learner(tiny_digits_config)
  for size in (16, 40, 72):   # labeled pools of every stage give schedules of other lengths
    learner.fit(np.arange(size), jax.random.key(size), np.random.default_rng(size))
  assert learner._train_step._cache_size() == 1
