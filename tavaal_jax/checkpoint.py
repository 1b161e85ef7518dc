"""Orbax checkpoints of a run: one step per completed (trial, stage).

`<workdir>/checkpoints/<step>/` (step = trial * al.stages + stage) holds two items:

  state  (StandardSave) the stage's trained learner, host copies: `params`,
         `batch_stats`, and `rng_key` (jax.random.key_data of the root key
         jax.random.key(seed); every draw of the run is that key folded with
         (trial, stage, purpose), see `streams.jax_key`).
  meta   (JsonSave)     `format`, `step`, `trial`, `stage`, `labeled_idx` (the labeled set
         after this stage's picks: what the next stage trains on), `results` and `picks`
         (every row of results.jsonl / picks.jsonl written so far), and `state_sha256`, a
         digest of the state item that `restore` checks, so silent corruption of the
         array files is caught too.

A checkpoint is written after the stage's rows, so the rows it holds are never behind the
files. Orbax writes each step into a temporary directory and renames it when complete; a
step that a kill interrupted is never listed (and its temporary directory is removed when
the next run opens the manager). `MAX_TO_KEEP` steps are kept: the newest to resume from and
the one before it to fall back to when the newest is corrupt.

Only process 0 keeps checkpoints (the Orbax manager runs over that process alone): every
process takes part in copying a state to the host, then process 0 writes it, and process 0
alone restores, checks and discards steps when a run resumes (run_files.py). So the
checkpoints live in process 0's workdir, shared with the other hosts or not.
"""

import datetime
import hashlib
import json
import logging
import os
from typing import Any, Dict, List, Optional, Tuple

import jax
import numpy as np
import orbax.checkpoint as ocp
from etils import epath

from tavaal_jax import outputs, parallel

CHECKPOINT_DIR = "checkpoints"
DISCARDED_DIR = "checkpoints.discarded"
MAX_TO_KEEP = 2
FORMAT = 1


def wait_for_all_processes(what: str) -> None:
  """A barrier when several processes run, so that none reads what process 0 is moving."""
  if jax.process_count() > 1:
    from jax.experimental import multihost_utils
    multihost_utils.sync_global_devices(f"tavaal_jax: {what}")


class CorruptCheckpoint(Exception):
  """A checkpoint step that cannot be restored or fails its checks."""


def state_digest(state) -> str:
  """SHA-256 over every leaf of a tree of arrays: its path, dtype, shape and bytes."""
  digest = hashlib.sha256()
  leaves, _ = jax.tree_util.tree_flatten_with_path(state)
  for path, leaf in sorted(leaves, key=lambda item: jax.tree_util.keystr(item[0])):
    leaf = np.ascontiguousarray(np.asarray(leaf))
    digest.update(f"{jax.tree_util.keystr(path)}|{leaf.dtype.str}|{leaf.shape}|".encode())
    digest.update(leaf.tobytes())
  return digest.hexdigest()


def canonical(row: Dict) -> str:
  """A row as canonical JSON text; NaN compares equal to NaN this way."""
  return json.dumps(row, sort_keys=True)


def _by_stage(rows: List[Dict]) -> Dict[Tuple[int, int], str]:
  return {(row["trial"], row["stage"]): canonical(row) for row in rows}


def disagreements(meta: Dict, results: List[Dict], picks: List[Dict]) -> List[str]:
  """Where the rows held by a checkpoint differ from the files' rows of the same
  (trial, stage); rows that only one side holds are not a disagreement."""
  problems = []
  for name, saved, current in (("results.jsonl", meta["results"], results),
                               ("picks.jsonl", meta["picks"], picks)):
    saved, current = _by_stage(saved), _by_stage(current)
    for key in sorted(set(saved) & set(current)):
      if saved[key] != current[key]:
        problems.append(f"{name} trial {key[0]} stage {key[1]}")
  return problems


class Checkpoints:
  """The Orbax `CheckpointManager` of a workdir plus the checks that make resuming safe."""

  def __init__(self, workdir: str):
    self.workdir = epath.Path(workdir)
    if outputs.is_local(workdir):
      self.workdir = epath.Path(os.path.abspath(workdir))
    self.directory = self.workdir / CHECKPOINT_DIR
    self._manager: Optional[ocp.CheckpointManager] = None

  @property
  def manager(self) -> ocp.CheckpointManager:
    """The Orbax manager; process 0's alone (an error on any other process)."""
    if not parallel.is_writer():
      raise RuntimeError("only process 0 keeps checkpoints")
    if self._manager is None:
      # Orbax creates the directory only for managers over all processes.
      self.directory.mkdir(parents=True, exist_ok=True)
      options = ocp.CheckpointManagerOptions(
          max_to_keep=MAX_TO_KEEP, create=False, cleanup_tmp_directories=True,
          # Over process 0 alone: the other hosts' workdirs (shared or not) are not read.
          multiprocessing_options=ocp.options.MultiprocessingOptions(
              primary_host=0, active_processes={0}))
      self._manager = ocp.CheckpointManager(self.directory, options=options,
                                            item_names=("state", "meta"))
    return self._manager

  def steps(self) -> List[int]:
    """Completed steps, oldest first."""
    return sorted(self.manager.all_steps())

  def save(self, step: int, state: Dict[str, Any], meta: Dict[str, Any]) -> None:
    """Starts writing `step` in the background (`wait_until_finished` waits for it).

    state: a tree of arrays (copied to the host here); meta: JSON-serialisable; its
    `state_sha256` and `format` are filled in here.
    """
    state = parallel.to_host(state)   # every process takes part
    if not parallel.is_writer():
      return
    meta = dict(meta, format=FORMAT, step=int(step), state_sha256=state_digest(state))
    self.manager.save(step, args=ocp.args.Composite(state=ocp.args.StandardSave(state),
                                                    meta=ocp.args.JsonSave(meta)))

  def restore(self, step: int) -> Tuple[Dict[str, Any], Dict[str, Any]]:
    """(state, meta) of `step` as host arrays and JSON; CorruptCheckpoint when an item
    cannot be read or the state does not match its recorded digest."""
    try:
      restored = self.manager.restore(
          step, args=ocp.args.Composite(state=ocp.args.StandardRestore(),
                                        meta=ocp.args.JsonRestore()))
      state, meta = jax.device_get(restored["state"]), restored["meta"]
    except Exception as error:  # Orbax, TensorStore and JSON raise many kinds
      raise CorruptCheckpoint(f"cannot be restored ({type(error).__name__}: "
                              f"{str(error)[:300]})") from error
    if not isinstance(meta, dict) or meta.get("format") != FORMAT or meta.get("step") != step:
      raise CorruptCheckpoint("its metadata is not that of this step")
    if state_digest(state) != meta.get("state_sha256"):
      raise CorruptCheckpoint("its arrays do not match their recorded SHA-256 digest")
    return state, meta

  def latest_good(self, results: List[Dict], picks: List[Dict]
                  ) -> Tuple[Optional[int], Optional[Dict]]:
    """(step, meta) of the newest checkpoint that restores, passes its checks and agrees
    with the rows of results.jsonl / picks.jsonl; (None, None) when there is none.

    Each step passed over is reported with a warning naming it and why.
    """
    for step in reversed(self.steps()):
      try:
        _, meta = self.restore(step)
      except CorruptCheckpoint as error:
        logging.warning("checkpoint step %d in %s is corrupt: %s; falling back to the one "
                        "before", step, self.directory, error)
        continue
      problems = disagreements(meta, results, picks)
      if problems:
        logging.warning("checkpoint step %d in %s disagrees with %s; falling back to the "
                        "one before", step, self.directory, ", ".join(problems[:4]))
        continue
      return step, meta
    return None, None

  def discard_after(self, step: Optional[int]) -> None:
    """Moves the steps newer than `step` (all, when None) to <workdir>/checkpoints.discarded/
    (kept for inspection, never deleted), so that they can be written again. Process 0."""
    newer = [s for s in self.steps() if step is None or s > step]
    if not newer:
      return
    self.wait_until_finished()
    stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S-%f")
    target_dir = self.workdir / DISCARDED_DIR
    target_dir.mkdir(parents=True, exist_ok=True)
    for s in newer:
      target = target_dir / f"{s}.{stamp}"
      (self.directory / str(s)).rename(target)
      logging.warning("moved checkpoint step %d aside to %s", s, target)
    self.manager.reload()

  def wait_until_finished(self) -> None:
    if self._manager is not None:
      self._manager.wait_until_finished()

  def close(self) -> None:
    """Waits for a write in progress, then releases the manager."""
    if self._manager is not None:
      self._manager.wait_until_finished()
      self._manager.close()
      self._manager = None
