"""`lloss` (Learning Loss, Yoo & Kweon 2019): the candidates with the highest predicted loss."""

from tavaal_jax.scoring import score_pool
from tavaal_jax.strategies import STRATEGIES
from tavaal_jax.strategies.base import Selection, SelectionContext, ranked


@STRATEGIES.register("lloss", ranker=True)
def select_lloss(context: SelectionContext) -> Selection:
  """[budget] candidates with the largest ranker output."""
  learner = context.learner
  scores = score_pool(learner.scoring_fn(("predicted_loss",)), context.learner_state,
                      context.dataset.train, context.candidate_idx,
                      batch_size=context.config.strategy.batch_size, mesh=learner.mesh,
                      field="strategy.batch_size")["predicted_loss"]
  return ranked(context.candidate_idx, scores, context.budget, "predicted_loss")
