"""Every vae.* / discriminator.* field of VAAL / TA-VAAL, checked before anything trains."""

from typing import Optional, Tuple

import ml_collections
import numpy as np
from jax.sharding import Mesh

from tavaal_jax import parallel
from tavaal_jax.adversary_inputs import check_ranker_input
from tavaal_jax.adversary_losses import check_loss_config
from tavaal_jax.data.image_ops import shorter_side_shape
from tavaal_jax.errors import ConfigError
from tavaal_jax.models.vae import check_vae_shape, resolve_conv_form
from tavaal_jax.optim import make_optimizer


def _positive_int(value, field: str) -> int:
  if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
    raise ConfigError(f"{field}={value!r} must be a positive integer")
  return int(value)


def _non_negative_number(value, field: str) -> float:
  if isinstance(value, bool) or not isinstance(value, (int, float)) or not value >= 0:
    raise ConfigError(f"{field}={value!r} must be a non-negative number")
  return float(value)


def check_config(config: ml_collections.ConfigDict, image_shape: Optional[Tuple[int, ...]] = None,
                 mesh: Optional[Mesh] = None) -> None:
  """Every vae.* / discriminator.* field (and the image size) before anything trains."""
  for section in ("vae", "discriminator"):
    if section not in config:
      raise ConfigError(f"config section {section} is missing (see configs/cifar10.py)")
  vae = config.vae
  check_loss_config(vae.get("kind"), vae.get("kl_reduction", "mean"))
  latent = vae.get("latent_dim")
  if isinstance(latent, bool) or not isinstance(latent, int) or latent < 1:
    raise ConfigError(f"vae.latent_dim={latent!r} must be a positive integer")
  _positive_int(vae.get("width"), "vae.width")
  _positive_int(vae.get("epochs"), "vae.epochs")
  _positive_int(vae.get("steps_per_iteration", 1), "vae.steps_per_iteration")
  batch = _positive_int(vae.get("batch_size"), "vae.batch_size")
  if batch % 2:
    raise ConfigError(f"vae.batch_size={batch} must be even")
  _non_negative_number(vae.get("beta"), "vae.beta")
  _non_negative_number(vae.get("adversary_weight"), "vae.adversary_weight")
  check_ranker_input(vae.get("ranker_input", "rank"))
  resolve_conv_form(vae.get("conv_form", "auto"))
  hidden = config.discriminator.get("hidden")
  if (not isinstance(hidden, (tuple, list)) or
      any(isinstance(h, bool) or not isinstance(h, int) or h < 1 for h in hidden)):
    raise ConfigError(f"discriminator.hidden={hidden!r} must be a sequence of positive "
                      "integers, e.g. (512, 512)")
  for field in ("vae.optimizer", "discriminator.optimizer"):
    section, _ = field.split(".")
    try:
      make_optimizer(config[section].optimizer, steps_per_epoch=1, epochs=1)
    except ConfigError as error:
      raise ConfigError(f"{field}: {error}") from None
  if mesh is not None:
    # Training batches shape the optimisation: a size the devices do not divide is an
    # error, not rounded (strategy.batch_size, for scoring, is rounded where it is used).
    parallel.check_batch_size(batch, mesh, "vae.batch_size")
  image_size = vae.get("image_size", 0)
  if isinstance(image_size, bool) or not isinstance(image_size, int) or image_size < 0:
    raise ConfigError(f"vae.image_size={image_size!r} must be 0 (the task learner's images) "
                      "or a positive integer (the shorter side the VAE's images are resized to)")
  if image_shape is not None:
    check_vae_shape(vae_image_shape(config, image_shape), latent)


def vae_image_shape(config: ml_collections.ConfigDict,
                    image_shape: Tuple[int, ...]) -> Tuple[int, int, int]:
  """The (H, W, C) the VAE sees for dataset images of `image_shape`: vae.image_size on the
  shorter side (aspect kept), or the images as they are when it is 0."""
  return shorter_side_shape(image_shape, int(config.vae.get("image_size", 0)))
