"""`entropy`, `margin`, `least_confidence`: the classic uncertainty baselines.

One deterministic forward pass of the task learner trained at this stage (eval mode, no
dropout) over the candidates, scored from its softmax:
  entropy          -sum_k p_k log p_k (nats), highest first (Shannon, 1948; Settles 2009);
  margin           p(1st) - p(2nd), smallest first (Scheffer et al., 2001);
  least_confidence 1 - max_k p_k, highest first (Lewis & Gale, 1994).
The three are computed together on the device; only [B] scores per batch come back.
"""

import functools

import jax
import jax.numpy as jnp
import jax.scipy.special

from tavaal_jax.scoring import score_pool
from tavaal_jax.strategies import STRATEGIES
from tavaal_jax.strategies.base import Selection, SelectionContext, ranked
from tavaal_jax.tasks import per_image_mean


def prediction_uncertainty(probs: jax.Array) -> dict:
  """probs [B, ..., K] softmax outputs -> {'entropy', 'margin', 'least_confidence': [B]}.

  Each score is computed per output position and averaged over the image
  (`tasks.per_image_mean`), so a per-pixel [B, H, W, K] output gives the mean pixel score
  and [B, K] is scored as is.
  """
  entropy = jnp.sum(jax.scipy.special.entr(probs), -1)
  top_two = jax.lax.top_k(probs, 2)[0]
  scores = {"entropy": entropy, "margin": top_two[..., 0] - top_two[..., 1],
            "least_confidence": 1.0 - top_two[..., 0]}
  return {name: per_image_mean(value) for name, value in scores.items()}


def _uncertainty_batch(state, images, extras, key, *, predict):
  """Scoring-pass batch function: one forward pass -> the three uncertainty scores [B]."""
  logits = predict(state, images, extras, key)["logits"]
  return prediction_uncertainty(jax.nn.softmax(logits.astype(jnp.float32), -1))


@functools.lru_cache(maxsize=8)
def uncertainty_batch_fn(predict):
  """One batch function per learner, so the scoring pass compiles once per run."""
  return functools.partial(_uncertainty_batch, predict=predict)


def _candidate_scores(context: SelectionContext, name: str):
  """The `name` score [n] of every candidate, from the learner in eval mode."""
  learner = context.learner
  batch_fn = uncertainty_batch_fn(learner.scoring_fn(("logits",)))
  return score_pool(batch_fn, context.learner_state, context.dataset.train, context.candidate_idx,
                    batch_size=context.config.strategy.batch_size, mesh=learner.mesh,
                    field="strategy.batch_size")[name]


@STRATEGIES.register("entropy")
def select_entropy(context: SelectionContext) -> Selection:
  """[budget] candidates of highest predictive entropy."""
  return ranked(context.candidate_idx, _candidate_scores(context, "entropy"), context.budget,
                "entropy")


@STRATEGIES.register("margin")
def select_margin(context: SelectionContext) -> Selection:
  """[budget] candidates of smallest gap between their two most probable classes."""
  return ranked(context.candidate_idx, _candidate_scores(context, "margin"), context.budget,
                "margin", lowest_first=True)


@STRATEGIES.register("least_confidence")
def select_least_confidence(context: SelectionContext) -> Selection:
  """[budget] candidates of lowest top-class probability (highest 1 - max p)."""
  return ranked(context.candidate_idx, _candidate_scores(context, "least_confidence"),
                context.budget, "least_confidence")
