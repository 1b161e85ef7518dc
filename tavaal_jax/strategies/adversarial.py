"""`vaal` (Sinha et al., 2019) and `tavaal` (Kim et al., 2021): adversarial selection.

A VAE and a discriminator D are trained adversarially on the labeled set and the candidate
subset; the candidates D finds least "labeled-looking" are picked (Algorithm 1: argmin D).
TA-VAAL conditions the VAE decoder and D on the ranker's predicted loss; VAAL does not.
"""

from typing import Optional

import numpy as np

from tavaal_jax import adversary
from tavaal_jax.scoring import score_pool
from tavaal_jax.strategies import STRATEGIES
from tavaal_jax.strategies.base import SelectionContext, top_k


def _predicted_loss(context: SelectionContext, indices: np.ndarray) -> np.ndarray:
  learner = context.learner
  return score_pool(learner.predict_batch, context.learner_state, context.dataset.train,
                    indices, batch_size=context.config.strategy.batch_size,
                    mesh=learner.mesh)["predicted_loss"]


def select_adversarial(context: SelectionContext, use_ranker: bool) -> np.ndarray:
  """Trains VAE + D for this stage, then picks the `budget` candidates with the lowest D."""
  config, learner = context.config, context.learner
  loss_labeled: Optional[np.ndarray] = None
  loss_candidates: Optional[np.ndarray] = None
  if use_ranker:
    loss_labeled = _predicted_loss(context, context.labeled_idx)
    loss_candidates = _predicted_loss(context, context.candidate_idx)
  result = adversary.train_adversary(
      config, context.dataset, learner.preprocessing, context.labeled_idx,
      context.candidate_idx, loss_labeled, loss_candidates, context.key, context.rng,
      learner.mesh)
  scores = adversary.discriminator_scores(
      result, context.dataset, learner.preprocessing, context.candidate_idx,
      loss_candidates, config, learner.mesh)
  # VAE / D losses per pass, D's mean score on the labeled set and on the candidates.
  context.diagnostics.update(result.history)
  # argmin D: the lowest scores are the most "unlabeled-looking".
  return context.candidate_idx[top_k(-scores, context.budget)]


@STRATEGIES.register("vaal")
def select_vaal(context: SelectionContext) -> np.ndarray:
  return select_adversarial(context, use_ranker=False)


@STRATEGIES.register("tavaal")
def select_tavaal(context: SelectionContext) -> np.ndarray:
  return select_adversarial(context, use_ranker=True)
