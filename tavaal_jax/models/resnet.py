"""ResNet-18 task learners: CIFAR stem (`resnet18`) and ImageNet stem (`resnet18_imagenet`).

Also holds the pieces every backbone shares (conv init, BatchNorm settings, the pooled
classifier head), so that all backbones follow one convention.
"""

from typing import Any, Optional, Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp

from tavaal_jax.models import MODELS
from tavaal_jax.models.base import BackboneOutput

# torchvision's kaiming_normal_(mode="fan_out", nonlinearity="relu"): an untruncated normal.
conv_kernel_init = nn.initializers.variance_scaling(2.0, "fan_out", "normal")


def batch_norm(train: bool, dtype: Any, name: Optional[str] = None) -> nn.BatchNorm:
  """BatchNorm with PyTorch's defaults (running = 0.9 * running + 0.1 * batch, eps 1e-5).

  Statistics and parameters stay float32 whatever `dtype` computes in. Unlike PyTorch, the
  running variance tracks the biased batch variance (a factor n / (n - 1), negligible at
  batch 128).
  """
  return nn.BatchNorm(use_running_average=not train, momentum=0.9, epsilon=1e-5,
                      dtype=dtype, param_dtype=jnp.float32, name=name)


def conv(features: int, kernel: int, strides: int, dtype: Any,
         name: Optional[str] = None, dilation: int = 1) -> nn.Conv:
  """A bias-free (BatchNorm follows) k x k conv with PyTorch padding dilation * (k // 2),
  which keeps the size at stride 1 for any dilation."""
  pad = dilation * (kernel // 2)
  return nn.Conv(features, (kernel, kernel), strides=(strides, strides),
                 padding=((pad, pad), (pad, pad)), kernel_dilation=(dilation, dilation),
                 use_bias=False, dtype=dtype, param_dtype=jnp.float32,
                 kernel_init=conv_kernel_init, name=name)


class PooledClassifier(nn.Module):
  """Global average pool, optional dropout, linear layer.

  [B, h, w, D] -> (logits float32 [B, num_classes], embedding float32 [B, D]).
  The embedding is taken before dropout, so it is deterministic in every mode.
  """

  num_classes: int
  dropout_rate: float = 0.0

  @nn.compact
  def __call__(self, x: jax.Array, dropout: bool):
    # Pool in float32: averaging many bf16 values loses precision, and core-set distances
    # and the loss want float32 anyway.
    embedding = jnp.mean(x.astype(jnp.float32), axis=(1, 2))
    y = embedding
    if self.dropout_rate > 0.0:
      y = nn.Dropout(self.dropout_rate, deterministic=not dropout)(y)
    logits = nn.Dense(self.num_classes, dtype=jnp.float32, param_dtype=jnp.float32)(y)
    return logits, embedding


class BasicBlock(nn.Module):
  """Two 3x3 conv-BN layers plus a shortcut (1x1 conv-BN when the shape changes).

  [B, H, W, C] -> [B, ceil(H / strides), ceil(W / strides), filters]
  """

  filters: int
  strides: int = 1
  dtype: Any = jnp.float32
  dilation: int = 1   # of both 3x3 convs (DRN's dilated levels)

  @nn.compact
  def __call__(self, x: jax.Array, train: bool) -> jax.Array:
    y = conv(self.filters, 3, self.strides, self.dtype, dilation=self.dilation)(x)
    y = nn.relu(batch_norm(train, self.dtype)(y))
    y = conv(self.filters, 3, 1, self.dtype, dilation=self.dilation)(y)
    y = batch_norm(train, self.dtype)(y)
    shortcut = x
    if self.strides != 1 or x.shape[-1] != self.filters:
      shortcut = conv(self.filters, 1, self.strides, self.dtype, name="shortcut_conv")(x)
      shortcut = batch_norm(train, self.dtype, name="shortcut_bn")(shortcut)
    return nn.relu(y + shortcut)


class ResNet(nn.Module):
  """ResNet of BasicBlocks with four stages of widths width * (1, 2, 4, 8).

  x: float32 [B, H, W, C] (normalised; any C, H, W >= 8).
  stem "cifar": 3x3 stride-1 conv, no max-pool (stage 1 runs at H x W).
  stem "imagenet": 7x7 stride-2 conv + 3x3 stride-2 max-pool (stage 1 runs at H/4 x W/4).
  Returns BackboneOutput: logits [B, num_classes], embedding [B, 8 * width], and the four
  stage outputs [B, h_i, w_i, width * 2**i] in the compute dtype.
  """

  num_classes: int
  stage_sizes: Sequence[int] = (2, 2, 2, 2)
  stem: str = "cifar"
  width: int = 64
  dtype: Any = jnp.float32
  dropout_rate: float = 0.0

  @nn.compact
  def __call__(self, x: jax.Array, train: bool, mc_dropout: bool = False) -> BackboneOutput:
    if x.ndim != 4:
      raise ValueError(f"expected images [B, H, W, C], got shape {x.shape}")
    if self.stem == "cifar":
      x = conv(self.width, 3, 1, self.dtype, name="stem_conv")(x)
      x = nn.relu(batch_norm(train, self.dtype, name="stem_bn")(x))
    elif self.stem == "imagenet":
      x = conv(self.width, 7, 2, self.dtype, name="stem_conv")(x)
      x = nn.relu(batch_norm(train, self.dtype, name="stem_bn")(x))
      x = nn.max_pool(x, (3, 3), strides=(2, 2), padding=((1, 1), (1, 1)))
    else:
      raise ValueError(f"unknown ResNet stem {self.stem!r}; expected 'cifar' or 'imagenet'")

    features = []
    for stage, num_blocks in enumerate(self.stage_sizes):
      for block in range(num_blocks):
        strides = 2 if stage > 0 and block == 0 else 1
        x = BasicBlock(self.width * 2**stage, strides, self.dtype,
                       name=f"stage{stage + 1}_block{block + 1}")(x, train)
      features.append(x)

    logits, embedding = PooledClassifier(self.num_classes, self.dropout_rate, name="head")(
        x, dropout=train or mc_dropout)
    return BackboneOutput(logits, embedding, features)


@MODELS.register("resnet18", embedding=True)
def resnet18(num_classes: int, width: int = 64, dtype: Any = jnp.float32,
             dropout_rate: float = 0.0) -> ResNet:
  """ResNet-18 with the CIFAR stem (the paper's task learner for 32x32 and 28x28 images)."""
  return ResNet(num_classes=num_classes, stem="cifar", width=width, dtype=dtype,
                dropout_rate=dropout_rate)


@MODELS.register("resnet18_imagenet", embedding=True)
def resnet18_imagenet(num_classes: int, width: int = 64, dtype: Any = jnp.float32,
                      dropout_rate: float = 0.0) -> ResNet:
  """ResNet-18 with the ImageNet stem (for 224x224 inputs, e.g. Caltech-101)."""
  return ResNet(num_classes=num_classes, stem="imagenet", width=width, dtype=dtype,
                dropout_rate=dropout_rate)

