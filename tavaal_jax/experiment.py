"""The active-learning loop: trials x stages of train, evaluate, select, label.

The work of one stage is stage.py's (`run_stage`, shared with the query rounds); this module
keeps the loop around it: pools, trials, rows, checkpoints, resume, hooks.

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

import logging
import os
from typing import Callable, Dict, List, Optional, Sequence

import jax
import ml_collections
import numpy as np
from tqdm import auto as tqdm

from tavaal_jax import checkpoint, config_checks, metrics_writer, parallel, run_files
from tavaal_jax.data import DATASETS, load_dataset
from tavaal_jax.errors import ConfigError
from tavaal_jax.learner import Learner
from tavaal_jax.metrics_writer import MetricWriter
from tavaal_jax.run_files import RunFiles
# candidate_subset: the loop's draws sit beside initial_pool for its callers.
from tavaal_jax.stage import candidate_subset, independent_config, run_stage  # noqa: F401
from tavaal_jax.stage_metrics import write_stage_metrics
from tavaal_jax.strategies import STRATEGIES
from tavaal_jax.streams import HostStream, host_rng

TENSORBOARD_DIR = "tensorboard"
# Sources whose picks rows also carry the images' names (file paths, array rows).
NAMED_SOURCES = ("npz", "folder")


def initial_pool(config: ml_collections.ConfigDict, trial: int, pool_size: int) -> np.ndarray:
  """[al.initial] distinct training indices, drawn per trial."""
  rng = host_rng(config.seed, trial, 0, HostStream.INITIAL_POOL)
  return np.sort(rng.choice(pool_size, size=config.al.initial, replace=False))


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
  if DATASETS.trait(config.dataset.name, "partially_labeled"):
    raise ConfigError(f"dataset.name={config.dataset.name!r} holds images without labels, "
                      "and the simulation reveals every image's label; run query rounds on "
                      "it instead: python -m tavaal_jax.query")
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
        # Both callbacks run within this iteration, so they see its trial, stage and step.
        out = run_stage(
            config, dataset, learner, select, files.labeled(trial, stage), trial, stage,
            independent, hook=lambda point: _call_hooks(hooks, point, step),
            after_select=lambda selection: _record_picks(config, dataset, files, trial, stage,
                                                         step, selection, hooks))
        row = out.row
        files.add_result(row)
        _call_hooks(hooks, "results", step)
        checkpoints.save(step, _checkpoint_state(config, out.state), {
            "trial": trial, "stage": stage,
            "labeled_idx": np.concatenate(
                [files.picks[(trial, s)] for s in range(stage + 2)
                 if (trial, s) in files.picks]).tolist(),
            # Copies: the write finishes in the background while rows are appended.
            "results": list(files.results), "picks": list(files.picks_rows)})
        _call_hooks(hooks, "checkpoint", step)
        write_stage_metrics(writer, config, step, row, out.epochs, out.steps_per_second)
        primary = learner.task.primary_metric
        logging.info("trial %d stage %d: %d labeled, test %s %.4f (train %.1fs, "
                     "select %.1fs)", trial, stage, row["num_labeled"], primary,
                     row[f"test_{primary}"], row["train_seconds"], row["select_seconds"])
        progress.update(1)
        progress.set_postfix({primary: f"{row[f'test_{primary}']:.3f}"})
    progress.close()
    checkpoints.wait_until_finished()
    return files.results
  finally:
    checkpoints.close()  # waits for a checkpoint write in progress
    if own_writer:
      writer.close()
    else:
      writer.flush()


def _record_picks(config, dataset, files: RunFiles, trial: int, stage: int, step: int,
                  selection, hooks: Sequence[Hook]) -> None:
  """Writes the picks row of stage + 1 (hooks: 'picks' once it is written)."""
  picks = selection.indices
  files.add_picks(trial, stage + 1, picks, _names(config, dataset, picks), selection)
  _call_hooks(hooks, "picks", step)


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
