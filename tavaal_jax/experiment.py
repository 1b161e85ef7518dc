"""The active-learning loop: trials x stages of train, evaluate, select, label.

Every random draw derives from `config.seed` and the (trial, stage) it belongs to, with a
separate stream per purpose, so the candidate subset does not change when the model does,
and a resumed run makes the same draws as an uninterrupted one.
"""

import logging
import os
import time
from typing import Dict, List

import jax
import ml_collections
import numpy as np
from tqdm import auto as tqdm

from tavaal_jax import config_checks, outputs, parallel
from tavaal_jax.data import load_dataset
from tavaal_jax.learner import Learner
from tavaal_jax.strategies import STRATEGIES, SelectionContext, check_selection

# Host random streams, one per purpose.
INITIAL_POOL, CANDIDATE_SUBSET, SELECTION, TRAIN_ORDER = range(4)
# JAX random streams, one per purpose.
LEARNER_KEY, SELECTION_KEY = range(2)


def host_rng(seed: int, trial: int, stage: int, purpose: int) -> np.random.Generator:
  return np.random.default_rng([seed, trial, stage, purpose])


def jax_key(seed: int, trial: int, stage: int, purpose: int) -> jax.Array:
  key = jax.random.key(seed)
  for part in (trial, stage, purpose):
    key = jax.random.fold_in(key, part)
  return key


def initial_pool(config: ml_collections.ConfigDict, trial: int, pool_size: int) -> np.ndarray:
  """[al.initial] distinct training indices, drawn per trial."""
  rng = host_rng(config.seed, trial, 0, INITIAL_POOL)
  return np.sort(rng.choice(pool_size, size=config.al.initial, replace=False))


def candidate_subset(config: ml_collections.ConfigDict, trial: int, stage: int,
                     unlabeled_idx: np.ndarray) -> np.ndarray:
  """The random subset S of the unlabeled pool that a strategy picks from (all of it when
  the pool is smaller than al.subset)."""
  rng = host_rng(config.seed, trial, stage, CANDIDATE_SUBSET)
  size = min(config.al.subset, len(unlabeled_idx))
  return np.sort(rng.choice(unlabeled_idx, size=size, replace=False))


class RunFiles:
  """results.jsonl / picks.jsonl of a workdir, trimmed on open to whole stages.

  A stage (t, s) is complete once its results row is written; the picks row of stage s + 1
  is written just before it. Rows of an incomplete stage (a kill between the two writes)
  are dropped on open, so the stage is simply redone.
  """

  def __init__(self, workdir: str):
    self.results_path = os.path.join(workdir, outputs.RESULTS_FILE)
    self.picks_path = os.path.join(workdir, outputs.PICKS_FILE)
    results = outputs.read_jsonl(self.results_path)
    picks = outputs.read_jsonl(self.picks_path)
    done = {(r["trial"], r["stage"]) for r in results}
    kept_picks = [p for p in picks
                  if p["stage"] == 0 or (p["trial"], p["stage"] - 1) in done]
    kept_results = [r for r in results
                    if any(p["trial"] == r["trial"] and p["stage"] == r["stage"]
                           for p in kept_picks)]
    if len(kept_picks) != len(picks) or len(kept_results) != len(results):
      logging.info("dropping the rows of an unfinished stage before resuming")
      outputs.rewrite_jsonl(self.picks_path, kept_picks)
      outputs.rewrite_jsonl(self.results_path, kept_results)
    self.results: List[Dict] = kept_results
    self.picks: Dict = {(p["trial"], p["stage"]): np.asarray(p["indices"], np.int64)
                        for p in kept_picks}
    self.done = {(r["trial"], r["stage"]) for r in kept_results}

  def add_picks(self, trial: int, stage: int, indices: np.ndarray) -> None:
    indices = np.asarray(indices, np.int64)
    outputs.append_jsonl(self.picks_path, {"trial": trial, "stage": stage,
                                           "indices": indices.tolist()})
    self.picks[(trial, stage)] = indices

  def add_result(self, row: Dict) -> None:
    outputs.append_jsonl(self.results_path, row)
    self.results.append(row)
    self.done.add((row["trial"], row["stage"]))

  def labeled(self, trial: int, stage: int) -> np.ndarray:
    """The labeled set of (trial, stage): the union of picks rows 0..stage."""
    return np.concatenate([self.picks[(trial, s)] for s in range(stage + 1)])


def _json_float(x: float):
  """NaN (e.g. a constant ranker's Spearman) becomes null: JSON has no NaN."""
  x = float(x)
  return None if np.isnan(x) else x


def run(config: ml_collections.ConfigDict, workdir: str) -> List[Dict]:
  """Runs (or resumes) every trial and stage; returns all results rows."""
  config_checks.check_config(config)
  dataset = load_dataset(config.dataset)
  config_checks.check_dataset_fit(config, dataset)
  select = STRATEGIES.get(config.strategy.name)
  mesh = parallel.make_mesh()
  learner = Learner(dataset, config, mesh)

  os.makedirs(workdir, exist_ok=True)
  outputs.write_or_check_config(workdir, config)
  files = RunFiles(workdir)
  total = config.trials * config.al.stages
  if len(files.done) >= total:
    logging.info("%s already holds all %d stages; nothing to do", workdir, total)
    return files.results
  if files.done:
    logging.info("resuming %s: %d of %d stages done", workdir, len(files.done), total)

  progress = tqdm.tqdm(total=total, initial=len(files.done), desc="stages", unit="stage")
  for trial in range(config.trials):
    if (trial, 0) not in files.picks:
      files.add_picks(trial, 0, initial_pool(config, trial, len(dataset.train)))
    for stage in range(config.al.stages):
      if (trial, stage) in files.done:
        continue
      row = run_stage(config, dataset, learner, select, files, trial, stage)
      logging.info("trial %d stage %d: %d labeled, test accuracy %.4f (train %.1fs, "
                   "select %.1fs)", trial, stage, row["num_labeled"], row["test_accuracy"],
                   row["train_seconds"], row["select_seconds"])
      progress.update(1)
      progress.set_postfix(acc=f"{row['test_accuracy']:.3f}")
  progress.close()
  return files.results


def run_stage(config, dataset, learner: Learner, select, files: RunFiles, trial: int,
              stage: int) -> Dict:
  """Train on the labeled set, evaluate, and (unless last) pick the next labels."""
  labeled_idx = files.labeled(trial, stage)
  start = time.perf_counter()
  fit = learner.fit(labeled_idx, jax_key(config.seed, trial, stage, LEARNER_KEY),
                    host_rng(config.seed, trial, stage, TRAIN_ORDER),
                    description=f"trial {trial} stage {stage}")
  test = learner.evaluate(fit.state, dataset.test)
  train_seconds = time.perf_counter() - start

  start = time.perf_counter()
  num_candidates = 0
  diagnostics = {}
  if stage + 1 < config.al.stages:
    unlabeled_idx = np.setdiff1d(np.arange(len(dataset.train)), labeled_idx)
    candidate_idx = candidate_subset(config, trial, stage, unlabeled_idx)
    num_candidates = len(candidate_idx)
    context = SelectionContext(
        config=config, dataset=dataset, labeled_idx=labeled_idx, candidate_idx=candidate_idx,
        budget=config.al.budget, rng=host_rng(config.seed, trial, stage, SELECTION),
        key=jax_key(config.seed, trial, stage, SELECTION_KEY), learner=learner,
        learner_state=fit.state)
    picks = check_selection(select(context), context, config.strategy.name)
    diagnostics = {k: _json_float(v) if isinstance(v, float) else v
                   for k, v in context.diagnostics.items()}
    files.add_picks(trial, stage + 1, picks)
  select_seconds = time.perf_counter() - start

  row = {
      "trial": trial, "stage": stage, "num_labeled": int(len(labeled_idx)),
      "test_accuracy": float(test["accuracy"]), "test_loss": float(test["loss"]),
      "train_loss": fit.epoch_loss[-1], "train_loss_per_epoch": fit.epoch_loss,
      "strategy": config.strategy.name, "dataset": config.dataset.name,
      "seed": config.seed, "num_candidates": num_candidates,
      "train_seconds": train_seconds, "select_seconds": select_seconds,
  }
  if learner.has_ranker:
    row.update({
        "ranker_loss_name": config.ranker.loss,
        "ranking_loss": fit.epoch_ranking_loss[-1],
        "ranking_loss_per_epoch": fit.epoch_ranking_loss,
        # How well the ranker ranks: Spearman correlation of predicted and true test losses.
        "ranker_spearman": _json_float(test["ranker_spearman"]),
    })
  row.update(diagnostics)
  files.add_result(row)
  return row
