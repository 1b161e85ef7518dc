"""One stage of active learning: train a fresh learner on the labeled set, evaluate it, score
the candidates and pick the next images to label.

`train_and_pick` is the stage both drivers share: the simulation loop (experiment.py, whose
labels are the dataset's own) and the query rounds (query.py, whose labels come from the
user's labels file). `run_stage` is the simulation's stage on top of it: its results row and
the independent learner. Neither writes files: the caller records the picks (in
`after_select`) and the row.

Every draw comes from the streams of (config.seed, trial, stage) (streams.py), so a stage
redone with the same labeled set makes the same draws and the same picks.
"""

import dataclasses
import time
from typing import Any, Callable, Dict, List, Optional

import ml_collections
import numpy as np

from tavaal_jax import parallel
from tavaal_jax.data.base import Dataset, ImageSource
from tavaal_jax.data.batching import steps_per_epoch
from tavaal_jax.learner import FitResult, Learner
from tavaal_jax.strategies import Selection, SelectionContext, check_selection
from tavaal_jax.streams import HostStream, JaxStream, host_rng, jax_key


def candidate_subset(config: ml_collections.ConfigDict, trial: int, stage: int,
                     unlabeled_idx: np.ndarray) -> np.ndarray:
  """The random subset S of the unlabeled pool that a strategy picks from (all of it when
  the pool is smaller than al.subset)."""
  rng = host_rng(config.seed, trial, stage, HostStream.CANDIDATE_SUBSET)
  size = min(config.al.subset, len(unlabeled_idx))
  return np.sort(rng.choice(unlabeled_idx, size=size, replace=False))


def independent_config(config: ml_collections.ConfigDict) -> ml_collections.ConfigDict:
  """The config of the independent learner (supplement Sec. 2): the same learner without
  a ranker. `strategies.uses_ranker` keys on the strategy and compat.ranker_for_all, so the copy
  names the ranker-free 'random' strategy and turns ranker_for_all off; only `Learner`
  reads this copy, never the selection."""
  copy = config.copy_and_resolve_references()
  with copy.unlocked():
    copy.strategy.name = "random"
    if "compat" in copy:
      copy.compat.ranker_for_all = False
  return copy


def json_float(x: float):
  """NaN (e.g. a constant ranker's Spearman) becomes null: JSON has no NaN."""
  x = float(x)
  return None if np.isnan(x) else x


@dataclasses.dataclass
class StageResult:
  """What `train_and_pick` did.

  fit: the trained learner (its state) and its per-epoch curves.
  fit_seconds: training alone; train_seconds: training plus evaluation.
  test: `learner.evaluate` on the test source (the task's metrics: {'loss', 'count',
  'accuracy' or 'miou', ...}); None
  without one. candidate_idx: [n_candidates] the subset S scored (empty when nothing was
  picked). selection: the picks, or None. diagnostics: the strategy's figures, JSON-ready.
  select_seconds: the selection, `after_select` included.
  """

  fit: FitResult
  fit_seconds: float
  train_seconds: float
  test: Optional[Dict[str, Any]]
  candidate_idx: np.ndarray
  selection: Optional[Selection]
  diagnostics: Dict[str, Any]
  select_seconds: float


def train_and_pick(config: ml_collections.ConfigDict, dataset: Dataset, learner: Learner,
                   select: Callable, labeled_idx: np.ndarray,
                   unlabeled_idx: Optional[np.ndarray], trial: int, stage: int, *,
                   test_source: Optional[ImageSource], description: str,
                   after_epoch: Optional[Callable[[int], None]] = None,
                   after_select: Optional[Callable[[Selection], None]] = None
                   ) -> StageResult:
  """Trains a fresh learner on `labeled_idx` [n_labeled], evaluates it on `test_source`
  (unless None) and, unless `unlabeled_idx` is None, picks al.budget of the candidate
  subset of `unlabeled_idx` [n_unlabeled] with `select` (a registered strategy).

  Indices are those of `dataset.train`. after_epoch(epoch) runs after each training epoch;
  after_select(selection) once the picks are known and agreed by every host (where the
  caller records them).
  """
  order = host_rng(config.seed, trial, stage, HostStream.TRAIN_ORDER)
  start = time.perf_counter()
  fit = learner.fit(labeled_idx, jax_key(config.seed, trial, stage, JaxStream.LEARNER), order,
                    description=description, after_epoch=after_epoch)
  fit_seconds = time.perf_counter() - start
  test = learner.evaluate(fit.state, test_source) if test_source is not None else None
  train_seconds = time.perf_counter() - start

  start = time.perf_counter()
  candidate_idx = np.zeros(0, np.int64)
  selection = None
  diagnostics = {}
  if unlabeled_idx is not None:
    candidate_idx = candidate_subset(config, trial, stage, unlabeled_idx)
    context = SelectionContext(
        config=config, dataset=dataset, labeled_idx=labeled_idx, candidate_idx=candidate_idx,
        budget=config.al.budget, rng=host_rng(config.seed, trial, stage, HostStream.SELECTION),
        key=jax_key(config.seed, trial, stage, JaxStream.SELECTION), learner=learner,
        learner_state=fit.state)
    selection = check_selection(select(context), context, config.strategy.name)
    # Selection runs on every host; they must agree before process 0 records the picks.
    parallel.assert_same_on_all_hosts(selection.indices,
                                      f"the picks of trial {trial} stage {stage}")
    diagnostics = {k: json_float(v) if isinstance(v, float) else v
                   for k, v in context.diagnostics.items()}
    if after_select is not None:
      after_select(selection)
  select_seconds = time.perf_counter() - start
  return StageResult(fit, fit_seconds, train_seconds, test, candidate_idx, selection,
                     diagnostics, select_seconds)


@dataclasses.dataclass
class StageOutput:
  row: Dict                        # the results row (not yet written)
  state: Any                       # the trained learner's state
  epochs: Dict[str, List[float]]   # per-epoch training curves: loss, accuracy, ranking_loss
  steps_per_second: float          # training steps per second of the fit


def run_stage(config, dataset: Dataset, learner: Learner, select, labeled_idx: np.ndarray,
              trial: int, stage: int, independent: Optional[Learner] = None, *,
              hook: Callable[[str], None] = lambda point: None,
              after_select: Optional[Callable[[Selection], None]] = None) -> StageOutput:
  """The simulation's stage: `train_and_pick` on the dataset's own labels (no pick at the
  last stage), then (with an independent learner) train and evaluate it on the same labeled
  set; returns the stage's results row.

  hook(point) is called at 'train' (after each epoch) and 'select' (the picks known, before
  after_select records them).
  """
  last = stage + 1 >= config.al.stages
  unlabeled_idx = None if last else np.setdiff1d(np.arange(len(dataset.train)), labeled_idx)

  def record(selection: Selection) -> None:
    hook("select")
    if after_select is not None:
      after_select(selection)

  out = train_and_pick(config, dataset, learner, select, labeled_idx, unlabeled_idx, trial,
                       stage, test_source=dataset.test,
                       description=f"trial {trial} stage {stage}",
                       after_epoch=lambda epoch: hook("train"), after_select=record)
  fit, test = out.fit, out.test
  row = {
      "trial": trial, "stage": stage, "num_labeled": int(len(labeled_idx)),
      # test_accuracy, test_loss (classification); test_miou, test_loss,
      # test_pixel_accuracy, test_per_class_iou (segmentation).
      **learner.task.row_fields(test, "test_"),
      "train_loss": fit.epoch_loss[-1], "train_loss_per_epoch": fit.epoch_loss,
      "strategy": config.strategy.name, "dataset": config.dataset.name,
      "seed": config.seed, "num_candidates": len(out.candidate_idx),
      "train_seconds": out.train_seconds, "select_seconds": out.select_seconds,
  }
  if learner.has_ranker:
    row.update({
        "ranker_loss_name": config.ranker.loss,
        "ranking_loss": fit.epoch_ranking_loss[-1],
        "ranking_loss_per_epoch": fit.epoch_ranking_loss,
        # How well the ranker ranks: Spearman correlation of predicted and true test losses.
        "ranker_spearman": json_float(test["ranker_spearman"]),
    })
  row.update(out.diagnostics)
  if independent is not None:
    # Its own streams: the main learner's draws, and so the picks, do not change.
    start = time.perf_counter()
    independent_fit = independent.fit(
        labeled_idx, jax_key(config.seed, trial, stage, JaxStream.INDEPENDENT),
        host_rng(config.seed, trial, stage, HostStream.INDEPENDENT_ORDER),
        description=f"trial {trial} stage {stage} (independent)")
    independent_test = independent.evaluate(independent_fit.state, dataset.test)
    primary = independent.task.primary_metric
    row.update({f"independent_{primary}": float(independent_test[primary]),
                "independent_test_loss": float(independent_test["loss"]),
                "independent_seconds": time.perf_counter() - start})

  steps = steps_per_epoch(len(labeled_idx), config.train.batch_size) * config.train.epochs
  epochs = {"loss": fit.epoch_loss, "accuracy": fit.epoch_accuracy}
  if fit.epoch_ranking_loss:
    epochs["ranking_loss"] = fit.epoch_ranking_loss
  return StageOutput(row, fit.state, epochs, steps / max(out.fit_seconds, 1e-9))
