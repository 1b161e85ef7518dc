"""Per-sample classification loss and the ranking losses of the loss-prediction module.

The ranking losses follow Learning Loss (Yoo & Kweon, 2019): a batch of B predictions is
paired as (i, B-1-i) for i < B/2, and each pair is scored on whether the predicted losses
are ordered like the true ones. B must be even (the learner checks `train.batch_size`);
the targets (true per-sample losses) are detached, so no gradient flows into them.
"""

from typing import Callable, Dict, Tuple

import jax
import jax.numpy as jnp
import optax

from tavaal_jax.errors import ConfigError


def cross_entropy(logits: jax.Array, labels: jax.Array) -> jax.Array:
  """Per-sample cross-entropy: logits [B, K], integer labels [B] -> float32 [B]."""
  return optax.softmax_cross_entropy_with_integer_labels(logits.astype(jnp.float32), labels)


def pair_halves(x: jax.Array) -> Tuple[jax.Array, jax.Array]:
  """x [B] -> (x[:B//2], flip(x)[:B//2]): the pairs (i, B-1-i) for i < B//2."""
  half = x.shape[0] // 2
  return x[:half], jnp.flip(x, axis=0)[:half]


def _pair_differences(predicted: jax.Array, target: jax.Array):
  """(p_i - p_j, l_i - l_j) over the pairs, both float32 [B//2]; targets detached."""
  if predicted.ndim != 1 or predicted.shape != target.shape:
    raise ValueError(f"predicted and target must both be [B], got {predicted.shape} and "
                     f"{target.shape}")
  if predicted.shape[0] % 2:
    raise ValueError(f"the ranking losses pair a batch as (i, B-1-i); B must be even, "
                     f"got B={predicted.shape[0]}")
  p_i, p_j = pair_halves(predicted.astype(jnp.float32))
  l_i, l_j = pair_halves(jax.lax.stop_gradient(target.astype(jnp.float32)))
  return p_i - p_j, l_i - l_j


def ll_ranking_loss(predicted: jax.Array, target: jax.Array, margin: float = 1.0) -> jax.Array:
  """Learning Loss's hinge: mean over pairs of max(0, -s * (p_i - p_j) + margin).

  predicted, target: [B] (B even). s = +1 if l_i > l_j else -1 (a tie counts as -1, as in
  Learning Loss). Returns a float32 scalar.
  """
  dp, dl = _pair_differences(predicted, target)
  sign = jnp.where(dl > 0, 1.0, -1.0)
  return jnp.mean(jnp.maximum(0.0, margin - sign * dp))


def llv2_ranking_loss(predicted: jax.Array, target: jax.Array) -> jax.Array:
  """TA-VAAL's relaxed ranking loss: mean over pairs of BCE(sigmoid(p_i - p_j), 1[l_i > l_j]).

  predicted, target: [B] (B even). Returns a float32 scalar.
  """
  dp, dl = _pair_differences(predicted, target)
  return jnp.mean(optax.sigmoid_binary_cross_entropy(dp, (dl > 0).astype(jnp.float32)))


RANKING_LOSSES: Dict[str, Callable[..., jax.Array]] = {
    "ll": ll_ranking_loss,
    "llv2": llv2_ranking_loss,
}


def get_ranking_loss(name: str) -> Callable[..., jax.Array]:
  """The ranking loss named by `ranker.loss`; ConfigError for an unknown name."""
  if not isinstance(name, str) or name not in RANKING_LOSSES:
    raise ConfigError(f"unknown ranker.loss {name!r}; valid names: "
                      f"{', '.join(sorted(RANKING_LOSSES))}")
  return RANKING_LOSSES[name]


def ranking_loss(name: str, predicted: jax.Array, target: jax.Array,
                 margin: float = 1.0) -> jax.Array:
  """The ranking loss `name` ('ll' | 'llv2') of predicted [B] against true losses [B].

  `margin` is the hinge margin of 'll' (ranker.margin); 'llv2' has none and ignores it.
  """
  fn = get_ranking_loss(name)
  if name == "ll":
    return fn(predicted, target, margin)
  return fn(predicted, target)
