"""The active-learning loop: trials x stages of train, evaluate, select, label.

Every random draw derives from `config.seed` and the (trial, stage) it belongs to, with a
separate stream per purpose (streams.py), so the candidate subset does not change when the
model does, and a resumed run makes the same draws as an uninterrupted one.

Per stage, in this order: the next stage's picks row, the stage's results row, then its
Orbax checkpoint (checkpoint.py). A stage is done once its checkpoint is written; on
resume, `run_files.resume` makes the rows agree with the newest good checkpoint, so a kill
at any point (or a corrupt newest checkpoint) costs at most the stages after it, which are
redone with the same draws.

Hooks: `run(..., hooks=[h])` calls `h(point, step)` at the named points of each stage
(HOOK_POINTS) with the stage's checkpoint step, e.g. for the tests that kill a run there.
"""

import dataclasses
import logging
import os
import time
from typing import Any, Callable, Dict, List, Optional, Sequence

import jax
import ml_collections
import numpy as np
from tqdm import auto as tqdm

from tavaal_jax import checkpoint, config_checks, metrics_writer, parallel, run_files
from tavaal_jax.data import load_dataset
from tavaal_jax.data.batching import steps_per_epoch
from tavaal_jax.errors import ConfigError
from tavaal_jax.learner import Learner
from tavaal_jax.metrics_writer import MetricWriter
from tavaal_jax.run_files import RunFiles
from tavaal_jax.strategies import STRATEGIES, SelectionContext, check_selection
from tavaal_jax.streams import HostStream, JaxStream, host_rng, jax_key

TENSORBOARD_DIR = "tensorboard"
# Figures of a results row written per stage to the metric writer.
STAGE_SCALARS = ("num_labeled", "test_accuracy", "test_loss", "train_loss", "ranking_loss",
                 "ranker_spearman", "independent_accuracy", "disc_labeled_mean",
                 "disc_unlabeled_mean", "train_seconds", "select_seconds")
# Sources whose picks rows also carry the images' names (file paths, array rows).
NAMED_SOURCES = ("npz", "folder")


def initial_pool(config: ml_collections.ConfigDict, trial: int, pool_size: int) -> np.ndarray:
  """[al.initial] distinct training indices, drawn per trial."""
  rng = host_rng(config.seed, trial, 0, HostStream.INITIAL_POOL)
  return np.sort(rng.choice(pool_size, size=config.al.initial, replace=False))


def candidate_subset(config: ml_collections.ConfigDict, trial: int, stage: int,
                     unlabeled_idx: np.ndarray) -> np.ndarray:
  """The random subset S of the unlabeled pool that a strategy picks from (all of it when
  the pool is smaller than al.subset)."""
  rng = host_rng(config.seed, trial, stage, HostStream.CANDIDATE_SUBSET)
  size = min(config.al.subset, len(unlabeled_idx))
  return np.sort(rng.choice(unlabeled_idx, size=size, replace=False))


def checkpoint_step(config: ml_collections.ConfigDict, trial: int, stage: int) -> int:
  """The checkpoint step of (trial, stage): stages are numbered across trials."""
  return trial * config.al.stages + stage


# Where `run` calls its hooks, in the order of a stage: 'train' (after each training epoch
# of the stage's learner), 'select' (selection done, its picks not yet written), 'picks'
# (the next stage's picks row written, the results row not), 'results' (the results row
# written, the checkpoint not), 'checkpoint' (the checkpoint write started, not finished).
HOOK_POINTS = ("train", "select", "picks", "results", "checkpoint")
Hook = Callable[[str, int], None]   # hook(point, checkpoint step)


def _call_hooks(hooks: Sequence[Hook], point: str, step: int) -> None:
  for hook in hooks:
    hook(point, step)


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


def _write_stage_metrics(writer: MetricWriter, config, step: int, row: Dict,
                         fit_epochs: Dict[str, List[float]], steps_per_second: float) -> None:
  """Per-epoch training curves at step (stage step) * epochs + epoch + 1, adversary losses
  per pass likewise, and the stage's figures at the stage step."""
  epochs = config.train.epochs
  for epoch in range(epochs):
    writer.write_scalars(step * epochs + epoch + 1, {
        f"train/{name}": values[epoch] for name, values in fit_epochs.items()
        if len(values) > epoch})
  for name in ("vae_loss", "disc_loss"):
    values = row.get(name)
    if isinstance(values, list):
      for i, value in enumerate(values):
        writer.write_scalars(step * len(values) + i + 1, {f"adversary/{name}": value})
  stage = {f"stage/{name}": row[name] for name in STAGE_SCALARS
           if isinstance(row.get(name), (int, float)) and not isinstance(row[name], bool)}
  for name in ("vae_loss", "disc_loss"):
    if isinstance(row.get(name), list) and row[name]:
      stage[f"stage/{name}"] = row[name][-1]
  stage["stage/train_steps_per_second"] = steps_per_second
  writer.write_scalars(step, stage)
  writer.flush()


def _json_float(x: float):
  """NaN (e.g. a constant ranker's Spearman) becomes null: JSON has no NaN."""
  x = float(x)
  return None if np.isnan(x) else x


def run(config: ml_collections.ConfigDict, workdir: str, *, force: bool = False,
        writer: Optional[MetricWriter] = None, hooks: Sequence[Hook] = ()) -> List[Dict]:
  """Runs (or resumes) every trial and stage; returns all results rows.

  workdir: a local path or a `gs://` one; with several processes, process 0's (run_files.py).
  force: move an existing workdir aside to <workdir>.old-<timestamp> and start over.
  writer: where per-epoch and per-stage metrics go; by default TensorBoard events in
  <workdir>/tensorboard plus log lines (on process 0 only), closed at the end.
  hooks: called as hook(point, checkpoint step) at each of HOOK_POINTS.
  """
  config_checks.check_config(config)
  with_independent = config.al.get("independent", False)
  if not isinstance(with_independent, bool):
    raise ConfigError(f"al.independent={with_independent!r} must be True or False")
  run_files.check_workdir(workdir, config, force)   # refuse before anything is loaded
  dataset = load_dataset(config.dataset)
  config_checks.check_dataset_fit(config, dataset)
  select = STRATEGIES.get(config.strategy.name)
  mesh = parallel.make_mesh()
  learner = Learner(dataset, config, mesh)
  independent = None
  if with_independent:
    independent = Learner(dataset, independent_config(config), mesh)

  run_files.prepare_workdir(workdir, config, force)
  checkpoint.wait_for_all_processes("workdir ready")
  own_writer = writer is None
  if own_writer:
    writer = metrics_writer.create_default_writer(os.path.join(workdir, TENSORBOARD_DIR))
  files = RunFiles(workdir)
  checkpoints = checkpoint.Checkpoints(workdir)
  try:
    run_files.resume(files, checkpoints)
    total = config.trials * config.al.stages
    if len(files.done) >= total:
      logging.info("%s already holds all %d stages (results.jsonl, checkpoint step %d); "
                   "nothing to do", workdir, total, total - 1)
      return files.results
    if files.done:
      logging.info("resuming %s: %d of %d stages done", workdir, len(files.done), total)

    progress = tqdm.tqdm(total=total, initial=len(files.done), desc="stages", unit="stage")
    for trial in range(config.trials):
      if (trial, 0) not in files.picks:
        pool = initial_pool(config, trial, len(dataset.train))
        files.add_picks(trial, 0, pool, _names(config, dataset, pool))
      for stage in range(config.al.stages):
        if (trial, stage) in files.done:
          continue
        step = checkpoint_step(config, trial, stage)
        out = run_stage(config, dataset, learner, select, files, trial, stage, independent,
                        hooks)
        row = out.row
        _call_hooks(hooks, "results", step)
        checkpoints.save(step, _checkpoint_state(config, out.state), {
            "trial": trial, "stage": stage,
            "labeled_idx": np.concatenate(
                [files.picks[(trial, s)] for s in range(stage + 2)
                 if (trial, s) in files.picks]).tolist(),
            # Copies: the write finishes in the background while rows are appended.
            "results": list(files.results), "picks": list(files.picks_rows)})
        _call_hooks(hooks, "checkpoint", step)
        _write_stage_metrics(writer, config, step, row, out.epochs, out.steps_per_second)
        logging.info("trial %d stage %d: %d labeled, test accuracy %.4f (train %.1fs, "
                     "select %.1fs)", trial, stage, row["num_labeled"], row["test_accuracy"],
                     row["train_seconds"], row["select_seconds"])
        progress.update(1)
        progress.set_postfix(acc=f"{row['test_accuracy']:.3f}")
    progress.close()
    checkpoints.wait_until_finished()
    return files.results
  finally:
    checkpoints.close()  # waits for a checkpoint write in progress
    if own_writer:
      writer.close()
    else:
      writer.flush()


def _names(config, dataset, indices: np.ndarray) -> Optional[List[str]]:
  """The images' names (paths relative to dataset.path, `x_train[i]`) for the sources in
  NAMED_SOURCES; None for the others."""
  if config.dataset.name not in NAMED_SOURCES:
    return None
  return list(dataset.train.names(np.asarray(indices, np.int64)))


def _checkpoint_state(config, state) -> Dict:
  """What a checkpoint keeps of a trained learner, plus the run's root key."""
  variables = {"params": state.params, "rng_key": jax.random.key_data(jax.random.key(config.seed))}
  if state.batch_stats:
    variables["batch_stats"] = state.batch_stats
  return variables


@dataclasses.dataclass
class StageOutput:
  row: Dict                        # the results row written
  state: Any                       # the trained learner's state
  epochs: Dict[str, List[float]]   # per-epoch training curves: loss, accuracy, ranking_loss
  steps_per_second: float          # training steps per second of the fit


def run_stage(config, dataset, learner: Learner, select, files: RunFiles, trial: int,
              stage: int, independent: Optional[Learner] = None,
              hooks: Sequence[Hook] = ()) -> StageOutput:
  """Train on the labeled set, evaluate, (unless last) pick the next labels, and (with an
  independent learner) train and evaluate it on the same labeled set."""
  step = checkpoint_step(config, trial, stage)
  labeled_idx = files.labeled(trial, stage)
  order = host_rng(config.seed, trial, stage, HostStream.TRAIN_ORDER)
  start = time.perf_counter()
  fit = learner.fit(labeled_idx, jax_key(config.seed, trial, stage, JaxStream.LEARNER), order,
                    description=f"trial {trial} stage {stage}",
                    after_epoch=lambda epoch: _call_hooks(hooks, "train", step))
  fit_seconds = time.perf_counter() - start
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
        budget=config.al.budget, rng=host_rng(config.seed, trial, stage, HostStream.SELECTION),
        key=jax_key(config.seed, trial, stage, JaxStream.SELECTION), learner=learner,
        learner_state=fit.state)
    selection = check_selection(select(context), context, config.strategy.name)
    picks = selection.indices
    # Selection runs on every host; they must agree before process 0 records the picks.
    parallel.assert_same_on_all_hosts(picks, f"the picks of trial {trial} stage {stage}")
    diagnostics = {k: _json_float(v) if isinstance(v, float) else v
                   for k, v in context.diagnostics.items()}
    _call_hooks(hooks, "select", step)
    files.add_picks(trial, stage + 1, picks, _names(config, dataset, picks), selection)
    _call_hooks(hooks, "picks", step)
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
  if independent is not None:
    # Its own streams: the main learner's draws, and so the picks, do not change.
    start = time.perf_counter()
    independent_fit = independent.fit(
        labeled_idx, jax_key(config.seed, trial, stage, JaxStream.INDEPENDENT),
        host_rng(config.seed, trial, stage, HostStream.INDEPENDENT_ORDER),
        description=f"trial {trial} stage {stage} (independent)")
    independent_test = independent.evaluate(independent_fit.state, dataset.test)
    row.update(independent_accuracy=float(independent_test["accuracy"]),
               independent_test_loss=float(independent_test["loss"]),
               independent_seconds=time.perf_counter() - start)
  files.add_result(row)

  steps = steps_per_epoch(len(labeled_idx), config.train.batch_size) * config.train.epochs
  epochs = {"loss": fit.epoch_loss, "accuracy": fit.epoch_accuracy}
  if fit.epoch_ranking_loss:
    epochs["ranking_loss"] = fit.epoch_ranking_loss
  return StageOutput(row, fit.state, epochs, steps / max(fit_seconds, 1e-9))
