"""Host-side image helpers the data sources share: resizing (images, and segmentation masks
to a fixed (H, W)) and channel statistics."""

from typing import Iterable, Iterator, Optional, Tuple

import numpy as np
import PIL.Image

from tavaal_jax.errors import ConfigError, DataError


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


def shorter_side_shape(image_shape: Tuple[int, ...], size: int) -> Tuple[int, int, int]:
  """(H, W, C) with the shorter side scaled to `size` and the aspect kept (0: unchanged)."""
  h, w, c = (int(d) for d in image_shape)
  if size == 0 or min(h, w) == size:
    return h, w, c
  scale = size / min(h, w)
  return max(size, round(h * scale)), max(size, round(w * scale)), c


def resize_shorter_side(images: np.ndarray, size: int) -> np.ndarray:
  """uint8 [n, H, W, C] -> uint8 [n, h, w, C] of `shorter_side_shape` (bilinear; 0 or a
  shorter side already `size`: the images as they are)."""
  h, w, c = shorter_side_shape(images.shape[1:], size)
  if (h, w) == images.shape[1:3]:
    return images
  out = np.empty((len(images), h, w, c), np.uint8)
  for i, image in enumerate(images):
    pil = PIL.Image.fromarray(image[..., 0] if c == 1 else image)
    resized = np.asarray(pil.resize((w, h), PIL.Image.BILINEAR), np.uint8)
    out[i] = resized[..., None] if c == 1 else resized
  return out


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


def image_hw(dataset_config) -> Optional[Tuple[int, int]]:
  """`dataset.image_hw` as (H, W), or None for the native size (`()` or (0, 0)).

  For the segmentation sources that read files: `dataset.image_size` (the classification
  sources' square resize and crop, which would cut masks) must then be 0.
  """
  value = dataset_config.get("image_hw", ()) or ()
  fix = "set --config.dataset.image_hw=H,W (positive integers), or '()' for the native size"
  if int(dataset_config.get("image_size", 0) or 0) > 0:
    raise ConfigError(f"dataset.image_size={dataset_config.image_size} does not apply to "
                      f"{dataset_config.get('name', 'this dataset')!r}; set "
                      f"--config.dataset.image_size=0 and {fix[4:]}")
  if isinstance(value, (str, bytes)) or not hasattr(value, "__len__") or len(value) not in (0, 2):
    raise ConfigError(f"dataset.image_hw={value!r} is not a pair (H, W); {fix}")
  if len(value) == 0:
    return None
  if any(isinstance(v, bool) or not isinstance(v, (int, np.integer)) for v in value):
    raise ConfigError(f"dataset.image_hw={tuple(value)!r} must hold integers; {fix}")
  h, w = int(value[0]), int(value[1])
  if (h, w) == (0, 0):
    return None
  if h <= 0 or w <= 0:
    raise ConfigError(f"dataset.image_hw={(h, w)!r} must be positive (or (0, 0)); {fix}")
  return h, w


def resize_image(image: np.ndarray, hw: Tuple[int, int]) -> np.ndarray:
  """uint8 [H, W, C] (C in {1, 3}) -> uint8 [h, w, C], bilinear (Pillow's, antialiased when
  shrinking); the aspect ratio follows `hw` (h, w), nothing is cropped."""
  if image.shape[:2] == tuple(hw):
    return image
  c = image.shape[-1]
  pil = PIL.Image.fromarray(image[..., 0] if c == 1 else image)
  out = np.asarray(pil.resize((hw[1], hw[0]), PIL.Image.BILINEAR), np.uint8)
  return out[..., None] if c == 1 else out


def resize_mask(mask: np.ndarray, hw: Tuple[int, int]) -> np.ndarray:
  """uint8 [H, W] class ids -> uint8 [h, w], nearest neighbour (no id is ever blended)."""
  if mask.shape == tuple(hw):
    return mask
  return np.asarray(PIL.Image.fromarray(mask).resize((hw[1], hw[0]), PIL.Image.NEAREST),
                    np.uint8)
