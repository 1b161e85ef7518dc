"""Learning curves, improvement over random, and ranker-loss curves (PNG, Agg, no display).

Figures are built with `matplotlib.figure.Figure` on an Agg canvas, never pyplot, so no
display or global figure state is involved.
"""

import logging
import math
import os
from typing import Dict, List, Optional, Sequence

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from tavaal_jax.report import tables

RANDOM = "random"


def colours(labels: Sequence[str]) -> Dict[str, tuple]:
  """One fixed colour per curve label, the same in every figure."""
  import matplotlib
  cmap = matplotlib.colormaps["tab10" if len(labels) <= 10 else "tab20"]
  return {label: cmap(i % cmap.N) for i, label in enumerate(labels)}


def new_figure(width: float, height: float) -> Figure:
  figure = Figure(figsize=(width, height), dpi=100, layout="constrained")
  FigureCanvasAgg(figure)
  return figure


def save(figure: Figure, path: str) -> str:
  figure.savefig(path, bbox_inches="tight")
  logging.info("wrote %s", path)
  return path


def _series(summary: List[Dict], label: str):
  rows = sorted((r for r in summary if r["strategy"] == label), key=lambda r: r["num_labeled"])
  return (np.array([r["num_labeled"] for r in rows]), np.array([r["mean"] for r in rows]),
          np.array([r["std"] for r in rows]))


def learning_curves(summary: List[Dict], colour: Dict[str, tuple], path: str,
                    title: str, metric: str = "test accuracy") -> str:
  """Mean `metric` (%) against the number of labels, a +-1 std band per strategy."""
  figure = new_figure(7, 4.5)
  ax = figure.add_subplot()
  for label in colour:
    x, mean, std = _series(summary, label)
    if not len(x):
      continue
    ax.plot(x, 100 * mean, marker="o", markersize=3, color=colour[label], label=label)
    ax.fill_between(x, 100 * (mean - std), 100 * (mean + std), color=colour[label],
                    alpha=0.2, linewidth=0)
  return _save_over_labeled(figure, ax, path, f"{metric} (%)",
                            title + "\nmean ± std (sample) over trials")


def _save_over_labeled(figure, ax, path: str, ylabel: str, title: str) -> str:
  """Labels an axis whose x is the number of labeled images, then saves the figure."""
  ax.set_xlabel("number of labeled images")
  ax.xaxis.set_major_locator(MaxNLocator(integer=True))
  ax.set_ylabel(ylabel)
  ax.set_title(title)
  ax.grid(alpha=0.3)
  ax.legend(fontsize="small")
  return save(figure, path)


def random_label(labels: Sequence[str]) -> Optional[str]:
  """The curve that is plain random sampling, or None."""
  candidates = [l for l in labels if l == RANDOM] or [l for l in labels
                                                      if l.startswith(RANDOM + " (")]
  if len(candidates) > 1:
    logging.info("several random curves (%s); improvement is over %s",
                 ", ".join(candidates), candidates[0])
  return candidates[0] if candidates else None


def improvement_over_random(summary: List[Dict], colour: Dict[str, tuple], path: str,
                            title: str, metric: str = "accuracy") -> Optional[str]:
  """Mean `metric` minus random's mean at each size both have (percentage points)."""
  baseline = random_label(list(colour))
  if baseline is None:
    logging.info("no random run among the runs: skipping the improvement-over-random plot")
    return None
  bx, bmean, _ = _series(summary, baseline)
  reference = dict(zip(bx.tolist(), bmean.tolist()))
  figure = new_figure(7, 4.5)
  ax = figure.add_subplot()
  ax.axhline(0.0, color=colour[baseline], linewidth=1, label=f"{baseline} (baseline)")
  for label in colour:
    if label == baseline:
      continue
    x, mean, _ = _series(summary, label)
    keep = [i for i, size in enumerate(x.tolist()) if size in reference]
    if not keep:
      continue
    gain = [100 * (mean[i] - reference[x[i]]) for i in keep]
    ax.plot(x[keep], gain, marker="o", markersize=3, color=colour[label], label=label)
  return _save_over_labeled(figure, ax, path, f"{metric} − random's (percentage points)",
                            title + f"\nimprovement of the mean {metric} over random sampling")


def ranker_loss(grouped: Dict[str, List[Dict]], colour: Dict[str, tuple],
                path: str) -> Optional[str]:
  """Ranking loss per epoch, one panel per stage, one line per (strategy, ll | llv2), the
  mean over trials (supplement Fig. 2)."""
  curves: Dict[tuple, Dict[int, List[List[float]]]] = {}
  for label, rows in grouped.items():
    for row in rows:
      losses = row.get("ranking_loss_per_epoch")
      if losses:
        key = (label, str(row.get("ranker_loss_name", "?")))
        curves.setdefault(key, {}).setdefault(int(row["stage"]), []).append(losses)
  if not curves:
    logging.info("no run has ranking_loss_per_epoch: skipping the ranker-loss plot")
    return None
  stages = sorted({s for per_stage in curves.values() for s in per_stage})
  columns = min(5, len(stages))
  rows_n = math.ceil(len(stages) / columns)
  figure = new_figure(3.2 * columns, 2.6 * rows_n)
  axes = figure.subplots(rows_n, columns, squeeze=False, sharey=True)
  styles = ["-", "--", ":", "-."]
  names = sorted({name for _, name in curves})
  for k, stage in enumerate(stages):
    ax = axes[k // columns][k % columns]
    longest = 1
    for (label, name), per_stage in curves.items():
      if stage not in per_stage:
        continue
      length = min(len(c) for c in per_stage[stage])
      longest = max(longest, length)
      mean = np.mean([c[:length] for c in per_stage[stage]], axis=0)
      ax.plot(np.arange(1, length + 1), mean, color=colour[label], marker="o", markersize=3,
              linestyle=styles[names.index(name) % len(styles)], label=f"{label}: {name}")
    ax.set_title(f"stage {stage}", fontsize="small")
    ax.set_xlabel("epoch")
    if longest <= 10:
      ax.set_xticks(range(1, longest + 1))
    else:
      ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.grid(alpha=0.3)
  for k in range(len(stages), rows_n * columns):
    axes[k // columns][k % columns].set_visible(False)
  axes[0][0].set_ylabel("ranking loss")
  axes[0][0].legend(fontsize="x-small")
  figure.suptitle("ranker loss per epoch (mean over trials)")
  return save(figure, path)


# How the plots name a primary metric.
_METRIC_NAMES = {tables.ACCURACY: "accuracy", tables.MIOU: "mIoU"}


def write_plots(grouped: Dict[str, List[Dict]], summaries: Dict[str, List[Dict]],
                out_dir: str, title: str) -> List[str]:
  """learning_curves.png, improvement_over_random.png, ranker_loss.png (those that apply),
  and the same two curves for the independent learner when rows carry it."""
  colour = colours(list(grouped))
  metric = next(iter(summaries))    # the primary metric: test_accuracy or test_miou
  name = _METRIC_NAMES[metric]
  written = [learning_curves(summaries[metric], colour,
                             os.path.join(out_dir, "learning_curves.png"), title,
                             f"test {name}")]
  written.append(improvement_over_random(summaries[metric], colour,
                                         os.path.join(out_dir, "improvement_over_random.png"),
                                         title, name))
  independent_metric = tables.PRIMARY_METRICS[metric]
  if independent_metric in summaries:
    independent = summaries[independent_metric]
    written.append(learning_curves(independent, colour,
                                   os.path.join(out_dir, "learning_curves_independent.png"),
                                   title + " — independent learner", f"test {name}"))
    written.append(improvement_over_random(
        independent, colour, os.path.join(out_dir, "improvement_over_random_independent.png"),
        title + " — independent learner", name))
  written.append(ranker_loss(grouped, colour, os.path.join(out_dir, "ranker_loss.png")))
  return [p for p in written if p]
