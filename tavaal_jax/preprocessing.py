"""How a uint8 batch becomes the model's input: normalisation and the train-time augmentation."""

import dataclasses
from typing import Tuple

import jax
import jax.numpy as jnp
import numpy as np

from tavaal_jax.data import augment


@dataclasses.dataclass(frozen=True)
class Preprocessing:
  """mean, std: per-channel [C] on the [0, 1] scale. crop_padding / flip: train-time
  augmentation; crop_hw: the (h, w) window a segmentation batch is cropped to in training
  (() keeps the image size). Hashable: bound into jitted steps as a static argument."""

  mean: Tuple[float, ...]
  std: Tuple[float, ...]
  crop_padding: int = 0
  flip: bool = False
  crop_hw: Tuple[int, ...] = ()

  @classmethod
  def from_config(cls, dataset, augment_config) -> "Preprocessing":
    return cls(mean=tuple(float(m) for m in np.ravel(dataset.mean)),
               std=tuple(float(s) for s in np.ravel(dataset.std)),
               crop_padding=int(augment_config.get("crop_padding", 0)),
               flip=bool(augment_config.get("flip", False)),
               crop_hw=tuple(int(s) for s in (augment_config.get("crop_hw", ()) or ())))

  def normalize(self, images: jax.Array) -> jax.Array:
    """[B, H, W, C] raw pixel values (0..255) -> float32 normalised."""
    return augment.normalize(images, jnp.asarray(self.mean), jnp.asarray(self.std))

  def train_input(self, key: jax.Array, images: jax.Array) -> jax.Array:
    """uint8 [B, H, W, C] -> augmented, normalised float32 [B, H, W, C]."""
    return augment.augment(key, images, jnp.asarray(self.mean), jnp.asarray(self.std),
                           self.crop_padding, self.flip)

  def eval_input(self, images: jax.Array) -> jax.Array:
    return self.normalize(images)
