"""Mean +- std of the test metric per labeled-set size, the area under each learning curve,
and (segmentation) the per-class IoU of the last stage.

The metric is the rows' task's: test_accuracy (classification) or test_miou (segmentation).

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
MIOU = "test_miou"
INDEPENDENT_MIOU = "independent_miou"
# The test metric of each task's rows -> its independent learner's twin.
PRIMARY_METRICS = {ACCURACY: INDEPENDENT, MIOU: INDEPENDENT_MIOU}
TITLES = {ACCURACY: "Test accuracy", MIOU: "Test mIoU",
          INDEPENDENT: "Independent learner's test accuracy (no ranker)",
          INDEPENDENT_MIOU: "Independent learner's test mIoU (no ranker)"}
PER_CLASS_IOU = "test_per_class_iou"
PER_CLASS_COLUMNS = ("strategy", "num_labeled", "class", "class_name", "iou_mean", "iou_std",
                     "trials")
SUMMARY_COLUMNS = ("strategy", "num_labeled", "mean", "std", "trials")
AUC_COLUMNS = ("strategy", "metric", "auc", "auc_std", "trials", "num_labeled_from",
               "num_labeled_to", "points")
STD_NOTE = "std: sample standard deviation over trials (ddof=1; 0 for a single trial)"


def sample_std(values: Sequence[float]) -> float:
  return float(np.std(values, ddof=1)) if len(values) > 1 else 0.0


def _value(row: Dict, metric: str):
  value = row.get(metric)
  return None if value is None or (isinstance(value, float) and math.isnan(value)) else value


def primary_metric(grouped: Dict[str, List[Dict]]) -> str:
  """test_miou when the rows are a segmentation task's, else test_accuracy; runs of both
  tasks cannot share a report (a ReportError, a UserError)."""
  from tavaal_jax.report.runs import ReportError
  kinds = {next((m for m in PRIMARY_METRICS if m in row), None)
           for rows in grouped.values() for row in rows}
  if len(kinds) > 1:
    raise ReportError("the runs mix classification (test_accuracy) and segmentation "
                      "(test_miou) results; report them separately")
  kind = kinds.pop() if kinds else ACCURACY
  return kind or ACCURACY


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


def markdown(tables: Dict[str, List[Dict]], auc: List[Dict], run_dirs: Sequence[str],
             per_class: Sequence[Dict] = ()) -> str:
  """summary.md: per metric a strategies-by-size overview and the long table, then the AUCs.

  tables: metric name -> summarize() rows.
  """
  lines = ["# Active-learning report", "",
           "Runs: " + ", ".join(f"`{d}`" for d in run_dirs), "",
           f"Cells: mean ± std (trials). {STD_NOTE}.", ""]
  for metric, summary in tables.items():
    lines += [f"## {TITLES.get(metric, metric)}", "", *_pivot(summary), "", *_long(summary),
              ""]
  lines += ["## Area under the mean learning curve", "",
            "Trapezoid over the number of labels divided by the labeled range (a mean "
            "of the metric); auc_std over the trials that have every point.", "",
            "| strategy | metric | AUC | auc_std | trials | labels |",
            "|---|---|---:|---:|---:|---|"]
  for r in auc:
    std = f"{r['auc_std']:.4f}" if r["auc_std"] != "" else ""
    lines.append(f"| {r['strategy']} | {r['metric']} | {r['auc']:.4f} | {std} | "
                 f"{r['trials']} | {r['num_labeled_from']}..{r['num_labeled_to']} |")
  if per_class:
    lines += ["", "## Per-class IoU at the last stage", "",
              "Mean ± std (sample) over trials; a class absent from a trial's test labels "
              "and predictions counts only in the trials where it occurs.", "",
              *_per_class_pivot(per_class)]
  return "\n".join(lines) + "\n"


def per_class_iou(grouped: Dict[str, List[Dict]],
                  class_names: Sequence[str] = ()) -> List[Dict]:
  """Per strategy, at its largest labeled-set size: mean and sample std over trials of each
  class's IoU (rows' test_per_class_iou; null = the class was absent)."""
  table = []
  for label, rows in grouped.items():
    rows = [r for r in rows if r.get(PER_CLASS_IOU)]
    if not rows:
      continue
    last = max(int(r["num_labeled"]) for r in rows)
    values = [r[PER_CLASS_IOU] for r in rows if int(r["num_labeled"]) == last]
    for k in range(max(len(v) for v in values)):
      present = [float(v[k]) for v in values if k < len(v) and v[k] is not None]
      name = class_names[k] if k < len(class_names) else str(k)
      table.append({"strategy": label, "num_labeled": last, "class": k, "class_name": name,
                    "iou_mean": float(np.mean(present)) if present else "",
                    "iou_std": sample_std(present) if present else "",
                    "trials": len(present)})
  return table


def _per_class_pivot(table: List[Dict]) -> List[str]:
  """Markdown: one line per class, one column per strategy (its last stage)."""
  labels = list(dict.fromkeys(r["strategy"] for r in table))
  classes = list(dict.fromkeys((r["class"], r["class_name"]) for r in table))
  cell = {(r["strategy"], r["class"]): r for r in table}
  last = {r["strategy"]: r["num_labeled"] for r in table}
  lines = ["| class | " + " | ".join(f"{l} ({last[l]})" for l in labels) + " |",
           "|---|" + "---:|" * len(labels)]
  for k, name in classes:
    cells = []
    for label in labels:
      r = cell.get((label, k))
      cells.append(f"{r['iou_mean']:.4f} ± {r['iou_std']:.4f}" if r and r["trials"] else "")
    lines.append(f"| {name} | " + " | ".join(cells) + " |")
  return lines


def write_tables(grouped: Dict[str, List[Dict]], out_dir: str, run_dirs: Sequence[str],
                 class_names: Sequence[str] = ()) -> Dict[str, List[Dict]]:
  """Writes summary.csv (+ summary_independent.csv), summary.md, auc.csv and, for
  segmentation rows, per_class_iou.csv. `class_names` name the per-class IoU's classes.

  Returns metric -> summary rows, the primary metric (primary_metric) first.
  """
  metric = primary_metric(grouped)
  independent = PRIMARY_METRICS[metric]
  tables = {metric: summarize(grouped, metric)}
  auc = areas(grouped, metric)
  write_csv(os.path.join(out_dir, "summary.csv"), tables[metric], SUMMARY_COLUMNS)
  if has_metric(grouped, independent):
    tables[independent] = summarize(grouped, independent)
    auc += areas(grouped, independent)
    write_csv(os.path.join(out_dir, "summary_independent.csv"), tables[independent],
              SUMMARY_COLUMNS)
  write_csv(os.path.join(out_dir, "auc.csv"), auc, AUC_COLUMNS)
  per_class = per_class_iou(grouped, class_names)
  if per_class:
    write_csv(os.path.join(out_dir, "per_class_iou.csv"), per_class, PER_CLASS_COLUMNS)
  with open(os.path.join(out_dir, "summary.md"), "w") as f:
    f.write(markdown(tables, auc, run_dirs, per_class))
  return tables
