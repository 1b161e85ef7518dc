"""Backbone tests on tiny shapes (width 4, a few images): the call contract other code uses."""

import functools

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import pytest

from tavaal_jax.errors import ConfigError
from tavaal_jax.models import MODELS, BackboneOutput, build_model

NAMES = ("resnet18", "resnet18_imagenet", "vgg16")
NUM_CLASSES = 5
# Stage channel counts at width 4.
CHANNELS = {"resnet18": (4, 8, 16, 32), "resnet18_imagenet": (4, 8, 16, 32),
            "vgg16": (8, 16, 32, 32)}


@pytest.fixture(autouse=True, scope="module")
def fast_compile():
  # XLA compile time dominates these tiny models; restore the flag for other test modules.
  previous = jax.config.read("jax_disable_most_optimizations")
  jax.config.update("jax_disable_most_optimizations", True)
  yield
  jax.config.update("jax_disable_most_optimizations", previous)


def make_config(name, **overrides):
  fields = dict(name=name, width=4, dtype="float32", dropout_rate=0.0)
  fields.update(overrides)
  return ml_collections.ConfigDict(fields)


def make_images(shape, seed=0):
  return jax.random.normal(jax.random.key(seed), shape, jnp.float32)


def init(model, x):
  return model.init({"params": jax.random.key(0), "dropout": jax.random.key(1)}, x, train=False)


def ceil_half(n):
  return -(-n // 2)


def expected_spatial(name, size):
  """Spatial size of the four stage outputs for a size x size input."""
  if name == "vgg16":
    # Features follow blocks 2..5; a pool is skipped once the map is 1x1.
    return [max(size // 2**k, 1) for k in (2, 3, 4, 5)]
  s = size if name == "resnet18" else ceil_half(ceil_half(size))
  sizes = []
  for _ in range(4):
    sizes.append(s)
    s = ceil_half(s)
  return sizes


def test_registered_names():
  assert set(NAMES) <= set(MODELS.names())


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("shape", [(2, 8, 8, 3), (3, 16, 16, 1), (2, 28, 28, 1), (2, 32, 32, 3)])
def test_output_contract(name, shape):
  model = build_model(make_config(name), NUM_CLASSES)
  x = make_images(shape)
  out = model.apply(init(model, x), x, train=False)

  assert isinstance(out, BackboneOutput)
  batch, size = shape[0], shape[1]
  assert out.logits.shape == (batch, NUM_CLASSES)
  assert out.embedding.shape == (batch, CHANNELS[name][-1])
  assert out.logits.dtype == out.embedding.dtype == jnp.float32
  assert len(out.features) == 4
  assert [f.shape[-1] for f in out.features] == list(CHANNELS[name])
  assert [f.shape[1] for f in out.features] == expected_spatial(name, size)
  assert all(f.shape[0] == batch and f.shape[1] == f.shape[2] for f in out.features)
  assert np.all(np.isfinite(out.logits))


@pytest.mark.parametrize("name", NAMES)
def test_train_updates_batch_stats_and_eval_does_not(name):
  model = build_model(make_config(name), NUM_CLASSES)
  x = make_images((4, 16, 16, 3))
  variables = init(model, x)

  # How the trainer calls it: `train` bound statically, then jit.
  train_apply = jax.jit(functools.partial(model.apply, train=True, mutable=["batch_stats"]))
  train_out, state = train_apply(variables, x)
  changed = jax.tree.map(lambda a, b: bool(np.any(a != b)),
                         variables["batch_stats"], state["batch_stats"])
  assert all(jax.tree.leaves(changed))

  eval_out, eval_state = model.apply(variables, x, train=False, mutable=["batch_stats"])
  jax.tree.map(np.testing.assert_array_equal, variables["batch_stats"], eval_state["batch_stats"])
  # Eval normalises with the running statistics, so it differs from the batch-statistics pass.
  assert not np.allclose(train_out.logits, eval_out.logits)


@pytest.mark.parametrize("name", NAMES)
def test_bfloat16_activations_float32_params(name):
  x = make_images((2, 16, 16, 3))
  model_f32 = build_model(make_config(name), NUM_CLASSES)
  model_bf16 = build_model(make_config(name, dtype="bfloat16"), NUM_CLASSES)
  variables = init(model_bf16, x)
  assert all(a.dtype == jnp.float32 for a in jax.tree.leaves(variables))

  out, state = model_bf16.apply(variables, x, train=True, mutable=["batch_stats"])
  assert all(f.dtype == jnp.bfloat16 for f in out.features)
  assert out.logits.dtype == out.embedding.dtype == jnp.float32
  assert all(a.dtype == jnp.float32 for a in jax.tree.leaves(state))
  # Same function as float32 up to bf16 rounding. Compared in eval mode: batch statistics
  # over 2 images of a 1x1 map are too ill-conditioned for a tolerance.
  out = model_bf16.apply(variables, x, train=False)
  ref = model_f32.apply(variables, x, train=False)
  np.testing.assert_allclose(out.logits, ref.logits, rtol=0.05, atol=0.05)


def test_dropout_only_when_asked():
  model = build_model(make_config("resnet18", dropout_rate=0.5), NUM_CLASSES)
  x = make_images((4, 8, 8, 3))
  variables = init(model, x)
  key1, key2 = jax.random.key(1), jax.random.key(2)

  # Eval needs no dropout key and is deterministic.
  eval_out = model.apply(variables, x, train=False)
  np.testing.assert_array_equal(eval_out.logits, model.apply(variables, x, train=False).logits)

  def mc(key):
    return model.apply(variables, x, train=False, mc_dropout=True, rngs={"dropout": key})

  assert not np.allclose(mc(key1).logits, mc(key2).logits)
  np.testing.assert_array_equal(mc(key1).logits, mc(key1).logits)
  # Dropout sits after the embedding, so core-set sees the same embedding in every mode.
  np.testing.assert_array_equal(mc(key1).embedding, eval_out.embedding)

  def train(key):
    return model.apply(variables, x, train=True, mutable=["batch_stats"],
                       rngs={"dropout": key})[0]

  assert not np.allclose(train(key1).logits, train(key2).logits)


def test_no_dropout_by_default():
  model = build_model(make_config("vgg16"), NUM_CLASSES)
  x = make_images((2, 8, 8, 3))
  variables = init(model, x)
  eval_out = model.apply(variables, x, train=False)
  # No dropout layer, so MC-dropout and training need no dropout key.
  mc_out = model.apply(variables, x, train=False, mc_dropout=True)
  np.testing.assert_array_equal(eval_out.logits, mc_out.logits)
  model.apply(variables, x, train=True, mutable=["batch_stats"])


def test_imagenet_stem_downsamples_4x():
  x = make_images((2, 32, 32, 3))
  cifar = build_model(make_config("resnet18"), NUM_CLASSES)
  imagenet = build_model(make_config("resnet18_imagenet"), NUM_CLASSES)
  assert cifar.apply(init(cifar, x), x, train=False).features[0].shape[1:3] == (32, 32)
  assert imagenet.apply(init(imagenet, x), x, train=False).features[0].shape[1:3] == (8, 8)


def test_imagenet_stem_224():
  model = build_model(make_config("resnet18_imagenet", width=2), 101)
  x = make_images((1, 224, 224, 3))
  out = model.apply(init(model, x), x, train=False)
  assert out.logits.shape == (1, 101)
  assert [f.shape[1:] for f in out.features] == [(56, 56, 2), (28, 28, 4), (14, 14, 8),
                                                  (7, 7, 16)]


def test_conv_init_is_he_fan_out():
  model = build_model(make_config("resnet18"), NUM_CLASSES)
  params = init(model, make_images((1, 8, 8, 3)))["params"]
  kernel = params["stage4_block2"]["Conv_0"]["kernel"]
  assert kernel.shape == (3, 3, 32, 32)
  np.testing.assert_allclose(np.std(kernel), np.sqrt(2.0 / (9 * 32)), rtol=0.05)


def test_unknown_name_lists_valid_names():
  with pytest.raises(ConfigError, match="model.name") as info:
    build_model(make_config("resnet1000"), NUM_CLASSES)
  for name in NAMES:
    assert name in str(info.value)


@pytest.mark.parametrize("overrides", [dict(dtype="float16"), dict(width=0),
                                       dict(dropout_rate=1.0)])
def test_invalid_fields_raise_config_error(overrides):
  with pytest.raises(ConfigError):
    build_model(make_config("resnet18", **overrides), NUM_CLASSES)


def test_optional_fields_default():
  config = ml_collections.ConfigDict(dict(name="resnet18", width=4, dtype="float32"))
  model = build_model(config, NUM_CLASSES)
  assert model.dropout_rate == 0.0
