"""Cross-entropy and the ranking losses against values worked out by hand."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from tavaal_jax import losses
from tavaal_jax.errors import ConfigError

# A batch of four: the pairs are (0, 3) and (1, 2).
PREDICTED = jnp.array([0.5, 2.0, 1.0, 0.0])
TARGET = jnp.array([3.0, 1.0, 2.0, 0.5])
# pair (0, 3): p_i - p_j = 0.5 - 0.0 = 0.5,  l_i - l_j = 3.0 - 0.5 = 2.5 > 0  -> s = +1
# pair (1, 2): p_i - p_j = 2.0 - 1.0 = 1.0,  l_i - l_j = 1.0 - 2.0 = -1  <= 0 -> s = -1


def test_pair_halves_pairs_i_with_b_minus_1_minus_i():
  first, second = losses.pair_halves(jnp.arange(6.0))
  np.testing.assert_array_equal(first, [0.0, 1.0, 2.0])
  np.testing.assert_array_equal(second, [5.0, 4.0, 3.0])


def test_cross_entropy_per_sample():
  logits = jnp.array([[0.0, 0.0], [jnp.log(3.0), 0.0]])
  # softmax rows: [1/2, 1/2] and [3/4, 1/4]; labels 0 and 1 -> -log(1/2), -log(1/4)
  np.testing.assert_allclose(losses.cross_entropy(logits, jnp.array([0, 1])),
                             [np.log(2.0), np.log(4.0)], rtol=1e-6)


def test_ll_hand_computed():
  # margin 1: pair (0, 3): max(0, -(+1)(0.5) + 1) = 0.5
  #           pair (1, 2): max(0, -(-1)(1.0) + 1) = 2.0        mean = 2.5 / 2 = 1.25
  assert float(losses.ll_ranking_loss(PREDICTED, TARGET)) == pytest.approx(1.25, abs=1e-6)
  assert float(losses.ranking_loss("ll", PREDICTED, TARGET)) == pytest.approx(1.25, abs=1e-6)


def test_ll_with_margin():
  # margin 0.25: pair (0, 3): max(0, -0.5 + 0.25) = 0;  pair (1, 2): max(0, 1.0 + 0.25) = 1.25
  # mean = 1.25 / 2 = 0.625
  assert float(losses.ll_ranking_loss(PREDICTED, TARGET, margin=0.25)) == pytest.approx(
      0.625, abs=1e-6)
  assert float(losses.ranking_loss("ll", PREDICTED, TARGET, margin=0.25)) == pytest.approx(
      0.625, abs=1e-6)
  # margin 3: 2.5 and 4.0 -> 3.25
  assert float(losses.ll_ranking_loss(PREDICTED, TARGET, margin=3.0)) == pytest.approx(
      3.25, abs=1e-6)


def test_ll_tie_counts_as_minus_one():
  # l_0 == l_1: s = -1, so the hinge is max(0, (p_0 - p_1) + 1) = max(0, 2 + 1) = 3
  assert float(losses.ll_ranking_loss(jnp.array([3.0, 1.0]), jnp.array([2.0, 2.0]))) == \
      pytest.approx(3.0)


def test_llv2_hand_computed():
  # pair (0, 3): label 1, logit 0.5: -log(sigmoid(0.5))     = log(1 + e^-0.5) = 0.4740770
  # pair (1, 2): label 0, logit 1.0: -log(1 - sigmoid(1.0)) = log(1 + e^1)    = 1.3132617
  # mean = (0.4740770 + 1.3132617) / 2 = 0.8936693
  expected = 0.8936693
  assert float(losses.llv2_ranking_loss(PREDICTED, TARGET)) == pytest.approx(expected, abs=1e-6)
  assert float(losses.ranking_loss("llv2", PREDICTED, TARGET, margin=5.0)) == pytest.approx(
      expected, abs=1e-6)


@pytest.mark.parametrize("name", sorted(losses.RANKING_LOSSES))
def test_targets_are_detached(name):
  grad_target = jax.grad(lambda t: losses.ranking_loss(name, PREDICTED, t))(TARGET)
  np.testing.assert_array_equal(grad_target, np.zeros(4))
  grad_predicted = jax.grad(lambda p: losses.ranking_loss(name, p, TARGET))(PREDICTED)
  assert np.abs(grad_predicted).sum() > 0


def test_ranking_losses_jit():
  for name in losses.RANKING_LOSSES:
    eager = losses.ranking_loss(name, PREDICTED, TARGET)
    jitted = jax.jit(lambda p, t, n=name: losses.ranking_loss(n, p, t))(PREDICTED, TARGET)
    np.testing.assert_allclose(eager, jitted, rtol=1e-6)


def test_unknown_name_names_the_field_and_the_valid_names():
  with pytest.raises(ConfigError, match=r"ranker\.loss.*'nope'.*ll, llv2"):
    losses.ranking_loss("nope", PREDICTED, TARGET)


def test_odd_batch_is_refused():
  with pytest.raises(ValueError, match="even"):
    losses.ll_ranking_loss(jnp.zeros(3), jnp.zeros(3))
