"""The loss-prediction module (Ranker) of Learning Loss / TA-VAAL."""

from typing import Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp


class Ranker(nn.Module):
  """Predicts each image's task loss from the backbone's four stage outputs.

  features: four arrays [B, h_i, w_i, c_i] (any dtype, any spatial size). Each is globally
  average-pooled (in float32, so any input size works, unlike the release's fixed-size
  pooling), then Dense(hidden) -> ReLU; the four are concatenated -> Dense(1).
  Returns the predicted loss, float32 [B]. No BatchNorm or dropout: train and eval agree.
  """

  hidden: int = 128

  @nn.compact
  def __call__(self, features: Sequence[jax.Array]) -> jax.Array:
    if len(features) != 4:
      raise ValueError(f"the ranker expects four stage features, got {len(features)}")
    hidden = []
    for i, feature in enumerate(features):
      if feature.ndim != 4:
        raise ValueError(f"stage feature {i} must be [B, h, w, c], got shape {feature.shape}")
      pooled = jnp.mean(feature.astype(jnp.float32), axis=(1, 2))
      hidden.append(nn.relu(nn.Dense(self.hidden, dtype=jnp.float32, param_dtype=jnp.float32,
                                     name=f"stage{i + 1}")(pooled)))
    out = nn.Dense(1, dtype=jnp.float32, param_dtype=jnp.float32, name="out")(
        jnp.concatenate(hidden, axis=-1))
    return out[:, 0]
