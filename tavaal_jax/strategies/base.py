"""What a selection strategy receives and must return."""

import dataclasses
from typing import Any, Dict, Optional, Sequence

import jax
import ml_collections
import numpy as np

from tavaal_jax.data.base import Dataset


@dataclasses.dataclass
class SelectionContext:
  """Everything a strategy may use to pick `budget` of `candidate_idx`.

  labeled_idx:   [n_labeled] training-set indices already labeled.
  candidate_idx: [n_candidates] the random subset S of the unlabeled pool to pick from.
  rng:           host randomness for this (trial, stage) selection.
  key:           JAX randomness for this (trial, stage) selection.
  learner, learner_state: the task learner trained at this stage (None for strategies
                 that need no model).
  diagnostics:   filled by the strategy with figures worth a column in results.jsonl.
  """

  config: ml_collections.ConfigDict
  dataset: Dataset
  labeled_idx: np.ndarray
  candidate_idx: np.ndarray
  budget: int
  rng: np.random.Generator
  key: jax.Array
  learner: Optional[Any] = None
  learner_state: Optional[Any] = None
  diagnostics: Dict[str, Any] = dataclasses.field(default_factory=dict)


@dataclasses.dataclass(frozen=True)
class Selection:
  """A strategy's picks in pick order (rank 1 first) with the score each was picked by.

  indices:    [k] int64 training-set indices.
  scores:     [k] float64, the strategy's own figure for each pick in its natural units
              (`score_name`), e.g. D's probability "labeled" for VAAL (lowest picked first)
              or the predicted loss for lloss (highest first); NaN where a strategy has no
              figure (random).
  score_name: what `scores` are, e.g. 'discriminator_probability'; None for random.
  """

  indices: np.ndarray
  scores: np.ndarray
  score_name: Optional[str] = None

  @classmethod
  def of(cls, indices: Sequence[int], scores: Optional[Sequence[float]] = None,
         score_name: Optional[str] = None) -> "Selection":
    indices = np.asarray(indices, np.int64)
    if scores is None:
      scores = np.full(len(indices), np.nan)
    scores = np.asarray(scores, np.float64)
    if scores.shape != indices.shape:
      raise ValueError(f"a selection's scores {scores.shape} must match its indices "
                       f"{indices.shape}")
    return cls(indices, scores, score_name)

  def scores_json(self) -> list:
    """The scores as a JSON list, NaN as null (JSON has no NaN)."""
    return [None if np.isnan(s) else float(s) for s in self.scores]


def ranked(candidate_idx: np.ndarray, scores: np.ndarray, budget: int, score_name: str,
           *, lowest_first: bool = False) -> Selection:
  """The `budget` candidates of highest `scores` [n] (lowest with lowest_first), best first,
  ties to the lower position (`top_k`), each with its score."""
  scores = np.asarray(scores, np.float64)
  positions = top_k(-scores if lowest_first else scores, budget)
  return Selection.of(np.asarray(candidate_idx)[positions], scores[positions], score_name)


def check_selection(selection: Selection, context: SelectionContext,
                    strategy: str) -> Selection:
  """Guards the invariant every strategy must keep: `budget` distinct, unlabeled candidates,
  one score each."""
  if not isinstance(selection, Selection):
    raise RuntimeError(f"strategy {strategy!r} broke the selection contract: returned "
                       f"{type(selection).__name__}, expected a strategies.Selection")
  picks = selection.indices
  expected = min(context.budget, len(context.candidate_idx))
  problems = []
  if picks.shape != (expected,):
    problems.append(f"returned shape {picks.shape}, expected ({expected},)")
  if len(np.unique(picks)) != len(picks):
    problems.append("returned duplicate indices")
  if not np.isin(picks, context.candidate_idx).all():
    problems.append("returned indices outside the candidate subset")
  if np.isin(picks, context.labeled_idx).any():
    problems.append("returned already-labeled indices")
  if problems:
    raise RuntimeError(f"strategy {strategy!r} broke the selection contract: "
                       + "; ".join(problems))
  return selection


def top_k(scores: np.ndarray, k: int) -> np.ndarray:
  """Positions of the k largest of `scores` [n], largest first; ties go to the lower position
  so that the result is deterministic."""
  order = np.argsort(-np.asarray(scores, np.float64), kind="stable")
  return order[:min(k, len(order))]
