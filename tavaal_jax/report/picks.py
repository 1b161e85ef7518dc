"""What each strategy picked: CSV lists for annotators and image grids (supplement Fig. 7).

picks_stage_<s>.csv (picks_<strategy>_stage_<s>.csv when several strategies): one row per
picked image with its trial, training-set index, file name (the source's `names`: a path
relative to the folder for `folder`, `x_train[i]` for `npz`, `load_digits[i]` for digits),
ground-truth label and the strategy's score when picks rows carry `scores`.

picks_<strategy>_trial<t>.png: per stage, up to `max_images` of its picks and the per-class
counts of all of them. Images are read through the run's own dataset config; when the
dataset cannot be opened here (e.g. TFDS data not prepared), the grids are skipped with a
warning and the CSVs keep whatever the picks rows themselves carry.
"""

import csv
import json
import logging
import os
import re
from typing import Dict, List, Optional, Sequence

import ml_collections
import numpy as np

from tavaal_jax.data.base import IGNORE_LABEL
from tavaal_jax.report import plots
from tavaal_jax.report.runs import ReportError, Run, seed_of

PICK_COLUMNS = ("trial", "index", "file", "label", "score")
# Keys a picks row may carry the source's names under.
_NAME_KEYS = ("names", "files")


def slug(label: str) -> str:
  """A file-name-safe form of a curve label."""
  return re.sub(r"[^A-Za-z0-9_.=-]+", "_", label).strip("_") or "run"


class DatasetCache:
  """Opens each distinct dataset config once; None (with one warning) when it can't."""

  def __init__(self):
    self._datasets: Dict[str, object] = {}
    self._labels: Dict[str, np.ndarray] = {}

  def get(self, run: Run):
    section = run.dataset_config
    key = json.dumps(section, sort_keys=True)
    if key not in self._datasets:
      self._datasets[key] = None
      if not section:
        logging.warning("%s has no config.json dataset section: no images or names for its "
                        "picks", run.path)
      else:
        try:
          from tavaal_jax.data import load_dataset  # jax-free, but pulls in the sources
          self._datasets[key] = load_dataset(ml_collections.ConfigDict(section))
        except Exception as error:  # noqa: BLE001 - any failure only costs the images
          logging.warning("cannot open dataset %r of %s here (%s: %s); skipping its pick "
                          "grids", section.get("name"), run.path, type(error).__name__,
                          error)
    return self._datasets[key]

  def labels(self, run: Run) -> Optional[np.ndarray]:
    """Per-image labels of the training split; None when the dataset can't be opened or
    has none (segmentation: a mask per image, no label)."""
    dataset = self.get(run)
    if dataset is None:
      return None
    key = json.dumps(run.dataset_config, sort_keys=True)
    if key not in self._labels:
      labels = dataset.train.labels()
      self._labels[key] = None if labels is None else np.asarray(labels)
    return self._labels[key]

  def class_names(self, run: Run) -> Sequence[str]:
    """The dataset's class names, () when it can't be opened or names none."""
    dataset = self.get(run)
    return tuple(getattr(dataset, "class_names", None) or ())


def _sorted_picks(run: Run) -> List[Dict]:
  return sorted(run.picks, key=lambda p: (p["trial"], p["stage"]))


def pick_rows(run: Run, pick: Dict, cache: DatasetCache) -> List[Dict]:
  """CSV rows of one picks row, in pick order."""
  indices = np.asarray(pick["indices"], np.int64)
  dataset = cache.get(run)
  if dataset is not None and len(indices) and (indices.min() < 0
                                               or indices.max() >= len(dataset.train)):
    raise ReportError(f"{run.path}/picks.jsonl trial {pick['trial']} stage {pick['stage']} "
                      f"has indices outside the {len(dataset.train)} training images of "
                      f"{run.dataset_config.get('name')!r}: picks and config.json disagree")
  names: Sequence = [""] * len(indices)
  if dataset is not None:
    names = dataset.train.names(indices)
  else:
    for key in _NAME_KEYS:
      if len(pick.get(key) or ()) == len(indices):
        names = pick[key]
        break
  all_labels = cache.labels(run)
  labels = all_labels[indices].tolist() if all_labels is not None else [""] * len(indices)
  scores = pick.get("scores")
  if scores is None or len(scores) != len(indices):
    scores = [""] * len(indices)
  return [{"seed": seed_of(run), "trial": pick["trial"], "index": int(i), "file": name,
           "label": label, "score": "" if score is None else score}
          for i, name, label, score in zip(indices.tolist(), names, labels, scores)]


def write_pick_lists(runs: Sequence[Run], out_dir: str, cache: DatasetCache) -> List[str]:
  """One CSV per (strategy, stage); a `seed` column is added when a strategy has several."""
  labels = list(dict.fromkeys(run.label for run in runs))
  written = []
  for label in labels:
    group = [run for run in runs if run.label == label]
    several_seeds = len({seed_of(run) for run in group}) > 1
    columns = (("seed",) if several_seeds else ()) + PICK_COLUMNS
    by_stage: Dict[int, List[Dict]] = {}
    for run in group:
      for pick in _sorted_picks(run):
        by_stage.setdefault(int(pick["stage"]), []).extend(pick_rows(run, pick, cache))
    for stage, rows in sorted(by_stage.items()):
      prefix = "picks" if len(labels) == 1 else f"picks_{slug(label)}"
      path = os.path.join(out_dir, f"{prefix}_stage_{stage}.csv")
      with open(path, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(columns), extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows)
      written.append(path)
  if not written:
    logging.info("no picks.jsonl rows in the runs: no pick lists")
  return written


def montage(images: np.ndarray, pad: int = 2) -> np.ndarray:
  """uint8 [n, H, W, C] -> one row [H, n * (W + pad) - pad, C] on a white background."""
  n, h, w, c = images.shape
  row = np.full((h, max(n * (w + pad) - pad, 1), c), 255, np.uint8)
  for k in range(n):
    row[:, k * (w + pad):k * (w + pad) + w] = images[k]
  return row


def class_counts_text(labels: np.ndarray, class_names: Optional[Sequence[str]],
                      per_line: int = 5, most: int = 15) -> str:
  """'name: count' of the classes present, most frequent first beyond `most` classes."""
  classes, counts = np.unique(labels, return_counts=True)
  entries = list(zip(classes.tolist(), counts.tolist()))
  hidden = 0
  if len(entries) > most:
    entries = sorted(entries, key=lambda e: (-e[1], e[0]))
    hidden = len(entries) - most
    entries = entries[:most]
  name = (lambda c: str(class_names[c])) if class_names is not None else str
  parts = [f"{name(c)}: {n}" for c, n in entries]
  lines = ["  ".join(parts[i:i + per_line]) for i in range(0, len(parts), per_line)]
  if hidden:
    lines.append(f"(+{hidden} more classes)")
  return "\n".join(lines)


def pick_grid(run: Run, trial: int, dataset, train_labels: Optional[np.ndarray], path: str,
              max_images: int) -> str:
  """Rows = stages of `trial`: up to max_images picked images and the class counts of all
  (segmentation, `train_labels` None: the class counts of their non-ignored pixels)."""
  picks = [p for p in _sorted_picks(run) if p["trial"] == trial]
  h, w = dataset.image_shape[:2]
  strip_aspect = h / (max_images * (w + 2))
  figure = plots.new_figure(14, len(picks) * (10 * strip_aspect + 0.45) + 0.5)
  grid = figure.add_gridspec(len(picks), 2, width_ratios=[10, 4])
  for row, pick in enumerate(picks):
    indices = np.asarray(pick["indices"], np.int64)
    images, _ = dataset.train.get(indices[:max_images])
    if train_labels is not None:
      labels = train_labels[indices]
    else:
      masks = dataset.train.get(indices)[1]
      labels = masks[masks != IGNORE_LABEL]
    strip = montage(images)
    ax = figure.add_subplot(grid[row, 0])
    if strip.shape[-1] == 1:
      ax.imshow(strip[..., 0], cmap="gray", vmin=0, vmax=255, interpolation="nearest")
    else:
      ax.imshow(strip[..., :3], interpolation="nearest")
    ax.set_xticks([])
    ax.set_yticks([])
    shown = f"first {min(max_images, len(indices))} of " if len(indices) > max_images else ""
    what = "initial pool" if pick["stage"] == 0 else "picked"
    ax.set_title(f"stage {pick['stage']}: {shown}{len(indices)} {what}", fontsize="small",
                 loc="left")
    text = figure.add_subplot(grid[row, 1])
    text.axis("off")
    text.text(0.02, 0.5, class_counts_text(labels, dataset.class_names), fontsize="x-small",
              va="center", family="monospace")
  figure.suptitle(f"{run.label}, seed {seed_of(run)}, trial {trial}: images picked per "
                  "stage, with per-class counts", fontsize="medium")
  return plots.save(figure, path)


def write_pick_grids(runs: Sequence[Run], out_dir: str, cache: DatasetCache,
                     max_images: int = 16) -> List[str]:
  """picks_<strategy>[_seed<s>]_trial<t>.png for every run and trial with picks rows."""
  written = []
  for run in runs:
    if not run.picks:
      continue
    dataset = cache.get(run)
    if dataset is None:
      continue
    several_seeds = len({seed_of(r) for r in runs if r.label == run.label}) > 1
    seed_part = f"_seed{seed_of(run)}" if several_seeds else ""
    for trial in sorted({p["trial"] for p in run.picks}):
      path = os.path.join(out_dir, f"picks_{slug(run.label)}{seed_part}_trial{trial}.png")
      written.append(pick_grid(run, trial, dataset, cache.labels(run), path, max_images))
  return written
