"""On-device preprocessing: normalisation and augmentation as jitted array ops.

Called inside the jitted train step on a uint8 batch, so no per-image Python runs on the
host and the work fuses with the first convolution.
"""

import jax
import jax.numpy as jnp


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
