"""Tests of the DRN-D-22 segmentation network: shapes, output stride 8, the reference's
parameter count, its dilations, and the train / eval / MC-dropout modes."""

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import pytest

from tavaal_jax.models import MODELS, build_model
from tavaal_jax.models.drn import DRN_D_22_CHANNELS, DRN_D_22_LAYERS

NUM_CLASSES = 5


def reference_parameter_count(channels, layers, in_channels, num_classes):
  """Trainable parameters of fyu/drn's DRNSeg('drn_d_22') without its fixed upsampling
  conv: DRN(arch='D') minus avgpool/fc, plus the 1x1 `seg` conv, walked as its
  `_make_conv_layers` / `_make_layer` build them (BatchNorm: weight + bias)."""
  def bn(c):
    return 2 * c
  total = in_channels * channels[0] * 7 * 7 + bn(channels[0])  # layer0
  inplanes = channels[0]
  for level, (c, n) in enumerate(zip(channels, layers), start=1):
    if level in (1, 2, 7, 8):  # _make_conv_layers
      for _ in range(n):
        total += inplanes * c * 9 + bn(c)
        inplanes = c
    else:  # _make_layer(BasicBlock): a downsample when the stride or the width changes
      stride = 2 if level in (3, 4) else 1
      if stride != 1 or inplanes != c:
        total += inplanes * c + bn(c)
      for _ in range(n):
        total += inplanes * c * 9 + bn(c) + c * c * 9 + bn(c)
        inplanes = c
  return total + channels[-1] * num_classes + num_classes


def _model(width=4, dropout_rate=0.0):
  return build_model(ml_collections.ConfigDict(
      {"name": "drn_d_22", "width": width, "dtype": "float32",
       "dropout_rate": dropout_rate}), NUM_CLASSES)


@pytest.fixture(scope="module")
def tiny():
  model = _model(dropout_rate=0.5)
  x = jax.random.normal(jax.random.key(1), (2, 32, 32, 3))
  # Jitted: one compilation costs less than dispatching the init op by op.
  variables = jax.jit(lambda x: model.init({"params": jax.random.key(0)}, x, train=False))(x)
  return model, variables, x


def test_shapes_and_output_stride(tiny):
  model, variables, x = tiny
  out = model.apply(variables, x, train=False)
  assert out.logits.shape == (2, 32, 32, NUM_CLASSES) and out.logits.dtype == jnp.float32
  assert out.embedding.shape == (2, 128) and out.embedding.dtype == jnp.float32  # 512 * 4/16
  # Levels 3-6: stride 4, then stride 8 (levels 5-6 dilate instead of striding).
  assert [f.shape for f in out.features] == [(2, 8, 8, 16), (2, 4, 4, 32), (2, 4, 4, 64),
                                             (2, 4, 4, 128)]
  # Any H, W (not only squares): the logits come back at the input size.
  wide = jnp.zeros((1, 24, 40, 3))
  out = model.apply(variables, wide, train=False)
  assert out.logits.shape == (1, 24, 40, NUM_CLASSES)
  assert out.features[-1].shape == (1, 3, 5, 128)


def test_parameter_count_matches_the_reference_at_width_16():
  model = MODELS.get("drn_d_22")(num_classes=19, width=16)
  shapes = jax.eval_shape(lambda: model.init({"params": jax.random.key(0)},
                                             jnp.zeros((1, 64, 64, 3)), train=False))
  count = sum(int(np.prod(p.shape)) for p in jax.tree.leaves(shapes["params"]))
  expected = reference_parameter_count(DRN_D_22_CHANNELS, DRN_D_22_LAYERS, 3, 19)
  assert expected == 15_890_499  # with the 1000-class classifier instead: 16,393,752 (16.4M)
  assert count == expected


def test_levels_5_to_7_are_dilated(tiny):
  model, variables, x = tiny
  jaxpr = jax.make_jaxpr(lambda v, x: model.apply(v, x, train=False))(variables, x)
  dilations = [tuple(e.params["rhs_dilation"]) for e in jaxpr.jaxpr.eqns
               if e.primitive.name == "conv_general_dilated"]
  assert dilations.count((2, 2)) == 4 + 1      # level 5's four 3x3 convs, level 7's conv
  assert dilations.count((4, 4)) == 4          # level 6's four 3x3 convs
  # The stem, levels 1-2, levels 3-6 (four 3x3 convs and a 1x1 shortcut each: every one
  # strides or widens), levels 7-8, the 1x1 classifier.
  assert len(dilations) == 1 + 2 + 4 * (4 + 1) + 2 + 1


def test_train_eval_and_mc_dropout_modes(tiny):
  model, variables, x = tiny
  eval_a = model.apply(variables, x, train=False)
  eval_b = model.apply(variables, x, train=False)
  np.testing.assert_array_equal(eval_a.logits, eval_b.logits)

  out, state = model.apply(variables, x, train=True, mutable=["batch_stats"],
                           rngs={"dropout": jax.random.key(3)})
  assert out.logits.shape == eval_a.logits.shape
  before = jax.tree.leaves(variables["batch_stats"])
  after = jax.tree.leaves(state["batch_stats"])
  assert any(not np.allclose(a, b) for a, b in zip(before, after))

  mc_a = model.apply(variables, x, train=False, mc_dropout=True, rngs={"dropout": jax.random.key(4)})
  mc_b = model.apply(variables, x, train=False, mc_dropout=True, rngs={"dropout": jax.random.key(5)})
  assert not np.allclose(mc_a.logits, mc_b.logits)
  assert not np.allclose(mc_a.logits, eval_a.logits)
  # Dropout acts after the pool: the embedding does not change with the dropout draw.
  np.testing.assert_allclose(mc_a.embedding, eval_a.embedding, rtol=1e-6)

  plain = _model(dropout_rate=0.0)
  mc = plain.apply(variables, x, train=False, mc_dropout=True, rngs={"dropout": jax.random.key(4)})
  np.testing.assert_allclose(mc.logits, eval_a.logits, rtol=1e-6, atol=1e-6)
