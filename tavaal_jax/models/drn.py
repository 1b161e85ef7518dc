"""DRN-D-22 (`drn_d_22`), the dilated residual network of the segmentation experiment.

Yu, Koltun, Funkhouser, "Dilated Residual Networks", CVPR 2017; reference code
github.com/fyu/drn (drn.py `drn_d_22`, segment.py `DRNSeg`), whose layer shapes this follows:
eight levels of widths (16, 32, 64, 128, 256, 512, 512, 512) x width / 16 and depths
(1, 1, 2, 2, 2, 2, 1, 1). Levels 1-2 and 7-8 are plain conv-BN-ReLU layers (the D variant:
a conv stem instead of a max-pool, and degridding layers without residuals); levels 3-6 are
residual BasicBlocks, levels 5-6 dilated by 2 and 4 instead of striding, so the output stride
stays 8. DRNSeg's head: a 1x1 conv classifier on level 8 and bilinear upsampling of the
logits to the input size.
"""

from typing import Any, Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp

from tavaal_jax.models import MODELS
from tavaal_jax.models.base import BackboneOutput
from tavaal_jax.models.resnet import BasicBlock, batch_norm, conv, conv_kernel_init

DRN_D_22_CHANNELS = (16, 32, 64, 128, 256, 512, 512, 512)
DRN_D_22_LAYERS = (1, 1, 2, 2, 2, 2, 1, 1)
# Levels 1-8: stride of the level's first layer, and the dilation of its layers.
LEVEL_STRIDES = (1, 2, 2, 2, 1, 1, 1, 1)
LEVEL_DILATIONS = (1, 1, 1, 1, 2, 4, 2, 1)
# The four levels whose outputs go to the ranker (1-based; see DRN's docstring).
RANKER_LEVELS = (3, 4, 5, 6)


class ConvLevel(nn.Module):
  """`num_convs` x (3x3 conv, BN, ReLU) without a residual (DRN-D levels 1, 2, 7, 8).

  [B, H, W, C] -> [B, ceil(H / strides), ceil(W / strides), filters]; the first conv
  strides, every conv is dilated by `dilation`.
  """

  filters: int
  num_convs: int
  strides: int = 1
  dilation: int = 1
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, x: jax.Array, train: bool) -> jax.Array:
    for i in range(self.num_convs):
      x = conv(self.filters, 3, self.strides if i == 0 else 1, self.dtype,
               dilation=self.dilation)(x)
      x = nn.relu(batch_norm(train, self.dtype)(x))
    return x


class ResidualLevel(nn.Module):
  """`num_blocks` BasicBlocks (DRN levels 3-6); the first strides and changes width.

  As the reference's `_make_layer(..., new_level=False)`: every conv of the level is dilated
  by `dilation` (the first block's first conv too).
  """

  filters: int
  num_blocks: int
  strides: int = 1
  dilation: int = 1
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, x: jax.Array, train: bool) -> jax.Array:
    for i in range(self.num_blocks):
      x = BasicBlock(self.filters, self.strides if i == 0 else 1, self.dtype, self.dilation,
                     name=f"block{i + 1}")(x, train)
    return x


class DRN(nn.Module):
  """DRN-D: a 7x7 stride-1 stem conv, then levels 1-8, a 1x1 classifier, bilinear upsampling.

  x: float32 [B, H, W, C] (normalised; any C, H, W >= 8; H, W multiples of 8 give the
  exact output stride 8). Returns BackboneOutput:
    logits    float32 [B, H, W, num_classes]: the classifier on level 8 ([B, H/8, W/8, K]),
              resized bilinearly to the input size (jax.image.resize, half-pixel centres;
              the reference upsamples by a fixed bilinear transposed conv, the same
              interpolation up to its border handling);
    embedding float32 [B, channels[-1]]: the global average pool of level 8, for core-set;
    features  the outputs of levels 3, 4, 5, 6 ([B, H/4, W/4, c3], then [B, H/8, W/8, c_i])
              in the compute dtype, for the ranker. These are the four residual stages,
              DRN's counterpart of the four ResNet-18 stages Learning Loss taps (at width 16
              the same widths 64, 128, 256, 512); levels 7-8 only degrid level 6 and levels
              1-2 are the stem, so the ranker sees every depth that has its own residual
              features, at strides 4 and 8.
  With dropout_rate > 0, dropout acts on level 8's map before the classifier (in train mode
  and for MC dropout), as the classifiers drop before their head.
  """

  num_classes: int
  channels: Sequence[int] = DRN_D_22_CHANNELS
  layers: Sequence[int] = DRN_D_22_LAYERS
  dtype: Any = jnp.float32
  dropout_rate: float = 0.0

  @nn.compact
  def __call__(self, x: jax.Array, train: bool, mc_dropout: bool = False) -> BackboneOutput:
    if x.ndim != 4:
      raise ValueError(f"expected images [B, H, W, C], got shape {x.shape}")
    b, h, w, _ = x.shape
    x = conv(self.channels[0], 7, 1, self.dtype, name="stem_conv")(x)
    x = nn.relu(batch_norm(train, self.dtype, name="stem_bn")(x))
    outputs = []
    for level, (filters, depth) in enumerate(zip(self.channels, self.layers), start=1):
      level_class = ResidualLevel if 3 <= level <= 6 else ConvLevel
      x = level_class(filters, depth, LEVEL_STRIDES[level - 1], LEVEL_DILATIONS[level - 1],
                      self.dtype, name=f"level{level}")(x, train)
      outputs.append(x)

    # The head in float32: logits feed the loss and every score.
    y = x.astype(jnp.float32)
    embedding = jnp.mean(y, axis=(1, 2))
    if self.dropout_rate > 0.0:
      y = nn.Dropout(self.dropout_rate, deterministic=not (train or mc_dropout))(y)
    logits = nn.Conv(self.num_classes, (1, 1), use_bias=True, dtype=jnp.float32,
                     param_dtype=jnp.float32, kernel_init=conv_kernel_init,
                     name="classifier")(y)
    logits = jax.image.resize(logits, (b, h, w, self.num_classes), method="bilinear")
    features = [outputs[level - 1] for level in RANKER_LEVELS]
    return BackboneOutput(logits, embedding, features)


def drn_channels(width: int) -> Sequence[int]:
  """DRN-D-22's eight level widths scaled by width / 16 (at least 1 each)."""
  return tuple(max(1, c * width // 16) for c in DRN_D_22_CHANNELS)


@MODELS.register("drn_d_22", task="segmentation", embedding=True)
def drn_d_22(num_classes: int, width: int = 16, dtype: Any = jnp.float32,
             dropout_rate: float = 0.0) -> DRN:
  """DRN-D-22 for segmentation; width 16 is the paper's (levels 16 ... 512 wide)."""
  return DRN(num_classes=num_classes, channels=drn_channels(width), dtype=dtype,
             dropout_rate=dropout_rate)
