"""The pictures of the query rounds (PNG, Agg, no display): the grid of a round's picks and
the learning curve over the rounds."""

import math
from typing import Dict, Sequence

import numpy as np

from tavaal_jax.report import plots

# Tiles per row of the picks grid.
_COLUMNS = 10


def pick_grid(images: np.ndarray, picks: Sequence[Dict], path: str, title: str) -> str:
  """images uint8 [n, H, W, C] of `picks` (dicts with rank, predicted_label, confidence),
  tiled in pick order, each captioned '#rank predicted_label confidence' below it."""
  n, h, w, c = images.shape
  columns = max(1, min(_COLUMNS, n))
  rows = max(1, math.ceil(n / columns))
  gap, caption = max(2, w // 8), max(8, h // 3)   # between tiles; the caption's band
  cell_w, cell_h = w + gap, h + caption
  canvas = np.full((rows * cell_h, columns * cell_w - gap, c), 255, np.uint8)
  for k in range(n):
    top, left = (k // columns) * cell_h, (k % columns) * cell_w
    canvas[top:top + h, left:left + w] = images[k]
  figure = plots.new_figure(1.25 * columns, 1.25 * rows * cell_h / cell_w + 0.4)
  ax = figure.add_subplot()
  if c == 1:
    ax.imshow(canvas[..., 0], cmap="gray", vmin=0, vmax=255, interpolation="nearest")
  else:
    ax.imshow(canvas, interpolation="nearest")
  for k, pick in enumerate(picks):
    top, left = (k // columns) * cell_h, (k % columns) * cell_w
    label = str(pick["predicted_label"])
    label = label if len(label) <= 12 else label[:11] + "…"
    ax.text(left + w / 2, top + h + caption / 2, f"#{pick['rank']} {label} "
            f"{pick['confidence']:.2f}", ha="center", va="center", fontsize=6)
  ax.set_axis_off()
  ax.set_title(title, fontsize="small", loc="left")
  return plots.save(figure, path)


def learning_curve(rows: Sequence[Dict], path: str) -> str:
  """Held-out accuracy (%) against the number of labeled images, one point per round that
  has one, labeled with its round number."""
  rows = [r for r in rows if r.get("test_accuracy") is not None]
  x = np.array([r["num_labeled"] for r in rows])
  y = np.array([100 * r["test_accuracy"] for r in rows])
  figure = plots.new_figure(6, 4)
  ax = figure.add_subplot()
  ax.plot(x, y, marker="o", markersize=4)
  for row, xi, yi in zip(rows, x, y):
    ax.annotate(f"round {row['round']}", (xi, yi), textcoords="offset points",
                xytext=(4, -10), fontsize="x-small")
  ax.set_xlabel("labeled images")
  ax.set_ylabel("held-out accuracy (%)")
  ax.grid(alpha=0.3)
  counts = sorted({r.get("test_count") for r in rows})
  ax.set_title(f"accuracy on the test labels ({', '.join(map(str, counts))} images) over "
               "the query rounds", fontsize="small")
  return plots.save(figure, path)
