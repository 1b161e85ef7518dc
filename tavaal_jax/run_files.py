"""The rows of a run's workdir (results.jsonl, picks.jsonl) and resuming from them.

Only process 0 reads and writes the workdir (outputs.py, checkpoint.py). When a run starts
or resumes, process 0 decides from its workdir and checkpoints which stages are done and
which rows stand, and hands that view to every process (`distributed.from_process_zero`),
so all hosts continue at the same stage with the same labeled pool whether their workdirs
are one shared directory or each host's own disk.
"""

import logging
from typing import Dict, List, Optional, Sequence, Tuple

import ml_collections
import numpy as np
from etils import epath

from tavaal_jax import checkpoint, distributed, outputs, parallel


class RunFiles:
  """results.jsonl / picks.jsonl of a workdir, as rows held by every process.

  The picks row of stage s + 1 is written just before the results row of stage s, and the
  stage's checkpoint after both; `resume` makes the rows agree with the newest good
  checkpoint before a run continues. Process 0 writes every row; the other processes only
  hold them.
  """

  def __init__(self, workdir: str):
    workdir = epath.Path(workdir)
    self.results_path = workdir / outputs.RESULTS_FILE
    self.picks_path = workdir / outputs.PICKS_FILE
    self._set([], [])

  def _set(self, results: List[Dict], picks: List[Dict]) -> None:
    self.results: List[Dict] = list(results)
    self.picks_rows: List[Dict] = list(picks)
    self.picks: Dict = {(p["trial"], p["stage"]): np.asarray(p["indices"], np.int64)
                        for p in picks}
    self.done = {(r["trial"], r["stage"]) for r in results}

  def read(self) -> Tuple[List[Dict], List[Dict]]:
    """(results rows, picks rows) as the files hold them now. Process 0."""
    return outputs.read_jsonl(self.results_path), outputs.read_jsonl(self.picks_path)

  def reset(self, results: List[Dict], picks: List[Dict]) -> None:
    """Makes the files hold these rows, rewriting a file (atomically) when its rows differ
    or it ends in a torn line. Process 0."""
    for path, new in ((self.results_path, results), (self.picks_path, picks)):
      if (not outputs.is_clean_jsonl(path)
          or [checkpoint.canonical(r) for r in new]
          != [checkpoint.canonical(r) for r in outputs.read_jsonl(path)]):
        outputs.rewrite_jsonl(path, new)
    self._set(results, picks)

  def add_picks(self, trial: int, stage: int, indices: np.ndarray,
                names: Optional[Sequence[str]] = None, selection=None) -> None:
    """Records the labeled images of (trial, stage) in pick order. `selection` (a
    strategies.Selection of these indices) adds its 'scores' (null where NaN) and
    'score_name'; the initial pool has none."""
    indices = np.asarray(indices, np.int64)
    row = {"trial": trial, "stage": stage, "indices": indices.tolist()}
    if names is not None:
      row["names"] = [str(n) for n in names]
    if selection is not None:
      row["scores"] = selection.scores_json()
      row["score_name"] = selection.score_name
    if parallel.is_writer():
      outputs.append_jsonl(self.picks_path, row)
    self.picks_rows.append(row)
    self.picks[(trial, stage)] = indices

  def add_result(self, row: Dict) -> None:
    if parallel.is_writer():
      outputs.append_jsonl(self.results_path, row)
    self.results.append(row)
    self.done.add((row["trial"], row["stage"]))

  def labeled(self, trial: int, stage: int) -> np.ndarray:
    """The labeled set of (trial, stage): the union of picks rows 0..stage."""
    return np.concatenate([self.picks[(trial, s)] for s in range(stage + 1)])


def prepare_workdir(workdir: str, config: ml_collections.ConfigDict, force: bool) -> None:
  """On process 0: with `force`, moves an existing workdir aside; then writes config.json
  (or checks the one there). Before any process reads the workdir; errors reach all."""
  def prepare():
    if force:
      outputs.move_aside(workdir)
    outputs.write_or_check_config(workdir, config)
  distributed.from_process_zero(prepare)


def check_workdir(workdir: str, config: ml_collections.ConfigDict, force: bool) -> None:
  """Before anything is loaded: every process runs the same config, and (on process 0) the
  workdir can be reached and, unless `force`, holds no run of another config."""
  distributed.check_same_config(outputs.config_json(config))

  def check():
    outputs.workdir_path(workdir)
    if not force:
      outputs.check_config_matches(workdir, config)
  distributed.from_process_zero(check)


def resume(files: RunFiles, checkpoints: checkpoint.Checkpoints) -> None:
  """Makes every process's rows, and process 0's files, agree with the newest good
  checkpoint of process 0: a stage counts as done once its checkpoint is written.

  The newest checkpoint that restores, passes its checks and agrees with the files' rows of
  the same stages wins; its rows become the files' rows. Rows of later stages (a kill
  before or during that stage's checkpoint write, or a corrupt newest checkpoint) are
  dropped and those stages redone; rows the files lack are restored from it. Checkpoints
  passed over are moved aside, never deleted. With no good checkpoint the run starts over
  (keeping only the initial pool of trial 0).
  """
  def decide():
    results, picks = _rows_to_resume_from(files, checkpoints)
    files.reset(results, picks)
    return {"results": results, "picks": picks}
  view = distributed.from_process_zero(decide)
  files._set(view["results"], view["picks"])  # pylint: disable=protected-access


def _rows_to_resume_from(files: RunFiles, checkpoints: checkpoint.Checkpoints
                         ) -> Tuple[List[Dict], List[Dict]]:
  """(results, picks) rows of the newest good checkpoint, after moving newer checkpoints
  aside and warning about what is dropped or restored. Process 0."""
  file_results, file_picks = files.read()
  step, meta = checkpoints.latest_good(file_results, file_picks)
  if meta:
    results, picks = meta["results"], meta["picks"]
  else:  # only the initial pool of trial 0, a function of the seed, survives
    results, picks = [], [p for p in file_picks[:1] if (p["trial"], p["stage"]) == (0, 0)]
  done = {(r["trial"], r["stage"]) for r in file_results}
  kept = {(r["trial"], r["stage"]) for r in results}
  dropped = sorted(key for key in done if key not in kept)
  kept_picks = {(p["trial"], p["stage"]) for p in picks}
  dropped_picks = sorted({(p["trial"], p["stage"]) for p in file_picks} - kept_picks)
  if dropped or dropped_picks:
    where = (f"the last good checkpoint (step {step}: trial {meta['trial']} stage "
             f"{meta['stage']})" if meta else "the start (no good checkpoint)")
    logging.warning("resuming from %s: dropping the results rows of trial/stage [%s] and "
                    "the picks rows of [%s]; those stages are redone", where,
                    ", ".join(f"{t}/{s}" for t, s in dropped),
                    ", ".join(f"{t}/{s}" for t, s in dropped_picks))
  restored = sorted(key for key in kept if key not in done)
  if restored:
    logging.warning("results.jsonl lacked %d row(s) that checkpoint step %d holds; "
                    "restoring them", len(restored), step)
  checkpoints.discard_after(step)
  return results, picks
