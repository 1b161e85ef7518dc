"""The VAE's phase form (models/phase_conv.py) is the same map, with the same parameters and
gradients, as nn.Conv / nn.ConvTranspose k4 s2, and `vae.conv_form` picks between them."""

import flax.linen as nn
import jax
import jax.extend
import jax.numpy as jnp
import numpy as np
import pytest

from tavaal_jax.errors import ConfigError
from tavaal_jax.models.phase_conv import conv_k4s2, conv_transpose_k4s2_phases
from tavaal_jax.models.vae import VAE, resolve_conv_form

SHAPES = [((2, 2, 2, 3), 5), ((3, 4, 6, 8), 4), ((1, 6, 2, 2), 2)]


def _check_same_map_and_gradients(ours, reference, x, kernel):
  """ours(x, kernel) == reference(x, kernel), and so are d/dx and d/dkernel of a weighted sum."""
  expected = reference(x, kernel)
  np.testing.assert_allclose(ours(x, kernel), expected, rtol=1e-5, atol=1e-5)
  weights = jnp.asarray(np.random.default_rng(1).normal(size=expected.shape), jnp.float32)

  def grads(fn):
    return jax.grad(lambda x, k: jnp.sum(fn(x, k) * weights), argnums=(0, 1))(x, kernel)

  for got, want in zip(grads(ours), grads(reference)):
    assert got.shape == want.shape
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)
  return expected


@pytest.mark.parametrize("shape, cout", SHAPES)
def test_phases_equal_conv_transpose(shape, cout):
  rng = np.random.default_rng(0)
  x = jnp.asarray(rng.normal(size=shape), jnp.float32)
  kernel = jnp.asarray(rng.normal(size=(4, 4, shape[-1], cout)), jnp.float32)
  layer = nn.ConvTranspose(cout, (4, 4), strides=(2, 2), padding="SAME", use_bias=False)
  y = _check_same_map_and_gradients(
      conv_transpose_k4s2_phases, lambda x, k: layer.apply({"params": {"kernel": k}}, x),
      x, kernel)
  assert y.shape == (shape[0], 2 * shape[1], 2 * shape[2], cout)


@pytest.mark.parametrize("shape, cout", SHAPES)
def test_conv_k4s2_equals_strided_conv(shape, cout):
  rng = np.random.default_rng(0)
  shape = (shape[0], 2 * shape[1], 2 * shape[2], shape[3])
  x = jnp.asarray(rng.normal(size=shape), jnp.float32)
  kernel = jnp.asarray(rng.normal(size=(4, 4, shape[-1], cout)), jnp.float32)
  layer = nn.Conv(cout, (4, 4), strides=(2, 2), padding=((1, 1), (1, 1)), use_bias=False)
  y = _check_same_map_and_gradients(
      conv_k4s2, lambda x, k: layer.apply({"params": {"kernel": k}}, x), x, kernel)
  assert y.shape == (shape[0], shape[1] // 2, shape[2] // 2, cout)


def _init(model, x, r):
  return model.init({"params": jax.random.key(0), "sample": jax.random.key(0)}, x, r)


def test_vae_forms_share_parameters_outputs_and_gradients():
  x = jax.random.normal(jax.random.key(1), (4, 16, 16, 3))
  r = jnp.linspace(0.0, 1.0, 4)
  models = {form: VAE(latent_dim=8, width=8, conditioned=True, conv_form=form)
            for form in ("phases", "native")}
  variables = {form: _init(m, x, r) for form, m in models.items()}
  same = jax.tree.map(lambda a, b: bool(jnp.array_equal(a, b)),
                      variables["phases"], variables["native"])
  assert all(jax.tree.leaves(same))

  def loss(form, params):
    (recon, mu, logvar), stats = models[form].apply(
        {"params": params, "batch_stats": variables["phases"]["batch_stats"]}, x, r,
        train=True, mutable=["batch_stats"], rngs={"sample": jax.random.key(2)})
    return jnp.mean((recon - x) ** 2) + jnp.mean(mu ** 2 + logvar ** 2), (recon, stats)

  results = {form: jax.value_and_grad(lambda p, f=form: loss(f, p), has_aux=True)(
      variables["phases"]["params"]) for form in models}
  (value_p, (recon_p, stats_p)), grads_p = results["phases"]
  (value_n, (recon_n, stats_n)), grads_n = results["native"]
  np.testing.assert_allclose(recon_p, recon_n, rtol=1e-5, atol=1e-5)
  np.testing.assert_allclose(value_p, value_n, rtol=1e-5)
  for a, b in zip(jax.tree.leaves((stats_p, grads_p)), jax.tree.leaves((stats_n, grads_n))):
    np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-6)


def _lhs_dilations(fn, *args):
  """lhs_dilation of every convolution fn traces to (nested jaxprs included)."""
  def walk(jaxpr):
    for eqn in jaxpr.eqns:
      if eqn.primitive.name == "conv_general_dilated":
        yield tuple(eqn.params["lhs_dilation"])
      for sub in jax.extend.core.jaxprs_in_params(eqn.params):
        yield from walk(sub)
  return list(walk(jax.make_jaxpr(fn)(*args).jaxpr))


def test_phase_form_has_no_dilated_convolutions():
  """The point of the phase form: no zero-inserting (lhs-dilated) convolution remains in the
  forward pass or the gradient, where the native form has them."""
  x, r = jnp.ones((2, 16, 16, 3)), jnp.linspace(0.0, 1.0, 2)
  variables = _init(VAE(latent_dim=4, width=4, conditioned=True), x, r)

  def forward_and_gradient(form):
    model = VAE(latent_dim=4, width=4, conditioned=True, conv_form=form)

    def loss(params):
      out, _ = model.apply({"params": params, "batch_stats": variables["batch_stats"]}, x, r,
                           train=True, mutable=["batch_stats"],
                           rngs={"sample": jax.random.key(0)})
      return jnp.sum(out[0])
    return _lhs_dilations(jax.grad(loss), variables["params"])

  assert (2, 2) in forward_and_gradient("native")
  assert set(forward_and_gradient("phases")) == {(1, 1)}


def test_resolve_conv_form():
  assert resolve_conv_form("auto", backend="cpu") == "phases"
  assert resolve_conv_form("auto", backend="gpu") == "native"
  assert resolve_conv_form("auto", backend="tpu") == "native"
  assert resolve_conv_form("native", backend="cpu") == "native"
  with pytest.raises(ConfigError, match="vae.conv_form='bilinear'.*auto, phases, native"):
    resolve_conv_form("bilinear")
  with pytest.raises(ConfigError, match="vae.conv_form"):
    _init(VAE(latent_dim=4, width=4, conv_form="nearest"), jnp.zeros((1, 16, 16, 1)), None)
