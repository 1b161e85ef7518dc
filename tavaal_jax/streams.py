"""The random streams of a run: one per (seed, trial, stage, purpose).

Every draw of a run comes from a stream named by its purpose, so the candidate subset does
not change when the model does, a resumed run makes the same draws as an uninterrupted one,
and a new kind of draw can be added without moving any existing one.

The purposes' numbers are part of every study's results: the picks of a stored run can only
be reproduced with the same numbers. Never renumber a purpose; a new purpose takes a number
no purpose has had (tests/test_streams.py pins them and the draws they give).
"""

import enum

import jax
import numpy as np


class HostStream(enum.IntEnum):
  """numpy streams (`host_rng`)."""

  INITIAL_POOL = 0        # the labeled pool of stage 0
  CANDIDATE_SUBSET = 1    # the random subset S of the unlabeled pool a strategy picks from
  SELECTION = 2           # a strategy's own draws (random picks, adversary batch order)
  TRAIN_ORDER = 3         # the order of the labeled images in training
  INDEPENDENT_ORDER = 4   # the same for the independent learner (supplement Sec. 2)


class JaxStream(enum.IntEnum):
  """JAX key streams (`jax_key`)."""

  LEARNER = 0             # the learner's init, augmentation and dropout
  SELECTION = 1           # a strategy's JAX draws (MC-dropout masks, VAE init and sampling)
  INDEPENDENT = 2         # the independent learner


def host_rng(seed: int, trial: int, stage: int, purpose: HostStream) -> np.random.Generator:
  return np.random.default_rng([seed, trial, stage, int(purpose)])


def jax_key(seed: int, trial: int, stage: int, purpose: JaxStream) -> jax.Array:
  """jax.random.key(seed) folded with trial, stage and purpose, in that order."""
  key = jax.random.key(seed)
  for part in (trial, stage, int(purpose)):
    key = jax.random.fold_in(key, part)
  return key
