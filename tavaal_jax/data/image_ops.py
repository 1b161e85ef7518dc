"""Host-side image helpers the data sources share: resizing and channel statistics."""

from typing import Iterable, Iterator, Tuple

import numpy as np
import PIL.Image

from tavaal_jax.errors import DataError


def resize_center_crop(image: np.ndarray, size: int) -> np.ndarray:
  """Resizes the shorter side to `size` (bilinear) and center-crops to a square.

  image: uint8 [H, W, C] with C in {1, 3} -> uint8 [size, size, C].
  """
  h, w, c = image.shape
  if (h, w) == (size, size):
    return image
  pil = PIL.Image.fromarray(image[..., 0] if c == 1 else image)
  scale = size / min(h, w)
  # max(size, ...) guards against rounding the shorter side below the crop.
  new_w, new_h = max(size, round(w * scale)), max(size, round(h * scale))
  pil = pil.resize((new_w, new_h), PIL.Image.BILINEAR)
  left, top = (new_w - size) // 2, (new_h - size) // 2
  out = np.asarray(pil.crop((left, top, left + size, top + size)), np.uint8)
  return out[..., None] if c == 1 else out


def array_batches(images, rows: int = 1024) -> Iterator[np.ndarray]:
  """Yields images[i:i + rows] for a uint8 [n, H, W, C] array (or memory map)."""
  for start in range(0, len(images), rows):
    yield np.asarray(images[start:start + rows])


def channel_mean_std(batches: Iterable[np.ndarray]) -> Tuple[np.ndarray, np.ndarray]:
  """Per-channel mean and std on the [0, 1] scale.

  batches: uint8 [b, H, W, C] arrays, e.g. `array_batches(x)`; streamed so the split is
  never held in memory whole, and summed in integers so the sums are exact.
  -> (mean float32 [C], std float32 [C]).
  """
  total = total_sq = None
  count = 0
  for batch in batches:
    x = np.asarray(batch).reshape(-1, batch.shape[-1])
    s = x.sum(0, dtype=np.uint64)
    sq = (x.astype(np.uint32) ** 2).sum(0, dtype=np.uint64)
    total, total_sq = (s, sq) if total is None else (total + s, total_sq + sq)
    count += len(x)
  if count == 0:
    raise DataError("cannot compute the mean/std of an empty train split")
  mean = total.astype(np.float64) / count / 255.0
  var = total_sq.astype(np.float64) / count / 255.0 ** 2 - mean * mean
  return mean.astype(np.float32), np.sqrt(np.maximum(var, 0.0)).astype(np.float32)
