"""The VAE and D of VAAL / TA-VAAL: built from the config, and their fresh train states.

`setup` below is an `adversary_steps.StepSetup` (its `vae` and `disc`): the state is
initialised from the modules the steps apply.
"""

import functools
from typing import Any, Tuple

import flax.struct
import jax
import jax.numpy as jnp
import ml_collections
import optax
from flax.training import train_state
from jax.sharding import Mesh

from tavaal_jax import parallel
from tavaal_jax.errors import ConfigError
from tavaal_jax.models.discriminator import Discriminator
from tavaal_jax.models.vae import VAE

_DTYPES = {"float32": jnp.float32, "bfloat16": jnp.bfloat16}


def build_models(config: ml_collections.ConfigDict, channels: int,
                 conditioned: bool) -> Tuple[VAE, Discriminator]:
  """The VAE (WAE: deterministic encoder) and D that config.vae / config.discriminator name."""
  dtype = _DTYPES.get(config.vae.get("dtype", config.model.get("dtype", "float32")))
  if dtype is None:
    raise ConfigError(f"model.dtype={config.model.get('dtype')!r}; use 'float32' or 'bfloat16'")
  vae = VAE(latent_dim=int(config.vae.latent_dim), width=int(config.vae.width),
            channels=int(channels), conditioned=bool(conditioned),
            stochastic=config.vae.kind == "vae", dtype=dtype,
            conv_form=config.vae.get("conv_form", "auto"))
  disc = Discriminator(hidden=tuple(int(h) for h in config.discriminator.hidden))
  return vae, disc


class VAEState(train_state.TrainState):
  """optax TrainState plus BatchNorm running statistics."""

  batch_stats: Any = None


class AdversaryState(flax.struct.PyTreeNode):
  vae: VAEState
  disc: train_state.TrainState


@functools.partial(jax.jit, static_argnums=(0, 1))
def _init_variables(setup, image_shape: Tuple[int, int, int], key: jax.Array):
  """VAE and D variables; compiled once per (setup, image shape), not once per stage."""
  vae_key, sample_key, disc_key = jax.random.split(key, 3)
  x = jnp.zeros((2,) + tuple(image_shape), jnp.float32)
  r = jnp.zeros((2,), jnp.float32) if setup.vae.conditioned else None
  variables = setup.vae.init({"params": vae_key, "sample": sample_key}, x, r, train=False)
  mu = jnp.zeros((2, setup.vae.latent_dim), jnp.float32)
  return variables, setup.disc.init(disc_key, mu, r)["params"]


def create_state(setup, vae_tx: optax.GradientTransformation,
                 disc_tx: optax.GradientTransformation, key: jax.Array,
                 image_shape: Tuple[int, int, int], mesh: Mesh) -> AdversaryState:
  """Freshly initialised VAE and D, replicated over the mesh."""
  variables, disc_params = _init_variables(setup, tuple(image_shape), key)
  # The steps apply the models through `setup`; apply_fn stays None because a bound method
  # of a module rebuilt every stage would differ between stages and force a recompilation.
  state = AdversaryState(
      vae=VAEState.create(apply_fn=None, params=variables["params"], tx=vae_tx,
                          batch_stats=variables.get("batch_stats", {})),
      disc=train_state.TrainState.create(apply_fn=None, params=disc_params, tx=disc_tx))
  return parallel.replicate(mesh, state)


