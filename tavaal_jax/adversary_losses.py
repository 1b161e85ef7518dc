"""Losses of the adversarial representation learning: VAE / WAE objective and the BCE of D.

KL reductions (`vae.kl_reduction`), all of KL(N(mu, exp(logvar)) || N(0, I)) per element
k = -0.5 * (1 + logvar - mu^2 - exp(logvar)):
  'mean'      mean of k over every element [B, d] (the TA-VAAL release: torch.mean).
  'sum'       sum of k over every element, batch included, divided by nothing (VAAL exactly:
              `-0.5 * torch.sum(...)`); so its weight against the MSE grows with the batch.
  'batchmean' sum over the latent dimensions, mean over the batch (the per-image ELBO term;
              an extra, not used by either release).
The reconstruction term is always the mean squared error over every element
(torch's nn.MSELoss()).

`kind='wae'` replaces KL by the MMD between the codes and samples of the prior N(0, I)
(Tolstikhin et al., WAE-MMD) with the inverse multiquadratic kernel
k(x, y) = C / (C + ||x - y||^2), C = 2 * d, and the unbiased estimator.
"""

from typing import Optional

import jax
import jax.numpy as jnp
import optax

from tavaal_jax.errors import ConfigError

KINDS = ("vae", "wae")
KL_REDUCTIONS = ("mean", "sum", "batchmean")


def check_loss_config(kind: str, kl_reduction: str) -> None:
  """ConfigError naming vae.kind / vae.kl_reduction for an unknown value."""
  if kind not in KINDS:
    raise ConfigError(f"unknown vae.kind {kind!r}; valid: {', '.join(KINDS)}")
  if kind == "vae" and kl_reduction not in KL_REDUCTIONS:
    raise ConfigError(f"unknown vae.kl_reduction {kl_reduction!r}; valid: "
                      f"{', '.join(KL_REDUCTIONS)}")


def kl_divergence(mu: jax.Array, logvar: jax.Array, reduction: str) -> jax.Array:
  """KL(N(mu, exp(logvar)) || N(0, I)) of mu, logvar [B, d], reduced as the module says."""
  mu = mu.astype(jnp.float32)
  logvar = logvar.astype(jnp.float32)
  elementwise = -0.5 * (1.0 + logvar - jnp.square(mu) - jnp.exp(logvar))
  if reduction == "mean":
    return elementwise.mean()
  if reduction == "sum":
    return elementwise.sum()
  if reduction == "batchmean":
    return elementwise.sum(axis=-1).mean()
  raise ConfigError(f"unknown vae.kl_reduction {reduction!r}; valid: "
                    f"{', '.join(KL_REDUCTIONS)}")


def _squared_distances(a: jax.Array, b: jax.Array) -> jax.Array:
  """[n, d], [m, d] -> [n, m] squared Euclidean distances (clipped at 0)."""
  d2 = (jnp.sum(a * a, -1)[:, None] + jnp.sum(b * b, -1)[None, :] - 2.0 * a @ b.T)
  return jnp.maximum(d2, 0.0)


def mmd_imq(x: jax.Array, y: jax.Array, scale: Optional[float] = None) -> jax.Array:
  """Unbiased MMD^2 between samples x [n, d] and y [m, d] (n, m >= 2).

  Kernel: inverse multiquadratic C / (C + ||a - b||^2) with C = 2 * d (the prior's
  2 * d * sigma^2 for sigma = 1) unless `scale` gives C.
  The estimate can be slightly negative when the two distributions agree.
  """
  x = x.astype(jnp.float32)
  y = y.astype(jnp.float32)
  n, d = x.shape
  m = y.shape[0]
  c = 2.0 * d if scale is None else float(scale)
  kernel = lambda a, b: c / (c + _squared_distances(a, b))
  off_x = 1.0 - jnp.eye(n, dtype=x.dtype)
  off_y = 1.0 - jnp.eye(m, dtype=y.dtype)
  xx = jnp.sum(kernel(x, x) * off_x) / (n * (n - 1))
  yy = jnp.sum(kernel(y, y) * off_y) / (m * (m - 1))
  xy = jnp.mean(kernel(x, y))
  return xx + yy - 2.0 * xy


def vae_loss(recon: jax.Array, x: jax.Array, mu: jax.Array, logvar: jax.Array, kind: str,
             beta: float, kl_reduction: str, *, z: Optional[jax.Array] = None,
             key: Optional[jax.Array] = None) -> jax.Array:
  """MSE(recon, x) + beta * KL (kind 'vae') or + beta * MMD(z, N(0, I)) (kind 'wae').

  recon, x: [B, H, W, C]; mu, logvar: [B, d]. For 'wae', `z` [B, d] are the codes
  (default mu: WAE-MMD's deterministic encoder) and `key` draws the prior samples.
  Returns a float32 scalar.
  """
  mse = jnp.mean(jnp.square(recon.astype(jnp.float32) - x.astype(jnp.float32)))
  if kind == "vae":
    return mse + beta * kl_divergence(mu, logvar, kl_reduction)
  if kind == "wae":
    if key is None:
      raise ValueError("vae_loss(kind='wae') needs a key for the prior samples")
    codes = mu if z is None else z
    prior = jax.random.normal(key, codes.shape, jnp.float32)
    return mse + beta * mmd_imq(codes, prior)
  raise ConfigError(f"unknown vae.kind {kind!r}; valid: {', '.join(KINDS)}")


def bce_with_logits(logits: jax.Array, target) -> jax.Array:
  """Mean binary cross-entropy of sigmoid(logits) [B] against target (a scalar or [B])."""
  logits = logits.astype(jnp.float32)
  labels = jnp.broadcast_to(jnp.asarray(target, jnp.float32), logits.shape)
  return optax.sigmoid_binary_cross_entropy(logits, labels).mean()
