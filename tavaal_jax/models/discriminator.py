"""The discriminator D of VAAL / TA-VAAL: an MLP on [mu, r] (TA-VAAL) or mu (VAAL).

It returns the LOGIT of "this image is labeled"; apply `jax.nn.sigmoid` where a probability
is wanted, and use the logit in the binary cross-entropy (numerically stable).

    variables = disc.init(key, mu, r)          # r [B] or None (VAAL)
    logits = disc.apply(variables, mu, r)      # [B]
"""

from typing import Optional, Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp

from tavaal_jax.models.vae import kernel_init


class Discriminator(nn.Module):
  """Dense(h) + ReLU for each h of `hidden`, then Dense(1).

  hidden: widths of the hidden layers; the release's (512, 512) gives its three Dense layers.
  """

  hidden: Sequence[int] = (512, 512)

  @nn.compact
  def __call__(self, mu: jax.Array, r: Optional[jax.Array] = None) -> jax.Array:
    """mu [B, d], r [B] or None -> logits float32 [B]."""
    y = mu.astype(jnp.float32)
    if r is not None:
      y = jnp.concatenate([y, jnp.reshape(r, (-1, 1)).astype(jnp.float32)], axis=-1)
    for width in self.hidden:
      y = nn.relu(nn.Dense(int(width), kernel_init=kernel_init)(y))
    return nn.Dense(1, kernel_init=kernel_init)(y)[:, 0]
