"""Segmentation pairs read from files: an image file and a mask file of class ids per sample.

Shared by the `cityscapes` (official layout) and `segmentation_folder` sources: the source
that reads the pairs lazily with a thread pool, and the load-time checks that every mask
has its image's size (and, where asked, holds only valid class ids) so bad data stops the
run before training.
"""

import concurrent.futures
import os
from typing import Callable, List, Optional, Sequence, Tuple

import numpy as np
import PIL.Image

from tavaal_jax.data.base import IGNORE_LABEL
from tavaal_jax.data.folder_source import read_headers
from tavaal_jax.data.image_ops import channel_mean_std, resize_image, resize_mask
from tavaal_jax.errors import DataError

# Pillow modes a mask of class ids may have: one integer channel.
MASK_MODES = frozenset({"1", "L", "P", "I", "I;16"})
# Files are decoded by at most this many threads at once (Pillow releases the GIL to decode).
_READ_THREADS = 8


def parallel_map(fn: Callable, items: Sequence) -> List:
  """[fn(item) for item in items], on a thread pool when there is more than one item."""
  if len(items) <= 1:
    return [fn(item) for item in items]
  with concurrent.futures.ThreadPoolExecutor(min(len(items), _READ_THREADS)) as pool:
    return list(pool.map(fn, items))


def relative(path: str, root: str) -> str:
  """`path` relative to `root`, with '/' separators (what names and errors show)."""
  return os.path.relpath(path, root).replace(os.sep, "/")


def read_mask(path: str) -> np.ndarray:
  """The class ids of a mask file as int64 [H, W]; DataError if it is not one channel."""
  try:
    with PIL.Image.open(path) as pil:
      if pil.mode not in MASK_MODES:
        raise DataError(
            f"mask {path!r} has Pillow mode {pil.mode!r}; masks must be single-channel PNGs "
            f"of class ids (mode L or P), {IGNORE_LABEL} = ignore")
      return np.asarray(pil, np.int64)
  except (OSError, PIL.UnidentifiedImageError) as e:
    raise DataError(f"cannot read mask {path!r}: {e}") from e


class MaskFileSource:
  """A segmentation `ImageSource` over (image file, mask file) pairs read lazily.

  image_files, mask_files: absolute paths [n]; root: what `names` are relative to;
  mode: the Pillow mode images are converted to ('RGB' or 'L'); hw: the output (H, W)
  every image (bilinear) and mask (nearest) is resized to; mask_table: optional uint8 [256]
  lookup applied to the mask's values (e.g. Cityscapes labelIds -> train ids).
  `get` -> (uint8 [n, H, W, C], uint8 [n, H, W]); `labels()` is None.
  """

  def __init__(self, image_files: Sequence[str], mask_files: Sequence[str], root: str,
               mode: str, hw: Tuple[int, int], mask_table: Optional[np.ndarray] = None):
    if len(image_files) != len(mask_files):
      raise ValueError(f"{len(image_files)} images but {len(mask_files)} masks")
    self._images = list(image_files)
    self._masks = list(mask_files)
    self._root = root
    self._mode = mode
    self._hw = (int(hw[0]), int(hw[1]))
    self._table = None if mask_table is None else np.asarray(mask_table, np.uint8)
    self.image_shape = self._hw + (1 if mode == "L" else 3,)

  def __len__(self) -> int:
    return len(self._images)

  def _read(self, i: int) -> Tuple[np.ndarray, np.ndarray]:
    with PIL.Image.open(self._images[i]) as pil:
      image = np.asarray(pil.convert(self._mode), np.uint8)
    if image.ndim == 2:
      image = image[..., None]
    ids = read_mask(self._masks[i])
    # Values were checked at load (or the table maps every uint8 value); clip guards the
    # table lookup against a file changed on disk since.
    mask = np.clip(ids, 0, 255).astype(np.uint8)
    if self._table is not None:
      mask = self._table[mask]
    return resize_image(image, self._hw), resize_mask(mask, self._hw)

  def get(self, indices):
    indices = [int(i) for i in np.asarray(indices, np.int64)]
    images = np.zeros((len(indices),) + self.image_shape, np.uint8)
    masks = np.zeros((len(indices),) + self._hw, np.uint8)
    for k, (image, mask) in enumerate(parallel_map(self._read, indices)):
      images[k], masks[k] = image, mask
    return images, masks

  def labels(self):
    return None

  def names(self, indices):
    return [relative(self._images[int(i)], self._root) for i in np.asarray(indices, np.int64)]

  def mean_std(self, sample_size: int) -> Tuple[np.ndarray, np.ndarray]:
    """Per-channel mean and std (float32 [C]) of at most `sample_size` evenly spaced images."""
    sample = np.unique(np.linspace(0, len(self) - 1, min(len(self), sample_size)).astype(int))
    return channel_mean_std(self.get(sample[i:i + 64])[0] for i in range(0, len(sample), 64))


def check_pairs(image_files: Sequence[str], mask_files: Sequence[str], root: str):
  """Checks from the file headers that every mask has its image's size and is one channel.

  Returns the images' headers [(size (W, H), mode)] (for the common size and colour mode).
  Raises DataError naming the first offending file and the fix.
  """
  image_headers = read_headers(image_files)
  mask_headers = read_headers(mask_files)
  for image, mask, (image_wh, _), (mask_wh, mask_mode) in zip(
      image_files, mask_files, image_headers, mask_headers):
    if mask_mode not in MASK_MODES:
      raise DataError(
          f"mask {relative(mask, root)} has Pillow mode {mask_mode!r}; masks must be "
          f"single-channel PNGs of class ids (mode L or P), {IGNORE_LABEL} = ignore")
    if mask_wh != image_wh:
      raise DataError(
          f"mask {relative(mask, root)} is {mask_wh[0]}x{mask_wh[1]} but its image "
          f"{relative(image, root)} is {image_wh[0]}x{image_wh[1]} (WxH); a mask must have "
          f"its image's size")
  return image_headers


def common_hw(files: Sequence[str], headers, root: str, wanted: Optional[Tuple[int, int]]
              ) -> Tuple[int, int]:
  """The output (H, W): `wanted` when given, else the size every file shares.

  headers: [(size (W, H), mode)] of `files`. DataError when sizes differ and none is wanted.
  """
  if wanted is not None:
    return wanted
  sizes = {}
  for path, (wh, _) in zip(files, headers):
    sizes.setdefault(wh, path)
  if len(sizes) > 1:
    (wh_a, path_a), (wh_b, path_b) = list(sizes.items())[:2]
    raise DataError(
        f"images in dataset.path {root!r} have different sizes, e.g. {relative(path_a, root)} "
        f"is {wh_a[0]}x{wh_a[1]} and {relative(path_b, root)} is {wh_b[0]}x{wh_b[1]} (WxH); "
        f"set --config.dataset.image_hw=H,W to resize every image and mask to H x W")
  w, h = next(iter(sizes))
  return h, w
