"""The task learner: a backbone plus (optionally) the Ranker, as one Flax module.

One params tree {'backbone': ..., 'ranker': ...} (no 'ranker' without one), trained by one
optimizer, as the paper trains both with the same optimiser settings. The call contract
extends the backbones' (see `tavaal_jax.models`):

    out = model.apply(variables, x, train=True, mutable=['batch_stats'],
                      rngs={'dropout': k}, ranker_grad_scale=scale)
    out = model.apply(variables, x, train=False)
    out = model.apply(variables, x, train=False, mc_dropout=True, rngs={'dropout': k})

with `out` a `TaskOutput`.
"""

from typing import List, NamedTuple, Optional, Union

import flax.linen as nn
import jax
import jax.numpy as jnp
import ml_collections

from tavaal_jax.errors import ConfigError
from tavaal_jax.models import build_model
from tavaal_jax.models.ranker import Ranker

class TaskOutput(NamedTuple):
  """logits [B, K] f32, embedding [B, D] f32, the four stage features [B, h_i, w_i, c_i],
  predicted_loss [B] f32 (None when no ranker is attached)."""

  logits: jax.Array
  embedding: jax.Array
  features: List[jax.Array]
  predicted_loss: Optional[jax.Array]


def scale_gradient(x: jax.Array, scale: Union[float, jax.Array]) -> jax.Array:
  """x in the forward pass; the gradient through it is multiplied by `scale`.

  `scale` may be traced (0. stops the gradient, 1. passes it), so switching it needs no
  recompilation. With scale 0 the gradient is exactly zero.
  """
  x_sg = jax.lax.stop_gradient(x)
  return x_sg + jnp.asarray(scale, x.dtype) * (x - x_sg)


class TaskModel(nn.Module):
  """A backbone (returning a `BackboneOutput`) and an optional `Ranker` on its features."""

  backbone: nn.Module
  ranker: Optional[Ranker] = None

  def __call__(self, x: jax.Array, train: bool, mc_dropout: bool = False,
               ranker_grad_scale: Union[float, jax.Array] = 1.0) -> TaskOutput:
    """x float32 [B, H, W, C]. `ranker_grad_scale` (scalar, 0. or 1.) multiplies the gradient
    of the ranker's output with respect to the backbone's features; the ranker's own
    parameters always get their full gradient."""
    out = self.backbone(x, train=train, mc_dropout=mc_dropout)
    predicted_loss = None
    if self.ranker is not None:
      predicted_loss = self.ranker([scale_gradient(f, ranker_grad_scale) for f in out.features])
    return TaskOutput(out.logits, out.embedding, list(out.features), predicted_loss)


def build_task_model(config: ml_collections.ConfigDict, num_classes: int,
                     with_ranker: bool) -> TaskModel:
  """The backbone named by config.model, with a Ranker(config.ranker.hidden) iff
  `with_ranker`. Raises ConfigError for invalid model or ranker fields."""
  backbone = build_model(config.model, num_classes)
  ranker = None
  if with_ranker:
    hidden = config.ranker.get("hidden", 128)
    if isinstance(hidden, bool) or not isinstance(hidden, int) or hidden < 1:
      raise ConfigError(f"ranker.hidden must be a positive integer, got {hidden!r}")
    ranker = Ranker(hidden=hidden)
  return TaskModel(backbone=backbone, ranker=ranker)
