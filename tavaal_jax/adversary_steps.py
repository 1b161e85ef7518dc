"""The jitted training steps of VAAL / TA-VAAL's VAE and D.

Every iteration of `adversary.fit_adversary` takes one labeled and one unlabeled batch
and runs `vae.steps_per_iteration` VAE steps, then one D step:
  VAE: vae_loss(x_l) + vae_loss(x_u) + lambda * [BCE(D(mu_l, r_l), 1) + BCE(D(mu_u, r_u), 1)]
  D:   BCE(D(mu_l, r_l), 1) + BCE(D(mu_u, r_u), 0)          (VAE frozen)
r: (decoder r, D's r) from `adversary_inputs`, or None for VAAL.

Design decisions (where the release is ambiguous or faulty):
  * One VAE forward pass per step over the concatenated [x_l; x_u] batch, so BatchNorm's
    batch statistics are those of the L/S mixture, i.e. what its running statistics
    estimate. (The release calls the VAE on each batch separately; then BatchNorm
    normalises each source on its own and hides source-level differences in training only.)
  * `disc_step` runs the frozen VAE in EVAL mode (running statistics, z = mu, nothing
    updated). D is thus trained on exactly the features it scores at selection time, which
    is also in eval mode (the release's train-mode scoring is a known fault). The release
    runs the VAE in train mode under no_grad there, which also updates its running stats.
  * Images are normalised as for evaluation (no augmentation) inside the jitted steps.
"""

import dataclasses
import functools
from typing import Dict, Optional, Tuple

import jax
import jax.numpy as jnp

from tavaal_jax import xla_cpu
from tavaal_jax.adversary_losses import bce_with_logits, vae_loss
from tavaal_jax.adversary_models import AdversaryState
from tavaal_jax.models.discriminator import Discriminator
from tavaal_jax.models.vae import VAE
from tavaal_jax.optim import set_learning_rate
from tavaal_jax.preprocessing import Preprocessing


@dataclasses.dataclass(frozen=True)
class StepSetup:
  """The static part of the steps (hashable: bound with functools.partial before jit)."""

  vae: VAE
  disc: Discriminator
  preprocessing: Preprocessing
  kind: str = "vae"
  beta: float = 1.0
  kl_reduction: str = "mean"
  adversary_weight: float = 1.0

  @classmethod
  def from_config(cls, config, vae: VAE, disc: Discriminator,
                  preprocessing: Preprocessing) -> "StepSetup":
    return cls(vae, disc, preprocessing, kind=config.vae.kind, beta=float(config.vae.beta),
               kl_reduction=config.vae.get("kl_reduction", "mean"),
               adversary_weight=float(config.vae.adversary_weight))


def _joint(a, b):
  return None if a is None else jnp.concatenate([a, b])


def vae_step(state: AdversaryState, x_l: jax.Array, r_l, x_u: jax.Array, r_u, key: jax.Array,
             learning_rate: Optional[jax.Array] = None, *, setup: StepSetup
             ) -> Tuple[AdversaryState, Dict[str, jax.Array]]:
  """One VAE step; D is fixed. x_*: uint8 [B, H, W, C]; r_*: (r_decoder [B], r_disc [B]) or None.

  learning_rate: this step's rate from vae.optimizer's schedule (None: the rate in the state).
  """
  key = jax.random.fold_in(key, state.vae.step)
  sample_key, prior_l, prior_u = jax.random.split(key, 3)
  b = x_l.shape[0]
  x = jnp.concatenate([setup.preprocessing.eval_input(x_l),
                       setup.preprocessing.eval_input(x_u)])
  r_dec = None if r_l is None else _joint(r_l[0], r_u[0])
  r_disc = None if r_l is None else _joint(r_l[1], r_u[1])

  def loss_fn(params):
    (recon, mu, logvar), updates = setup.vae.apply(
        {"params": params, "batch_stats": state.vae.batch_stats}, x, r_dec, train=True,
        mutable=["batch_stats"], rngs={"sample": sample_key})
    reconstruction = (
        vae_loss(recon[:b], x[:b], mu[:b], logvar[:b], setup.kind, setup.beta,
                 setup.kl_reduction, key=prior_l)
        + vae_loss(recon[b:], x[b:], mu[b:], logvar[b:], setup.kind, setup.beta,
                   setup.kl_reduction, key=prior_u))
    logits = setup.disc.apply({"params": state.disc.params}, mu, r_disc)
    adversarial = bce_with_logits(logits[:b], 1.0) + bce_with_logits(logits[b:], 1.0)
    loss = reconstruction + setup.adversary_weight * adversarial
    return loss, (updates["batch_stats"], reconstruction, adversarial)

  (loss, (batch_stats, reconstruction, adversarial)), grads = jax.value_and_grad(
      loss_fn, has_aux=True)(state.vae.params)
  vae_state = _with_learning_rate(state.vae, learning_rate)
  vae_state = vae_state.apply_gradients(grads=grads, batch_stats=batch_stats)
  return state.replace(vae=vae_state), {"vae_loss": loss, "reconstruction": reconstruction,
                                        "adversarial": adversarial}


def disc_step(state: AdversaryState, x_l: jax.Array, r_l, x_u: jax.Array, r_u, key: jax.Array,
              learning_rate: Optional[jax.Array] = None, *, setup: StepSetup
              ) -> Tuple[AdversaryState, Dict[str, jax.Array]]:
  """One D step: labeled -> 1, unlabeled -> 0, on the codes of the frozen VAE in eval mode."""
  del key  # the eval-mode encoder is deterministic
  b = x_l.shape[0]
  x = jnp.concatenate([setup.preprocessing.eval_input(x_l),
                       setup.preprocessing.eval_input(x_u)])
  r_disc = None if r_l is None else _joint(r_l[1], r_u[1])
  mu, _ = setup.vae.apply({"params": state.vae.params, "batch_stats": state.vae.batch_stats},
                          x, train=False, method=VAE.encode)
  mu = jax.lax.stop_gradient(mu)

  def loss_fn(params):
    logits = setup.disc.apply({"params": params}, mu, r_disc)
    return bce_with_logits(logits[:b], 1.0) + bce_with_logits(logits[b:], 0.0), logits

  (loss, logits), grads = jax.value_and_grad(loss_fn, has_aux=True)(state.disc.params)
  probs = jax.nn.sigmoid(logits)
  disc_state = _with_learning_rate(state.disc, learning_rate).apply_gradients(grads=grads)
  return state.replace(disc=disc_state), {
      "disc_loss": loss, "disc_labeled": probs[:b].mean(), "disc_unlabeled": probs[b:].mean()}


def _with_learning_rate(state, learning_rate):
  if learning_rate is None:
    return state
  return state.replace(opt_state=set_learning_rate(state.opt_state, learning_rate))


@functools.lru_cache(maxsize=8)
def compiled_steps(setup: StepSetup):
  """(vae_step, disc_step) jitted for `setup`; cached, so every stage reuses one compilation."""
  # Without YNNPACK fusions on XLA:CPU: the VAE + D iteration is faster on Eigen (xla_cpu.py).
  return (xla_cpu.jit_without_ynn(functools.partial(vae_step, setup=setup), donate_argnums=(0,)),
          xla_cpu.jit_without_ynn(functools.partial(disc_step, setup=setup), donate_argnums=(0,)))
