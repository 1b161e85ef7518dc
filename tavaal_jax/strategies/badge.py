"""`badge` (Ash et al., "Deep Batch Active Learning by Diverse, Uncertain Gradient Lower
Bounds", ICLR 2020): k-means++ seeding over the candidates' last-layer gradient embeddings.

The gradient of the cross-entropy under the predicted label y = argmax p with respect to the
head's weights is g = a (x) h, with a = p - onehot(y) [K] and h the pooled embedding [D]
(the head's input). The [n, K x D] matrix of the g is never formed: with ||g_i||^2 =
||a_i||^2 ||h_i||^2 and g_i . g_j = (a_i . a_j)(h_i . h_j), every squared distance follows
from the factors, so memory is that of a [n, K] and h [n, D] plus O(n) per step.

Seeding (Arthur & Vassilvitskii, 2007, as BADGE's reference code runs it): the first pick is
the candidate of largest ||g|| (ties to the lower position), each next one is drawn with
probability proportional to its squared distance to the nearest pick so far, never a pick
twice. The draws come from the selection key, so the same config and seed give the same
picks.
"""

import functools
from typing import NamedTuple, Tuple

import jax
import jax.numpy as jnp
import numpy as np

from tavaal_jax import xla_cpu
from tavaal_jax.scoring import score_pool
from tavaal_jax.strategies import STRATEGIES
from tavaal_jax.strategies.base import Selection, SelectionContext


class GradientEmbeddings(NamedTuple):
  """The factors of g_i = a_i (x) h_i: a [n, K], h [n, D] and their squared norms [n]."""

  a: jax.Array
  h: jax.Array
  a_sq: jax.Array
  h_sq: jax.Array

  @classmethod
  def of(cls, logits: jax.Array, embedding: jax.Array) -> "GradientEmbeddings":
    """From the learner's logits [n, K] and embeddings [n, D]: a = p - onehot(argmax p)."""
    probs = jax.nn.softmax(jnp.asarray(logits, jnp.float32), -1)
    a = probs - jax.nn.one_hot(jnp.argmax(probs, -1), probs.shape[-1], dtype=probs.dtype)
    h = jnp.asarray(embedding, jnp.float32)
    return cls(a, h, jnp.sum(a * a, -1), jnp.sum(h * h, -1))

  def squared_norms(self) -> jax.Array:
    """||g_i||^2 [n]."""
    return self.a_sq * self.h_sq

  def squared_distances_to(self, j: jax.Array) -> jax.Array:
    """||g_i - g_j||^2 [n] for every i, clamped at 0 against rounding."""
    # Full float32: TF32 / bf16 passes (the GPU / TPU default) would blur near duplicates.
    cross = (jnp.matmul(self.a, self.a[j], precision=jax.lax.Precision.HIGHEST)
             * jnp.matmul(self.h, self.h[j], precision=jax.lax.Precision.HIGHEST))
    return jnp.maximum(self.squared_norms() + self.squared_norms()[j] - 2.0 * cross, 0.0)


@functools.partial(xla_cpu.jit_without_ynn, static_argnames=("budget",))
def kmeans_plus_plus_seeds(logits: jax.Array, embedding: jax.Array, budget: int,
                           key: jax.Array) -> Tuple[jax.Array, jax.Array]:
  """k-means++ seeding of the gradient embeddings of logits [n, K] and embedding [n, D].

  Returns positions [budget] in pick order and each pick's squared distance to the nearest
  earlier pick [budget] (the first pick's: its ||g||^2, its distance from a zero gradient).
  Picks are distinct; once every unpicked point duplicates a pick, the rest are drawn
  uniformly among them.
  """
  g = GradientEmbeddings.of(logits, embedding)
  norms_sq = g.squared_norms()
  first = jnp.argmax(norms_sq)
  picks = jnp.zeros(budget, jnp.int32).at[0].set(first)
  picked_dist = jnp.zeros(budget, jnp.float32).at[0].set(norms_sq[first])
  picked = jnp.zeros(norms_sq.shape[0], bool).at[first].set(True)

  def step(i, carry):
    nearest, picked, picks, picked_dist = carry
    weights = jnp.where(picked, 0.0, nearest)
    logits = jnp.where(jnp.sum(weights) > 0, jnp.log(weights),
                       jnp.where(picked, -jnp.inf, 0.0))
    j = jax.random.categorical(jax.random.fold_in(key, i), logits)
    picks = picks.at[i].set(j)
    picked_dist = picked_dist.at[i].set(weights[j])
    nearest = jnp.minimum(nearest, g.squared_distances_to(j))
    return nearest, picked.at[j].set(True), picks, picked_dist

  init = (g.squared_distances_to(first), picked, picks, picked_dist)
  carry = jax.lax.fori_loop(1, budget, step, init)
  return carry[2], carry[3]


@STRATEGIES.register("badge", embedding=True, tasks=("classification",))
def select_badge(context: SelectionContext) -> Selection:
  """[budget] candidates by k-means++ seeding of their gradient embeddings; each pick's
  score is its gradient-embedding distance to the nearest earlier pick (the first's: ||g||)."""
  learner = context.learner
  out = score_pool(learner.scoring_fn(("logits", "embedding")), context.learner_state,
                   context.dataset.train, context.candidate_idx,
                   batch_size=context.config.strategy.batch_size, mesh=learner.mesh,
                   field="strategy.batch_size")
  budget = min(context.budget, len(context.candidate_idx))
  positions, squared = kmeans_plus_plus_seeds(out["logits"], out["embedding"], budget,
                                              context.key)
  return Selection.of(context.candidate_idx[np.asarray(positions)],
                      np.sqrt(np.asarray(squared, np.float64)), "gradient_embedding_distance")
