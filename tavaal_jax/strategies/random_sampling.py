"""`random`: uniform sampling without replacement from the candidate subset."""

from tavaal_jax.strategies import STRATEGIES
from tavaal_jax.strategies.base import Selection, SelectionContext


@STRATEGIES.register("random")
def select_random(context: SelectionContext) -> Selection:
  """[budget] distinct candidate indices, uniformly at random (no duplicates, unlike the
  authors' release, which samples with replacement). A random pick has no score (NaN)."""
  budget = min(context.budget, len(context.candidate_idx))
  return Selection.of(context.rng.choice(context.candidate_idx, size=budget, replace=False))
