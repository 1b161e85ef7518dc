"""Mean +- std of accuracy per labeled-set size, and the area under each learning curve.

std is the SAMPLE standard deviation over trials (ddof=1; 0 for a single trial). Every
number in summary.csv / auc.csv is recomputable from the results.jsonl rows it came from.
"""

import csv
import math
import os
from typing import Dict, List, Sequence

import numpy as np

ACCURACY = "test_accuracy"
INDEPENDENT = "independent_accuracy"
SUMMARY_COLUMNS = ("strategy", "num_labeled", "mean", "std", "trials")
AUC_COLUMNS = ("strategy", "metric", "auc", "auc_std", "trials", "num_labeled_from",
               "num_labeled_to", "points")
STD_NOTE = "std: sample standard deviation over trials (ddof=1; 0 for a single trial)"


def sample_std(values: Sequence[float]) -> float:
  return float(np.std(values, ddof=1)) if len(values) > 1 else 0.0


def _value(row: Dict, metric: str):
  value = row.get(metric)
  return None if value is None or (isinstance(value, float) and math.isnan(value)) else value


def has_metric(grouped: Dict[str, List[Dict]], metric: str) -> bool:
  return any(_value(row, metric) is not None for rows in grouped.values() for row in rows)


def summarize(grouped: Dict[str, List[Dict]], metric: str = ACCURACY) -> List[Dict]:
  """One row per (strategy, num_labeled): mean, sample std and number of trials of `metric`.

  grouped: label -> results rows (see runs.rows_by_label). Rows without the metric (null)
  are left out of its table.
  """
  table = []
  for label, rows in grouped.items():
    by_size: Dict[int, List[float]] = {}
    for row in rows:
      value = _value(row, metric)
      if value is not None:
        by_size.setdefault(int(row["num_labeled"]), []).append(float(value))
    for size in sorted(by_size):
      values = by_size[size]
      table.append({"strategy": label, "num_labeled": size, "mean": float(np.mean(values)),
                    "std": sample_std(values), "trials": len(values)})
  return table


def curve_area(num_labeled: Sequence[float], accuracy: Sequence[float]) -> float:
  """Trapezoid area under accuracy(num_labeled) divided by the labeled range: a mean accuracy.

  A curve of one point has that point's accuracy.
  """
  x = np.asarray(num_labeled, np.float64)
  y = np.asarray(accuracy, np.float64)
  order = np.argsort(x)
  x, y = x[order], y[order]
  if len(x) == 0:
    raise ValueError("an empty curve has no area")
  if x[-1] == x[0]:
    return float(np.mean(y))
  return float(np.trapezoid(y, x) / (x[-1] - x[0]))


def areas(grouped: Dict[str, List[Dict]], metric: str = ACCURACY) -> List[Dict]:
  """Per strategy: the area under its mean curve, and the sample std of the areas of the
  trials that have every point of that curve."""
  summary = summarize(grouped, metric)
  table = []
  for label, rows in grouped.items():
    curve = [r for r in summary if r["strategy"] == label]
    if not curve:
      continue
    sizes = [r["num_labeled"] for r in curve]
    per_trial: Dict = {}
    for row in rows:
      value = _value(row, metric)
      if value is not None:
        per_trial.setdefault((row["seed"], row["trial"]), {})[int(row["num_labeled"])] = value
    trial_areas = [curve_area(sizes, [points[s] for s in sizes])
                   for points in per_trial.values() if all(s in points for s in sizes)]
    table.append({
        "strategy": label, "metric": metric,
        "auc": curve_area(sizes, [r["mean"] for r in curve]),
        "auc_std": sample_std(trial_areas) if trial_areas else "",
        "trials": len(trial_areas), "num_labeled_from": sizes[0], "num_labeled_to": sizes[-1],
        "points": len(sizes)})
  return table


def write_csv(path: str, rows: List[Dict], columns: Sequence[str]) -> None:
  """Full-precision floats (Python's shortest round-trip repr)."""
  with open(path, "w", newline="") as f:
    writer = csv.DictWriter(f, fieldnames=list(columns))
    writer.writeheader()
    writer.writerows(rows)


def _pivot(summary: List[Dict]) -> List[str]:
  """Markdown: one line per labeled-set size, one column per strategy."""
  labels = list(dict.fromkeys(r["strategy"] for r in summary))
  sizes = sorted({r["num_labeled"] for r in summary})
  cell = {(r["strategy"], r["num_labeled"]): r for r in summary}
  lines = ["| labels | " + " | ".join(labels) + " |",
           "|---:|" + "---:|" * len(labels)]
  for size in sizes:
    cells = []
    for label in labels:
      r = cell.get((label, size))
      cells.append(f"{r['mean']:.4f} ± {r['std']:.4f} ({r['trials']})" if r else "")
    lines.append(f"| {size} | " + " | ".join(cells) + " |")
  return lines


def _long(summary: List[Dict]) -> List[str]:
  lines = ["| strategy | num_labeled | mean | std (sample, ddof=1) | trials |",
           "|---|---:|---:|---:|---:|"]
  for r in summary:
    lines.append(f"| {r['strategy']} | {r['num_labeled']} | {r['mean']:.4f} | "
                 f"{r['std']:.4f} | {r['trials']} |")
  return lines


def markdown(tables: Dict[str, List[Dict]], auc: List[Dict], run_dirs: Sequence[str]) -> str:
  """summary.md: per metric a strategies-by-size overview and the long table, then the AUCs.

  tables: metric name -> summarize() rows.
  """
  lines = ["# Active-learning report", "",
           "Runs: " + ", ".join(f"`{d}`" for d in run_dirs), "",
           f"Cells: mean ± std (trials). {STD_NOTE}.", ""]
  for metric, summary in tables.items():
    title = {ACCURACY: "Test accuracy",
             INDEPENDENT: "Independent learner's test accuracy (no ranker)"}.get(metric, metric)
    lines += [f"## {title}", "", *_pivot(summary), "", *_long(summary), ""]
  lines += ["## Area under the mean learning curve", "",
            "Trapezoid over the number of labels divided by the labeled range (a mean "
            "accuracy); auc_std over the trials that have every point.", "",
            "| strategy | metric | AUC | auc_std | trials | labels |",
            "|---|---|---:|---:|---:|---|"]
  for r in auc:
    std = f"{r['auc_std']:.4f}" if r["auc_std"] != "" else ""
    lines.append(f"| {r['strategy']} | {r['metric']} | {r['auc']:.4f} | {std} | "
                 f"{r['trials']} | {r['num_labeled_from']}..{r['num_labeled_to']} |")
  return "\n".join(lines) + "\n"


def write_tables(grouped: Dict[str, List[Dict]], out_dir: str,
                 run_dirs: Sequence[str]) -> Dict[str, List[Dict]]:
  """Writes summary.csv (+ summary_independent.csv), summary.md and auc.csv.

  Returns metric -> summary rows.
  """
  tables = {ACCURACY: summarize(grouped, ACCURACY)}
  auc = areas(grouped, ACCURACY)
  write_csv(os.path.join(out_dir, "summary.csv"), tables[ACCURACY], SUMMARY_COLUMNS)
  if has_metric(grouped, INDEPENDENT):
    tables[INDEPENDENT] = summarize(grouped, INDEPENDENT)
    auc += areas(grouped, INDEPENDENT)
    write_csv(os.path.join(out_dir, "summary_independent.csv"), tables[INDEPENDENT],
              SUMMARY_COLUMNS)
  write_csv(os.path.join(out_dir, "auc.csv"), auc, AUC_COLUMNS)
  with open(os.path.join(out_dir, "summary.md"), "w") as f:
    f.write(markdown(tables, auc, run_dirs))
  return tables
