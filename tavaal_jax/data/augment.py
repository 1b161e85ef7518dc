"""On-device preprocessing: normalisation and augmentation as jitted array ops.

Called inside the jitted train step on a uint8 batch, so no per-image Python runs on the
host and the work fuses with the first convolution. `augment_pair` crops and flips a
segmentation batch's images and masks together.
"""

from typing import Optional, Tuple

import jax
import jax.numpy as jnp

from tavaal_jax.data.base import IGNORE_LABEL


def normalize(images: jax.Array, mean: jax.Array, std: jax.Array) -> jax.Array:
  """uint8 [B, H, W, C] -> float32 [B, H, W, C], (x / 255 - mean) / std per channel."""
  x = images.astype(jnp.float32) / 255.0
  return (x - mean) / std


def random_crop(key: jax.Array, images: jax.Array, padding: int) -> jax.Array:
  """Zero-pads each image by `padding` pixels and crops a random HxW window from it.

  images: [B, H, W, C]; returns the same shape.
  """
  b, h, w, _ = images.shape
  padded = jnp.pad(images, ((0, 0), (padding, padding), (padding, padding), (0, 0)))
  offsets = jax.random.randint(key, (b, 2), 0, 2 * padding + 1)

  def crop_one(image, offset):
    return jax.lax.dynamic_slice(image, (offset[0], offset[1], 0), (h, w, image.shape[-1]))

  return jax.vmap(crop_one)(padded, offsets)


def random_flip(key: jax.Array, images: jax.Array) -> jax.Array:
  """Mirrors each image of [B, H, W, C] left-right with probability 1/2."""
  flip = jax.random.bernoulli(key, 0.5, (images.shape[0], 1, 1, 1))
  return jnp.where(flip, images[:, :, ::-1, :], images)


def augment(key: jax.Array, images: jax.Array, mean: jax.Array, std: jax.Array,
            crop_padding: int, flip: bool) -> jax.Array:
  """uint8 [B, H, W, C] -> augmented, normalised float32 [B, H, W, C].

  Crop-padding is applied to the raw pixels (zeros = black), as torchvision's
  RandomCrop(32, padding=4) before Normalize does in the reference pipeline.
  """
  crop_key, flip_key = jax.random.split(key)
  x = images.astype(jnp.float32)
  if crop_padding > 0:
    x = random_crop(crop_key, x, crop_padding)
  if flip:
    x = random_flip(flip_key, x)
  return (x / 255.0 - mean) / std


def augment_pair(key: jax.Array, images: jax.Array, masks: jax.Array, *,
                 crop_hw: Optional[Tuple[int, int]] = None, crop_padding: int = 0,
                 flip: bool = False) -> Tuple[jax.Array, jax.Array]:
  """Crops and flips images and their segmentation masks together.

  images: uint8 or float [B, H, W, C]; masks: integer [B, H, W] (class ids, IGNORE_LABEL).
  Pads images with zeros and masks with IGNORE_LABEL by `crop_padding` on every side, takes
  one random crop window per sample (the same for its image and its mask) of `crop_hw`
  (h, w) (None = the input size H, W), then mirrors image and mask left-right together with
  probability 1/2 when `flip`. Static shapes, so it runs inside a jitted step.
  Returns (float32 [B, h, w, C] on the 0..255 scale, not normalised; int32 [B, h, w]).
  """
  b, h, w, c = images.shape
  out_h, out_w = (h, w) if crop_hw is None else (int(crop_hw[0]), int(crop_hw[1]))
  padded_h, padded_w = h + 2 * crop_padding, w + 2 * crop_padding
  if not (0 < out_h <= padded_h and 0 < out_w <= padded_w):
    raise ValueError(f"crop {out_h}x{out_w} does not fit images {h}x{w} padded by "
                     f"{crop_padding}")
  x = images.astype(jnp.float32)
  m = masks.astype(jnp.int32)
  if crop_padding > 0:
    pad = (crop_padding, crop_padding)
    x = jnp.pad(x, ((0, 0), pad, pad, (0, 0)))
    m = jnp.pad(m, ((0, 0), pad, pad), constant_values=IGNORE_LABEL)
  top_key, left_key, flip_key = jax.random.split(key, 3)
  tops = jax.random.randint(top_key, (b,), 0, padded_h - out_h + 1)
  lefts = jax.random.randint(left_key, (b,), 0, padded_w - out_w + 1)

  def crop_one(image, mask, top, left):
    return (jax.lax.dynamic_slice(image, (top, left, 0), (out_h, out_w, c)),
            jax.lax.dynamic_slice(mask, (top, left), (out_h, out_w)))

  x, m = jax.vmap(crop_one)(x, m, tops, lefts)
  if flip:
    mirrored = jax.random.bernoulli(flip_key, 0.5, (b,))
    x = jnp.where(mirrored[:, None, None, None], x[:, :, ::-1, :], x)
    m = jnp.where(mirrored[:, None, None], m[:, :, ::-1], m)
  return x, m
