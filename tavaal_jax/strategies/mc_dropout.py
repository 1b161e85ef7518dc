"""`mc_dropout` (Gal et al., 2017): T stochastic passes with dropout on, scored by uncertainty.

Scores: `entropy` of the mean softmax (predictive entropy), `bald` (mutual information
between the prediction and the weights), `variation_ratio` (1 - share of the modal class).
"""

import functools

import jax
import jax.numpy as jnp

from tavaal_jax.errors import ConfigError
from tavaal_jax.scoring import score_pool
from tavaal_jax.strategies import STRATEGIES
from tavaal_jax.strategies.base import Selection, SelectionContext, ranked
from tavaal_jax.tasks import per_image_mean

MC_SCORES = ("entropy", "bald", "variation_ratio")


def uncertainty_scores(probs: jax.Array) -> dict:
  """probs [T, B, ..., K] softmax outputs of T passes -> {score name: [B]}.

  With per-pixel outputs ([T, B, H, W, K], segmentation) each score is computed per pixel
  and averaged over the image (`tasks.per_image_mean`): the mean pixel entropy, BALD,
  variation ratio."""
  eps = 1e-12
  mean = probs.mean(0)
  entropy = -(mean * jnp.log(mean + eps)).sum(-1)
  expected_entropy = -(probs * jnp.log(probs + eps)).sum(-1).mean(0)
  num_classes = probs.shape[-1]
  votes = jax.nn.one_hot(probs.argmax(-1), num_classes).sum(0)   # [B, ..., K]
  variation_ratio = 1.0 - votes.max(-1) / probs.shape[0]
  return {"entropy": per_image_mean(entropy),
          "bald": per_image_mean(entropy - expected_entropy),
          "variation_ratio": per_image_mean(variation_ratio)}


def _mc_batch(state, images, extras, key, *, predict_mc, passes: int):
  """Scoring-pass batch function: T dropout passes over one batch -> uncertainty scores."""
  keys = jax.random.split(key, passes)
  logits = jax.lax.map(lambda k: predict_mc(state, images, extras, k)["logits"], keys)
  return uncertainty_scores(jax.nn.softmax(logits, -1))


@functools.lru_cache(maxsize=8)
def mc_batch_fn(predict_mc, passes: int):
  """One batch function per (learner, passes), so the scoring pass compiles once."""
  return functools.partial(_mc_batch, predict_mc=predict_mc, passes=passes)


def check_mc_dropout_config(config) -> None:
  if config.strategy.get("mc_score", "entropy") not in MC_SCORES:
    raise ConfigError(f"unknown strategy.mc_score {config.strategy.mc_score!r}; "
                      f"valid names: {', '.join(MC_SCORES)}")
  if config.model.get("dropout_rate", 0.0) <= 0.0:
    raise ConfigError("strategy.name='mc_dropout' needs dropout in the task learner: set "
                      "--config.model.dropout_rate to a value in (0, 1), e.g. 0.3")
  if config.strategy.mc_passes < 2:
    raise ConfigError(f"strategy.mc_passes={config.strategy.mc_passes} must be >= 2")


@STRATEGIES.register("mc_dropout", dropout=True, check=check_mc_dropout_config)
def select_mc_dropout(context: SelectionContext) -> Selection:
  """[budget] candidates with the highest MC-dropout uncertainty."""
  config, learner = context.config, context.learner
  batch_fn = mc_batch_fn(learner.scoring_fn(("logits",), mc_dropout=True),
                        int(config.strategy.mc_passes))
  scores = score_pool(batch_fn, context.learner_state, context.dataset.train,
                      context.candidate_idx, batch_size=config.strategy.batch_size,
                      mesh=learner.mesh, key=context.key,
                      field="strategy.batch_size")[config.strategy.mc_score]
  return ranked(context.candidate_idx, scores, context.budget, config.strategy.mc_score)
