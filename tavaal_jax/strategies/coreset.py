"""`coreset` (Sener & Savarese, 2018): k-center greedy on the task learner's embeddings.

The labeled images are the initial centers; each step takes the candidate farthest from
its nearest center. Distances are computed on the device in chunks with a running
minimum, never as an N x N matrix.
"""

import functools
from typing import Tuple

import jax
import jax.numpy as jnp
import numpy as np

from tavaal_jax import xla_cpu
from tavaal_jax.scoring import score_pool
from tavaal_jax.strategies import STRATEGIES
from tavaal_jax.strategies.base import Selection, SelectionContext


def _squared_distances(points: jax.Array, centers: jax.Array) -> jax.Array:
  """[N, D], [M, D] -> [N, M] squared Euclidean distances (clamped at 0 against rounding)."""
  d = (jnp.sum(points**2, 1)[:, None] + jnp.sum(centers**2, 1)[None, :]
       - 2.0 * points @ centers.T)
  return jnp.maximum(d, 0.0)


# No YNNPACK fusion (xla_cpu.py): with it, ties in rounding moved 2 of 1,000 picks, for no speed.
@functools.partial(xla_cpu.jit_without_ynn, static_argnames=("chunk",))
def nearest_center_distances(points: jax.Array, centers: jax.Array, chunk: int = 1024
                             ) -> jax.Array:
  """Squared distance of each of `points` [N, D] to its nearest of `centers` [M, D] -> [N].

  Scans over the centers `chunk` at a time, so memory is [N, chunk], not [N, M].
  """
  m = centers.shape[0]
  if m == 0:
    return jnp.full(points.shape[0], jnp.inf, jnp.float32)
  padded = -(-m // chunk) * chunk
  valid = jnp.arange(padded) < m
  centers = jnp.pad(centers, ((0, padded - m), (0, 0))).reshape(-1, chunk, centers.shape[1])
  valid = valid.reshape(-1, chunk)

  def step(running_min, xs):
    block, block_valid = xs
    d = jnp.where(block_valid[None, :], _squared_distances(points, block), jnp.inf)
    return jnp.minimum(running_min, d.min(1)), None

  init = jnp.full(points.shape[0], jnp.inf, jnp.float32)
  return jax.lax.scan(step, init, (centers, valid))[0]


@functools.partial(xla_cpu.jit_without_ynn, static_argnames=("budget", "chunk"))
def k_center_greedy(candidates: jax.Array, centers: jax.Array, budget: int,
                    chunk: int = 1024) -> Tuple[jax.Array, jax.Array]:
  """Positions [budget] in `candidates` [N, D], picked farthest-first from `centers` [M, D],
  and each pick's squared distance to its nearest center when it was picked [budget].

  Each step picks the candidate whose nearest center is farthest, then makes it a center.
  """
  candidates = candidates.astype(jnp.float32)
  min_dist = nearest_center_distances(candidates, centers.astype(jnp.float32), chunk)

  def step(i, carry):
    min_dist, picks, picked_dist = carry
    j = jnp.argmax(min_dist)
    picks = picks.at[i].set(j)
    picked_dist = picked_dist.at[i].set(min_dist[j])
    d = _squared_distances(candidates, candidates[j][None, :])[:, 0]
    # A picked point must never be picked again, even among exact duplicates.
    min_dist = jnp.minimum(min_dist, d).at[j].set(-jnp.inf)
    return min_dist, picks, picked_dist

  init = (min_dist, jnp.zeros(budget, jnp.int32), jnp.zeros(budget, jnp.float32))
  return jax.lax.fori_loop(0, budget, step, init)[1:]


@STRATEGIES.register("coreset")
def select_coreset(context: SelectionContext) -> Selection:
  """[budget] candidates by k-center greedy on the pooled embeddings, labeled as centers;
  each pick's score is its Euclidean distance to the nearest center when it was picked."""
  learner, state = context.learner, context.learner_state
  score = functools.partial(score_pool, learner.scoring_fn(("embedding",)), state,
                            context.dataset.train,
                            batch_size=context.config.strategy.batch_size, mesh=learner.mesh,
                            field="strategy.batch_size")
  candidates = score(context.candidate_idx)["embedding"]
  labeled = score(context.labeled_idx)["embedding"]
  budget = min(context.budget, len(context.candidate_idx))
  positions, squared = k_center_greedy(candidates, labeled, budget)
  return Selection.of(context.candidate_idx[np.asarray(positions)],
                      np.sqrt(np.asarray(squared, np.float64)), "nearest_center_distance")
