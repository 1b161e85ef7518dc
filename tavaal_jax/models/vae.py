"""The VAE (or WAE) of VAAL and TA-VAAL.

Encoder: four k4 s2 p1 convs of widths width x (1, 2, 4, 8), each BatchNorm + ReLU, then
two Dense heads for mu and logvar. Decoder: [z, r] (r: one normalised ranker output per
image, TA-VAAL) or z alone (VAAL) -> Dense(8 * width * s_h * s_w) -> three k4 s2 transposed
convs of widths 4w, 2w, w, each BatchNorm + ReLU -> a 1x1 conv to the image channels.
With conv_form='phases' (vae.conv_form 'auto' on CPU) the transposed convs and the encoder's
input gradients are computed as 2x2 convolutions (models/phase_conv.py): the same maps and
parameters, several times faster on XLA:CPU.

Images whose height or width is not a multiple of 16 (Fashion-MNIST's 28x28) are zero-padded
(centred, in the normalised space) to the next multiple for the encoder; the reconstruction
is cropped back to the input size, so every dataset works.

Call contract (x float32 [B, H, W, C] already normalised, r float32 [B] or None):

    variables = vae.init({'params': k, 'sample': k2}, x, r, train=False)
    (recon, mu, logvar), updates = vae.apply(variables, x, r, train=True,
                                             mutable=['batch_stats'], rngs={'sample': k})
    recon, mu, logvar = vae.apply(variables, x, r, train=False)        # z = mu, running stats
    mu, logvar = vae.apply(variables, x, train=False, method=VAE.encode)
"""

from typing import Any, Optional, Tuple

import flax.linen as nn
import jax
import jax.numpy as jnp

from tavaal_jax.errors import ConfigError
from tavaal_jax.models.phase_conv import PhaseConvTranspose, PhaseGradConv

# PyTorch's kaiming_normal_ (fan_in, relu), which VAAL's `kaiming_init` applies to every layer.
kernel_init = nn.initializers.variance_scaling(2.0, "fan_in", "normal")

MIN_IMAGE_SIZE = 16   # four stride-2 convs

# How the k4 s2 layers are computed (vae.conv_form): 'phases' (models/phase_conv.py: the
# decoder's transposed convs and the encoder's input gradients as 2x2 convs, fast on XLA:CPU)
# or 'native' (nn.Conv / nn.ConvTranspose). The same maps and parameters either way.
CONV_FORMS = ("phases", "native")


def resolve_conv_form(conv_form: str, backend: Optional[str] = None) -> str:
  """vae.conv_form -> 'phases' or 'native'; ConfigError for anything else. 'auto': 'phases'
  on CPU, where XLA's transposed convolutions are slow, 'native' elsewhere (cuDNN / TPU run
  them well)."""
  if conv_form == "auto":
    return "phases" if (backend or jax.default_backend()) == "cpu" else "native"
  if conv_form not in CONV_FORMS:
    raise ConfigError(f"vae.conv_form={conv_form!r}; valid: auto, {', '.join(CONV_FORMS)}")
  return conv_form


def _batch_norm(train: bool, dtype: Any) -> nn.BatchNorm:
  """PyTorch defaults: running = 0.9 * running + 0.1 * batch, eps 1e-5; float32 statistics."""
  return nn.BatchNorm(use_running_average=not train, momentum=0.9, epsilon=1e-5, dtype=dtype,
                      param_dtype=jnp.float32)


def padded_size(size: int) -> int:
  """The smallest multiple of 16 that is >= size."""
  return -(-size // MIN_IMAGE_SIZE) * MIN_IMAGE_SIZE


def check_vae_shape(image_shape: Tuple[int, ...], latent_dim: int) -> None:
  """ConfigError for images the encoder cannot take or a non-positive latent size."""
  if isinstance(latent_dim, bool) or not isinstance(latent_dim, int) or latent_dim < 1:
    raise ConfigError(f"vae.latent_dim={latent_dim!r} must be a positive integer")
  h, w = int(image_shape[0]), int(image_shape[1])
  if h < MIN_IMAGE_SIZE or w < MIN_IMAGE_SIZE:
    raise ConfigError(
        f"the VAE needs images of at least {MIN_IMAGE_SIZE}x{MIN_IMAGE_SIZE} (four stride-2 "
        f"convolutions) but gets {h}x{w}; set dataset.image_size to 16 or more")


class Encoder(nn.Module):
  """x float32 [B, H, W, C] (H, W multiples of 16) -> (mu [B, d], logvar [B, d]) float32."""

  latent_dim: int
  width: int = 128
  dtype: Any = jnp.float32
  conv_form: str = "phases"

  @nn.compact
  def __call__(self, x: jax.Array, train: bool) -> Tuple[jax.Array, jax.Array]:
    y = x.astype(self.dtype)
    for i, mult in enumerate((1, 2, 4, 8)):
      y = self._downsample(self.width * mult, f"conv{i}")(y)
      y = nn.relu(_batch_norm(train, self.dtype)(y))
    y = y.reshape((y.shape[0], -1)).astype(jnp.float32)
    mu = nn.Dense(self.latent_dim, kernel_init=kernel_init, name="mu")(y)
    logvar = nn.Dense(self.latent_dim, kernel_init=kernel_init, name="logvar")(y)
    return mu, logvar

  def _downsample(self, features: int, name: str) -> nn.Module:
    """A k4 s2 p1 conv that halves H and W."""
    if resolve_conv_form(self.conv_form) == "phases":
      return PhaseGradConv(features, dtype=self.dtype, param_dtype=jnp.float32,
                           kernel_init=kernel_init, name=name)
    return nn.Conv(features, (4, 4), strides=(2, 2), padding=((1, 1), (1, 1)), use_bias=False,
                   dtype=self.dtype, param_dtype=jnp.float32, kernel_init=kernel_init, name=name)


class Decoder(nn.Module):
  """z [B, d'] -> float32 [B, 8 * s_h, 8 * s_w, channels] for (s_h, s_w) = `start`."""

  width: int = 128
  channels: int = 3
  dtype: Any = jnp.float32
  conv_form: str = "phases"

  @nn.compact
  def __call__(self, z: jax.Array, start: Tuple[int, int], train: bool) -> jax.Array:
    sh, sw = start
    y = nn.Dense(8 * self.width * sh * sw, kernel_init=kernel_init, name="fc")(z)
    y = y.reshape((y.shape[0], sh, sw, 8 * self.width)).astype(self.dtype)
    for i, mult in enumerate((4, 2, 1)):
      y = self._upsample(self.width * mult, f"deconv{i}")(y)
      y = nn.relu(_batch_norm(train, self.dtype)(y))
    y = nn.Conv(self.channels, (1, 1), dtype=self.dtype, param_dtype=jnp.float32,
                kernel_init=kernel_init, name="out")(y)
    return y.astype(jnp.float32)

  def _upsample(self, features: int, name: str) -> nn.Module:
    """A k4 s2 layer that doubles H and W exactly, as torch's k4 s2 p1 transposed conv does."""
    if resolve_conv_form(self.conv_form) == "phases":
      return PhaseConvTranspose(features, dtype=self.dtype, param_dtype=jnp.float32,
                                kernel_init=kernel_init, name=name)
    return nn.ConvTranspose(features, (4, 4), strides=(2, 2), padding="SAME", use_bias=False,
                            dtype=self.dtype, param_dtype=jnp.float32, kernel_init=kernel_init,
                            name=name)


class VAE(nn.Module):
  """VAE / WAE with an optional scalar condition r on the decoder.

  latent_dim: d. width: base width (128 in the paper). channels: image channels to
  reconstruct. conditioned: the decoder takes [z, r] (TA-VAAL) instead of z (VAAL).
  stochastic: z = mu + exp(logvar / 2) * eps in train mode (VAE); False gives the
  deterministic encoder of WAE-MMD (z = mu always). In eval mode z = mu.
  dtype: computation dtype; parameters, statistics and outputs are float32.
  conv_form: the k4 s2 layers as 'phases' (2x2 convolutions, fast on XLA:CPU), 'native'
  (nn.Conv / nn.ConvTranspose) or 'auto' (resolve_conv_form); the same maps and parameters.
  """

  latent_dim: int
  width: int = 128
  channels: int = 3
  conditioned: bool = False
  stochastic: bool = True
  dtype: Any = jnp.float32
  conv_form: str = "phases"

  def setup(self):
    self.encoder = Encoder(self.latent_dim, self.width, self.dtype, self.conv_form)
    self.decoder = Decoder(self.width, self.channels, self.dtype, self.conv_form)

  def encode(self, x: jax.Array, train: bool = False) -> Tuple[jax.Array, jax.Array]:
    """x float32 [B, H, W, C] -> (mu [B, d], logvar [B, d]) float32."""
    check_vae_shape(x.shape[1:3], self.latent_dim)
    h, w = x.shape[1:3]
    ph, pw = padded_size(h) - h, padded_size(w) - w
    if ph or pw:
      x = jnp.pad(x, ((0, 0), (ph // 2, ph - ph // 2), (pw // 2, pw - pw // 2), (0, 0)))
    return self.encoder(x, train)

  def __call__(self, x: jax.Array, r: Optional[jax.Array] = None, train: bool = False
               ) -> Tuple[jax.Array, jax.Array, jax.Array]:
    """x float32 [B, H, W, C], r [B] or None -> (recon [B, H, W, channels], mu, logvar)."""
    mu, logvar = self.encode(x, train)
    z = mu
    if train and self.stochastic:
      eps = jax.random.normal(self.make_rng("sample"), mu.shape, mu.dtype)
      z = mu + jnp.exp(0.5 * logvar) * eps
    if self.conditioned:
      if r is None:
        raise ValueError("a conditioned VAE needs r (one normalised ranker output per image)")
      z = jnp.concatenate([z, jnp.reshape(r, (-1, 1)).astype(z.dtype)], axis=-1)
    elif r is not None:
      raise ValueError("an unconditioned VAE (VAAL) takes no r")
    h, w = x.shape[1:3]
    y = self.decoder(z, (padded_size(h) // 8, padded_size(w) // 8), train)
    top, left = (padded_size(h) - h) // 2, (padded_size(w) - w) // 2
    return y[:, top:top + h, left:left + w, :], mu, logvar
