"""VAE / WAE, discriminator and their adversarial training (VAAL and TA-VAAL), tiny sizes."""

import functools
import types

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from configs import cifar10
from tavaal_jax import (adversary, adversary_config, adversary_inputs, adversary_losses,
                        adversary_models, adversary_scoring, adversary_steps, parallel)
from tavaal_jax.data.base import ArraySource, Dataset
from tavaal_jax.errors import ConfigError
from tavaal_jax.learner import Preprocessing
from tavaal_jax.models.discriminator import Discriminator
from tavaal_jax.models.vae import VAE
from tavaal_jax.optim import make_optimizer


def _config(epochs=1):
  config = cifar10.get_config()
  config.vae.width = 4
  config.vae.latent_dim = 4
  config.vae.batch_size = 8
  config.vae.epochs = epochs
  config.vae.optimizer.learning_rate = 1e-3
  config.discriminator.hidden = (16, 16)
  config.discriminator.optimizer.learning_rate = 5e-3
  config.strategy.batch_size = 8
  return config


def _toy_dataset(size=16, n_each=16, seed=0):
  """Labeled-to-be images are dark, unlabeled-to-be images bright: rows [0, n) / [n, 2n)."""
  rng = np.random.default_rng(seed)
  dark = rng.integers(0, 70, (n_each, size, size, 1))
  bright = rng.integers(185, 256, (n_each, size, size, 1))
  images = np.concatenate([dark, bright]).astype(np.uint8)
  source = ArraySource(images, np.zeros(len(images), np.int32))
  return Dataset("toy", source, source, 2, np.array([0.5]), np.array([0.25]))


@pytest.fixture(scope="module")
def mesh():
  return parallel.make_mesh()


# ----------------------------------------------------------------------------- models


@pytest.mark.parametrize("size", [16, 28])
@pytest.mark.parametrize("conditioned", [False, True])
def test_vae_shapes_and_padding(size, conditioned):
  vae = VAE(latent_dim=4, width=4, channels=1, conditioned=conditioned)
  x = jax.random.normal(jax.random.key(0), (3, size, size, 1))
  r = jnp.linspace(0, 1, 3) if conditioned else None
  variables = vae.init({"params": jax.random.key(1), "sample": jax.random.key(2)}, x, r)
  (recon, mu, logvar), updates = vae.apply(variables, x, r, train=True,
                                           mutable=["batch_stats"],
                                           rngs={"sample": jax.random.key(3)})
  assert recon.shape == (3, size, size, 1) and mu.shape == logvar.shape == (3, 4)
  assert "batch_stats" in updates
  # 28 is padded to 32 for the encoder (2x2x32 features) and the decoder starts at 4x4.
  padded = 16 if size == 16 else 32
  assert variables["params"]["encoder"]["mu"]["kernel"].shape == ((padded // 16) ** 2 * 32, 4)
  assert variables["params"]["decoder"]["fc"]["kernel"].shape == (
      4 + conditioned, (padded // 8) ** 2 * 32)
  # Eval mode: z = mu, deterministic, and `encode` gives the same mu.
  recon_a, mu_a, _ = vae.apply(variables, x, r, train=False)
  recon_b, _, _ = vae.apply(variables, x, r, train=False)
  np.testing.assert_array_equal(recon_a, recon_b)
  mu_e, _ = vae.apply(variables, x, train=False, method=VAE.encode)
  np.testing.assert_allclose(mu_e, mu_a, rtol=1e-6)


def test_discriminator_returns_logits():
  disc = Discriminator(hidden=(8, 8))
  mu = jnp.ones((5, 4))
  for r in (None, jnp.zeros(5)):
    variables = disc.init(jax.random.key(0), mu, r)
    logits = disc.apply(variables, mu, r)
    assert logits.shape == (5,) and logits.dtype == jnp.float32
  assert variables["params"]["Dense_0"]["kernel"].shape == (5, 8)


# ----------------------------------------------------------------------------- losses


def test_kl_reductions_by_hand():
  mu = np.array([[0.5, -1.0], [0.0, 2.0]], np.float32)
  logvar = np.array([[0.0, np.log(2.0)], [-1.0, 0.0]], np.float32)
  elements = -0.5 * (1 + logvar - mu ** 2 - np.exp(logvar))
  # By hand, element [0, 1]: -0.5 * (1 + ln 2 - 1 - 2) = 0.5 * (2 - ln 2)
  assert elements[0, 1] == pytest.approx(0.5 * (2 - np.log(2.0)))
  kl = functools.partial(adversary_losses.kl_divergence, mu, logvar)
  assert float(kl("mean")) == pytest.approx(elements.sum() / 4, rel=1e-6)
  assert float(kl("sum")) == pytest.approx(elements.sum(), rel=1e-6)          # VAAL
  assert float(kl("batchmean")) == pytest.approx(elements.sum() / 2, rel=1e-6)
  x = np.zeros((2, 16, 16, 1), np.float32)
  loss = adversary_losses.vae_loss(x + 1.0, x, mu, logvar, "vae", 2.0, "mean")
  assert float(loss) == pytest.approx(1.0 + 2.0 * elements.mean(), rel=1e-6)
  with pytest.raises(ConfigError, match="vae.kl_reduction"):
    kl("median")
  with pytest.raises(ConfigError, match="vae.kind"):
    adversary_losses.vae_loss(x, x, mu, logvar, "gan", 1.0, "mean")


def test_wae_mmd():
  keys = jax.random.split(jax.random.key(0), 3)
  a = jax.random.normal(keys[0], (256, 4))
  b = jax.random.normal(keys[1], (256, 4))
  same = float(adversary_losses.mmd_imq(a, b))
  shifted = float(adversary_losses.mmd_imq(a + 3.0, b))
  assert abs(same) < 0.01 and shifted > 0.3
  x = jnp.zeros((4, 16, 16, 1))
  loss = adversary_losses.vae_loss(x, x, a[:4] + 3.0, jnp.zeros((4, 4)), "wae", 1.0, "mean",
                                   key=keys[2])
  assert float(loss) > 0.1
  assert float(adversary_losses.bce_with_logits(jnp.array([0.0, 0.0]), 1.0)) == pytest.approx(
      np.log(2.0))


def test_rank_normalisation():
  normalize = adversary_inputs.normalize_ranker_output
  out = normalize(np.array([3.0, 1.0, 3.0, 2.0]), "rank")
  np.testing.assert_allclose(out, [2.5 / 3, 0.0, 2.5 / 3, 1.0 / 3], rtol=1e-6)
  np.testing.assert_allclose(normalize(np.array([7.0]), "rank"), [0.5])
  np.testing.assert_allclose(normalize(np.array([0.0, 2.0]), "sigmoid"),
                             [0.5, 1 / (1 + np.exp(-2.0))], rtol=1e-6)
  # Against a reference: values from it keep their joint rank; new ones fall between.
  reference = np.array([1.0, 2.0, 3.0, 3.0, 5.0])
  np.testing.assert_allclose(
      adversary_inputs.normalize_against(np.array([3.0, 1.0, 4.0, 9.0, -1.0]), reference,
                                         "rank"),
      [2.5 / 4, 0.0, 3.5 / 4, 1.0, 0.0], rtol=1e-6)
  with pytest.raises(ConfigError, match="vae.ranker_input"):
    normalize(np.ones(3), "softmax")


# ----------------------------------------------------------------------------- steps


def _tree_equal(a, b):
  return all(jax.tree.leaves(jax.tree.map(lambda x, y: bool(np.array_equal(x, y)), a, b)))


def test_steps_change_only_their_own_model(mesh):
  config = _config()
  vae, disc = adversary_models.build_models(config, channels=1, conditioned=True)
  setup = adversary_steps.StepSetup.from_config(config, vae, disc, Preprocessing((0.5,), (0.25,)))
  tx = make_optimizer(config.vae.optimizer, 1, 1)
  state = adversary_models.create_state(setup, tx, tx, jax.random.key(0), (16, 16, 1), mesh)
  rng = np.random.default_rng(0)
  x_l = rng.integers(0, 256, (8, 16, 16, 1), np.uint8)
  x_u = rng.integers(0, 256, (8, 16, 16, 1), np.uint8)
  r_l = (np.linspace(0, 1, 8, dtype=np.float32),) * 2
  r_u = (np.linspace(1, 0, 8, dtype=np.float32),) * 2
  host = jax.device_get(state)

  new, metrics = jax.jit(functools.partial(adversary_steps.vae_step, setup=setup))(
      state, x_l, r_l, x_u, r_u, jax.random.key(1))
  assert all(np.isfinite(float(v)) for v in metrics.values())
  assert not _tree_equal(new.vae.params, host.vae.params)
  assert not _tree_equal(new.vae.batch_stats, host.vae.batch_stats)
  assert _tree_equal(new.disc.params, host.disc.params)

  newer, metrics = jax.jit(functools.partial(adversary_steps.disc_step, setup=setup))(
      new, x_l, r_l, x_u, r_u, jax.random.key(2))
  assert np.isfinite(float(metrics["disc_loss"]))
  assert not _tree_equal(newer.disc.params, new.disc.params)
  assert _tree_equal(newer.vae.params, new.vae.params)
  assert _tree_equal(newer.vae.batch_stats, new.vae.batch_stats)   # eval mode: no update


# ----------------------------------------------------------------------------- training


@pytest.fixture(scope="module")
def tavaal_run(mesh):
  config = _config(epochs=12)
  dataset = _toy_dataset(size=16)
  predicted = np.random.default_rng(1).normal(size=32)
  result = adversary.train_adversary(
      config, dataset, None, np.arange(16), np.arange(16, 32), predicted[:16], predicted[16:],
      jax.random.key(0), np.random.default_rng(0), mesh)
  return config, dataset, predicted, result


def test_tavaal_discriminator_separates_toy_pools(tavaal_run, mesh):
  config, dataset, predicted, result = tavaal_run
  history = result.history
  assert history["iterations"] == 48 and len(history["vae_loss"]) == 12
  assert np.isfinite(history["vae_loss"]).all() and np.isfinite(history["disc_loss"]).all()
  assert history["disc_labeled_mean"] > history["disc_unlabeled_mean"] + 0.05
  scores = adversary_scoring.discriminator_scores(result, dataset, None, np.arange(32), predicted,
                                                  config, mesh)
  assert scores.shape == (32,) and ((scores > 0) & (scores < 1)).all()
  assert scores[:16].mean() > scores[16:].mean() + 0.05
  assert scores[:16].mean() == pytest.approx(history["disc_labeled_mean"], abs=1e-5)
  # Scoring the candidates alone normalises r against the training pool, as in training.
  alone = adversary_scoring.discriminator_scores(result, dataset, None, np.arange(16, 32),
                                                  predicted[16:], config, mesh)
  np.testing.assert_allclose(alone, scores[16:], rtol=1e-5, atol=1e-6)
  # The scores kept from training are those scores, and the diagnostics are their means.
  np.testing.assert_array_equal(result.unlabeled_scores, alone)
  assert history["disc_unlabeled_mean"] == float(result.unlabeled_scores.mean())
  assert history["disc_labeled_mean"] == float(result.labeled_scores.mean())


def test_discriminator_scores_match_direct_eval_apply(tavaal_run, mesh):
  config, dataset, predicted, result = tavaal_run
  indices = np.array([3, 20, 7, 31, 16])
  scores = adversary_scoring.discriminator_scores(result, dataset, None, indices,
                                                  predicted[indices], config, mesh)
  r = adversary_inputs.normalize_ranker_output(predicted, "rank")
  images, _ = dataset.train.get(indices)
  state = result.state
  for i, (index, image) in enumerate(zip(indices, images)):
    x = result.preprocessing.eval_input(jnp.asarray(image[None]))
    mu, _ = result.vae.apply({"params": state.vae.params, "batch_stats": state.vae.batch_stats},
                             x, train=False, method=VAE.encode)
    logit = result.discriminator.apply({"params": state.disc.params}, mu, r[index:index + 1])
    assert scores[i] == pytest.approx(float(jax.nn.sigmoid(logit[0])), rel=1e-4, abs=1e-6)


def test_vaal_mode_on_28x28(mesh):
  config = _config(epochs=12)
  dataset = _toy_dataset(size=28, n_each=12)
  result = adversary.train_adversary(config, dataset, None, np.arange(12), np.arange(12, 24),
                                     None, None, jax.random.key(0), np.random.default_rng(0),
                                     mesh)
  assert result.ranker is None and not result.vae.conditioned
  scores = adversary_scoring.discriminator_scores(result, dataset, None, np.arange(24), None,
                                                  config, mesh)
  assert scores.shape == (24,)
  assert scores[:12].mean() > scores[12:].mean() + 0.1
  with pytest.raises(ValueError, match="predicted losses"):
    adversary_scoring.discriminator_scores(result, dataset, None, np.arange(3), np.zeros(3),
                                           config, mesh)


def test_wae_with_raw_ranker_to_discriminator(mesh):
  config = _config(epochs=1)
  config.vae.kind = "wae"
  config.vae.ranker_input = "sigmoid"
  config.vae.steps_per_iteration = 2
  config.compat.raw_ranker_to_discriminator = True
  dataset = _toy_dataset(size=16, n_each=8)
  predicted = np.linspace(-2, 2, 16)
  result = adversary.train_adversary(config, dataset, None, np.arange(8), np.arange(8, 16),
                                     predicted[:8], predicted[8:], jax.random.key(0),
                                     np.random.default_rng(0), mesh)
  assert not result.vae.stochastic
  r_decoder, r_disc = adversary_inputs.normalized_inputs(predicted, result.ranker)
  np.testing.assert_allclose(r_decoder, 1 / (1 + np.exp(-predicted)), rtol=1e-6)
  np.testing.assert_allclose(r_disc, predicted, rtol=1e-6)
  assert np.isfinite(result.history["vae_loss"]).all()


# ----------------------------------------------------------------------------- errors


@pytest.mark.parametrize("field, value, match", [
    ("kind", "gan", "vae.kind"),
    ("latent_dim", 0, "vae.latent_dim"),
    ("batch_size", 7, "vae.batch_size"),
    ("ranker_input", "softmax", "vae.ranker_input"),
    ("kl_reduction", "median", "vae.kl_reduction"),
    ("steps_per_iteration", 0, "vae.steps_per_iteration"),
    ("conv_form", "bilinear", "vae.conv_form"),
])
def test_config_errors_before_training(field, value, match, mesh):
  config = _config()
  config.vae[field] = value
  dataset = _toy_dataset(size=16, n_each=8)
  with pytest.raises(ConfigError, match=match):
    adversary.train_adversary(config, dataset, None, np.arange(8), np.arange(8, 16), None,
                              None, jax.random.key(0), np.random.default_rng(0), mesh)


def test_other_errors(mesh):
  config = _config()
  small = _toy_dataset(size=8, n_each=8)
  with pytest.raises(ConfigError, match="dataset.image_size"):
    adversary.train_adversary(config, small, None, np.arange(8), np.arange(8, 16), None, None,
                              jax.random.key(0), np.random.default_rng(0), mesh)
  with pytest.raises(ConfigError, match="dataset.image_size"):
    VAE(latent_dim=4, width=4, channels=1).init(
        {"params": jax.random.key(0)}, jnp.zeros((1, 12, 12, 1)))
  three_devices = types.SimpleNamespace(devices=np.zeros(3))
  with pytest.raises(ConfigError, match="vae.batch_size"):
    adversary_config.check_config(config, (16, 16, 1), three_devices)
  # The scoring batch (strategy.batch_size=8) is rounded where it is used, never an error.
  config.vae.batch_size = 6
  adversary_config.check_config(config, (16, 16, 1), three_devices)
  config.discriminator.hidden = (16, 0)
  with pytest.raises(ConfigError, match="discriminator.hidden"):
    adversary_config.check_config(config)
  config = _config()
  config.discriminator.optimizer.name = "no_such_optimizer"
  with pytest.raises(ConfigError, match="discriminator.optimizer"):
    adversary_config.check_config(config)
  with pytest.raises(ValueError, match="both"):
    adversary.train_adversary(_config(), _toy_dataset(16, 8), None, np.arange(8),
                              np.arange(8, 16), np.zeros(8), None, jax.random.key(0),
                              np.random.default_rng(0), mesh)


def test_adversary_steps_compile_once_across_stages(mesh):
  config = _config()
  dataset = _toy_dataset()
  setups = set()
  for n_labeled in (6, 10):   # the labeled pool grows from stage to stage
    labeled, unlabeled = np.arange(n_labeled), np.arange(16, 32)
    result = adversary.train_adversary(
        config, dataset, None, labeled, unlabeled, np.arange(n_labeled, dtype=np.float32),
        np.arange(16, dtype=np.float32), jax.random.key(n_labeled),
        np.random.default_rng(n_labeled), mesh)
    setups.add(adversary_steps.StepSetup.from_config(config, result.vae, result.discriminator,
                                               result.preprocessing))
  assert len(setups) == 1
  vae_fn, disc_fn = adversary_steps.compiled_steps(setups.pop())
  assert vae_fn._cache_size() == 1 and disc_fn._cache_size() == 1
