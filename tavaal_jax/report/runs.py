"""Reading the workdirs of finished (or running) experiments for a report.

A run dir holds results.jsonl (one row per (trial, stage)), config.json and picks.jsonl
(see tavaal_jax/outputs.py). Runs are grouped into curves by strategy: two runs of the same
strategy with other seeds are more trials of one curve; runs of the same strategy whose
configs differ in anything but `seed` and `trials` are separate curves, labelled by the
differing fields (e.g. `tavaal (ranker.loss=ll)`), so an ll-vs-llv2 comparison is not
averaged into one line.
"""

import dataclasses
import json
import logging
import os
from typing import Dict, List, Sequence, Tuple

from tavaal_jax import outputs
from tavaal_jax.errors import UserError

# Config fields that make more trials of one curve, not another curve.
TRIAL_FIELDS = ("seed", "trials")


class ReportError(UserError):
  """The run dirs given to the report cannot be read or combined; the message says why."""


@dataclasses.dataclass
class Run:
  """One workdir: config.json as written (`config_tree`, {} when missing) and flattened to
  dotted names (`config`), its results and picks rows, and the curve label it is drawn under."""

  path: str
  config_tree: Dict
  results: List[Dict]
  picks: List[Dict]
  label: str = ""

  def __post_init__(self):
    self.config = _flatten(self.config_tree)

  @property
  def strategy(self) -> str:
    return str(self.results[0].get("strategy") or self.config.get("strategy.name")
               or os.path.basename(os.path.normpath(self.path)))

  @property
  def dataset_config(self) -> Dict:
    """The nested `dataset` section of config.json ({} when unknown)."""
    return self.config_tree.get("dataset", {})


def _flatten(tree: Dict, prefix: str = "") -> Dict:
  flat = {}
  for key, value in tree.items():
    if isinstance(value, dict):
      flat.update(_flatten(value, f"{prefix}{key}."))
    else:
      flat[f"{prefix}{key}"] = value
  return flat


def _read_rows(path: str) -> List[Dict]:
  try:
    return outputs.read_jsonl(path)
  except UserError:
    raise
  except (OSError, UnicodeDecodeError) as error:
    raise ReportError(f"cannot read {path}: {error}") from error


def read_run(path: str) -> Run:
  """Reads one run dir; a dir without results.jsonl is a `ReportError` naming it."""
  results_path = os.path.join(path, outputs.RESULTS_FILE)
  if not os.path.isdir(path):
    raise ReportError(f"{path} is not a directory (expected a run's --workdir)")
  if not os.path.exists(results_path):
    raise ReportError(f"{path} has no {outputs.RESULTS_FILE}; is it a run's --workdir?")
  results = _read_rows(results_path)
  for number, row in enumerate(results):
    missing = [k for k in ("trial", "stage", "num_labeled") if k not in row]
    if "test_accuracy" not in row and "test_miou" not in row:
      missing.append("test_accuracy (or test_miou)")
    if missing:
      raise ReportError(f"{results_path} row {number + 1} lacks {', '.join(missing)}")
  nested = {}
  config_path = os.path.join(path, outputs.CONFIG_FILE)
  if os.path.exists(config_path):
    try:
      with open(config_path) as f:
        nested = json.load(f)
    except (OSError, json.JSONDecodeError) as error:
      raise ReportError(f"cannot read {config_path}: {error}") from error
  picks = _read_rows(os.path.join(path, outputs.PICKS_FILE))
  return Run(path=path, config_tree=nested, results=results, picks=picks)


def seed_of(run: Run, row: Dict = None) -> int:
  """The seed of a results/picks row (picks rows carry none: the run's)."""
  if row is not None and "seed" in row:
    return row["seed"]
  if "seed" in run.config:
    return run.config["seed"]
  return run.results[0].get("seed", 0)


def load_runs(paths: Sequence[str]) -> List[Run]:
  """Reads and labels the run dirs; errors name the dirs at fault.

  Dirs whose results.jsonl has no rows yet are skipped with a warning. Raises `ReportError`
  on: a missing results.jsonl, runs of different datasets, and the same (strategy, seed,
  trial, stage) in two rows (e.g. one run dir given twice under two names).
  """
  if not paths:
    raise ReportError("no run dirs given")
  runs = []
  for path in paths:
    run = read_run(path)
    if not run.results:
      logging.warning("%s has no results rows yet; leaving it out", path)
      continue
    runs.append(run)
  if not runs:
    raise ReportError(f"none of {', '.join(paths)} has results rows yet")
  _check_one_dataset(runs)
  _label(runs)
  _check_duplicates(runs)
  return runs


def _check_one_dataset(runs: List[Run]) -> None:
  by_dataset: Dict[str, List[str]] = {}
  for run in runs:
    name = run.results[0].get("dataset") or run.config.get("dataset.name", "?")
    by_dataset.setdefault(str(name), []).append(run.path)
  if len(by_dataset) > 1:
    details = "; ".join(f"{name}: {', '.join(dirs)}" for name, dirs in by_dataset.items())
    raise ReportError(f"the runs are of different datasets ({details}); "
                      "report each dataset separately")


def _label(runs: List[Run]) -> None:
  """Sets run.label: the strategy, plus the config fields that tell its variants apart."""
  by_strategy: Dict[str, List[Run]] = {}
  for run in runs:
    by_strategy.setdefault(run.strategy, []).append(run)
  for strategy, group in by_strategy.items():
    # Only fields every config has: a field added to the code since an older run is no
    # difference, and a run without config.json joins the plain strategy's curve.
    configs = [r.config for r in group if r.config]
    keys = set.intersection(*(set(c) for c in configs)) if configs else set()
    differing = sorted(k for k in keys - set(TRIAL_FIELDS)
                       if len({json.dumps(c.get(k), sort_keys=True) for c in configs}) > 1)
    for run in group:
      parts = [f"{k}={_short(run.config.get(k))}" for k in differing] if run.config else []
      run.label = f"{strategy} ({', '.join(parts)})" if parts else strategy
    if differing:
      logging.info("runs of %s differ in %s: drawn as separate curves",
                   strategy, ", ".join(differing))


def _short(value) -> str:
  if isinstance(value, list):
    return "(" + ",".join(_short(v) for v in value) + ")"
  return str(value)


def _check_duplicates(runs: List[Run]) -> None:
  seen: Dict[Tuple, str] = {}
  for run in runs:
    for row in run.results:
      key = (run.label, seed_of(run, row), row["trial"], row["stage"])
      if key in seen:
        where = (f"{seen[key]} and {run.path}" if seen[key] != run.path
                 else f"{run.path} (twice)")
        raise ReportError(
            f"strategy {key[0]!r} seed {key[1]} trial {key[2]} stage {key[3]} appears in "
            f"{where}; give each run dir once (runs of one strategy merge only when their "
            "seeds differ)")
      seen[key] = run.path


def labels_in_order(runs: Sequence[Run]) -> List[str]:
  """Curve labels in the order their first run dir was given."""
  return list(dict.fromkeys(run.label for run in runs))


def rows_by_label(runs: Sequence[Run]) -> Dict[str, List[Dict]]:
  """label -> results rows of every run under it, each with its `seed` filled in."""
  grouped: Dict[str, List[Dict]] = {label: [] for label in labels_in_order(runs)}
  for run in runs:
    for row in run.results:
      grouped[run.label].append(dict(row, seed=seed_of(run, row)))
  return grouped
