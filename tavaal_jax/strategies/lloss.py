"""`lloss` (Learning Loss, Yoo & Kweon 2019): the candidates with the highest predicted loss."""

import numpy as np

from tavaal_jax.scoring import score_pool
from tavaal_jax.strategies import STRATEGIES
from tavaal_jax.strategies.base import SelectionContext, top_k


@STRATEGIES.register("lloss", ranker=True)
def select_lloss(context: SelectionContext) -> np.ndarray:
  """[budget] candidates with the largest ranker output."""
  learner = context.learner
  scores = score_pool(learner.predict_batch, context.learner_state, context.dataset.train,
                      context.candidate_idx, batch_size=context.config.strategy.batch_size,
                      mesh=learner.mesh, field="strategy.batch_size")["predicted_loss"]
  return context.candidate_idx[top_k(scores, context.budget)]
