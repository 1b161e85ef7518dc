"""VGG-16 with BatchNorm (`vgg16`), the paper's task learner for Caltech-256."""

from typing import Any, Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp

from tavaal_jax.models import MODELS
from tavaal_jax.models.base import BackboneOutput
from tavaal_jax.models.resnet import PooledClassifier, batch_norm, conv

# Convs per block and each block's width as a multiple of `width` (64 gives 64/128/256/512/512).
VGG16_BLOCKS = ((2, 1), (2, 2), (3, 4), (3, 8), (3, 8))


class VGGBlock(nn.Module):
  """`num_convs` x (3x3 conv, BN, ReLU), then a 2x2 stride-2 max-pool.

  [B, H, W, C] -> [B, H // 2, W // 2, filters]. The pool is skipped when H or W is already
  below 2, so small inputs (e.g. 8x8 or 16x16) still pass through all five blocks; a 32x32
  input is pooled five times down to 1x1, as in the usual CIFAR VGG.
  """

  filters: int
  num_convs: int
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, x: jax.Array, train: bool) -> jax.Array:
    for _ in range(self.num_convs):
      x = conv(self.filters, 3, 1, self.dtype)(x)
      x = nn.relu(batch_norm(train, self.dtype)(x))
    if min(x.shape[1], x.shape[2]) >= 2:
      x = nn.max_pool(x, (2, 2), strides=(2, 2))
    return x


class VGG(nn.Module):
  """VGG with BatchNorm, global average pooling and a linear head.

  x: float32 [B, H, W, C] (normalised; any C, H, W >= 8).
  Returns BackboneOutput: logits [B, num_classes], embedding [B, 8 * width] (the pooled last
  block), and the outputs (after their pools) of the last four blocks
  [B, h_i, w_i, width * (2, 4, 8, 8)[i]] in the compute dtype.
  The convs have no bias: the BatchNorm after each one has its own.
  """

  num_classes: int
  blocks: Sequence[Sequence[int]] = VGG16_BLOCKS
  width: int = 64
  dtype: Any = jnp.float32
  dropout_rate: float = 0.0

  @nn.compact
  def __call__(self, x: jax.Array, train: bool, mc_dropout: bool = False) -> BackboneOutput:
    if x.ndim != 4:
      raise ValueError(f"expected images [B, H, W, C], got shape {x.shape}")
    outputs = []
    for i, (num_convs, multiple) in enumerate(self.blocks):
      x = VGGBlock(self.width * multiple, num_convs, self.dtype, name=f"block{i + 1}")(x, train)
      outputs.append(x)
    logits, embedding = PooledClassifier(self.num_classes, self.dropout_rate, name="head")(
        x, dropout=train or mc_dropout)
    return BackboneOutput(logits, embedding, outputs[-4:])


@MODELS.register("vgg16", embedding=True)
def vgg16(num_classes: int, width: int = 64, dtype: Any = jnp.float32,
          dropout_rate: float = 0.0) -> VGG:
  """VGG-16 with BatchNorm (13 convs in five blocks)."""
  return VGG(num_classes=num_classes, width=width, dtype=dtype, dropout_rate=dropout_rate)
