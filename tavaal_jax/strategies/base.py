"""What a selection strategy receives and must return."""

import dataclasses
from typing import Any, Dict, Optional

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


def check_selection(picks: np.ndarray, context: SelectionContext, strategy: str) -> np.ndarray:
  """Guards the invariant every strategy must keep: `budget` distinct, unlabeled candidates."""
  picks = np.asarray(picks, np.int64)
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
  return picks


def top_k(scores: np.ndarray, k: int) -> np.ndarray:
  """Positions of the k largest of `scores` [n], largest first; ties go to the lower position
  so that the result is deterministic."""
  order = np.argsort(-np.asarray(scores, np.float64), kind="stable")
  return order[:min(k, len(order))]
