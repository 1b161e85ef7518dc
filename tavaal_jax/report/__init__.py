"""Reports over one or many run dirs: tables, learning curves, ranker loss, picks.

  python -m tavaal_jax.report runs/random runs/tavaal --out runs/report

writes into --out: summary.csv / summary.md (accuracy mean ± sample std per labeled-set size
per strategy; summary_independent.csv too when rows carry `independent_accuracy`), auc.csv,
learning_curves.png, improvement_over_random.png (with a `random` run), ranker_loss.png (with
a ranker), picks_<strategy>_trial<t>.png grids and picks_stage_<s>.csv lists.
"""

import logging
import os
from typing import Dict, List, Sequence

from tavaal_jax.report import picks, plots, runs, tables
from tavaal_jax.report.runs import ReportError, load_runs

__all__ = ["ReportError", "load_runs", "make_report"]


def make_report(run_dirs: Sequence[str], out_dir: str, max_images: int = 16) -> List[str]:
  """Reads `run_dirs` and writes every table and figure into `out_dir`; returns the paths.

  Raises `ReportError` (a UserError) when a dir is not a run or the runs can't be combined.
  """
  loaded = load_runs(run_dirs)
  os.makedirs(out_dir, exist_ok=True)
  grouped: Dict[str, List[Dict]] = runs.rows_by_label(loaded)
  cache = picks.DatasetCache()
  summaries = tables.write_tables(grouped, out_dir, run_dirs,
                                  class_names=cache.class_names(loaded[0]))
  written = [os.path.join(out_dir, name) for name in ("summary.csv", "summary.md", "auc.csv")]
  for name in ("summary_independent.csv", "per_class_iou.csv"):
    if os.path.exists(os.path.join(out_dir, name)):
      written.append(os.path.join(out_dir, name))
  dataset = loaded[0].results[0].get("dataset") or loaded[0].config.get("dataset.name", "")
  written += plots.write_plots(grouped, summaries, out_dir, title=str(dataset))
  written += picks.write_pick_lists(loaded, out_dir, cache)
  written += picks.write_pick_grids(loaded, out_dir, cache, max_images)
  logging.info("report of %d run dirs (%s) in %s: %d files", len(loaded),
               ", ".join(runs.labels_in_order(loaded)), out_dir, len(written))
  return written
