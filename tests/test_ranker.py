"""The loss-prediction module: model wiring, the stop-gradient after epoch_l, joint training
with the task learner, evaluation and the scoring-pass batch functions (tiny shapes)."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from configs import digits
from tavaal_jax import parallel
from tavaal_jax.data import load_dataset
from tavaal_jax.errors import ConfigError
from tavaal_jax.learner import Learner
from tavaal_jax.losses import cross_entropy, ranking_loss
from tavaal_jax.models.ranker import Ranker
from tavaal_jax.models.task_model import TaskOutput, build_task_model
from tavaal_jax.strategies import STRATEGIES, uses_ranker
from tavaal_jax.scoring import score_pool
from tests.conftest import tiny


def _random_config():
  """Tiny digits with random selection: no ranker unless a test attaches one."""
  config = tiny(digits.get_config())
  config.strategy.name = "random"
  return config


def ranker_config(**train):
  config = _random_config()
  config.compat.ranker_for_all = True  # strategy stays 'random'
  for name, value in train.items():
    config.train[name] = value
  return config


@pytest.fixture(scope="module")
def dataset():
  return load_dataset(digits.get_config().dataset)


@pytest.fixture(scope="module")
def fitted(dataset):
  """A ranker learner trained 2 epochs with epoch_l = 1 (the second epoch is detached)."""
  config = ranker_config(epochs=2, epoch_l=1)
  learner = Learner(dataset, config, parallel.make_mesh())
  fit = learner.fit(np.arange(24), jax.random.key(0), np.random.default_rng(0))
  return learner, fit


def _init(model, shape=(4, 16, 16, 1)):
  x = jax.random.normal(jax.random.key(1), shape)
  init = jax.jit(model.init, static_argnames="train")
  variables = init({"params": jax.random.key(0), "dropout": jax.random.key(2)}, x, train=False)
  return variables, x


def test_ranker_shapes_and_any_spatial_size():
  features = [jnp.ones((3, s, s, c)) for s, c in ((9, 4), (5, 8), (3, 16), (1, 32))]
  ranker = Ranker(hidden=6)
  variables = ranker.init(jax.random.key(0), features)
  out = ranker.apply(variables, features)
  assert out.shape == (3,) and out.dtype == jnp.float32
  assert variables["params"]["out"]["kernel"].shape == (4 * 6, 1)
  bf16 = ranker.apply(variables, [f.astype(jnp.bfloat16) for f in features])
  assert bf16.dtype == jnp.float32


def test_uses_ranker():
  config = _random_config()
  assert [n for n in ("random", "mc_dropout", "coreset", "lloss", "vaal", "tavaal")
          if STRATEGIES.trait(n, "ranker")] == ["lloss", "tavaal"]
  assert not uses_ranker(config)
  for name in ("lloss", "tavaal"):
    config.strategy.name = name
    assert uses_ranker(config)
  config.strategy.name = "random"
  config.compat.ranker_for_all = True
  assert uses_ranker(config)


def test_no_ranker_no_ranker_params(dataset):
  config = _random_config()
  learner = Learner(dataset, config, parallel.make_mesh())
  assert not learner.has_ranker and learner.model.ranker is None
  state = learner.init(jax.random.key(0), num_labeled=8)
  assert set(state.params) == {"backbone"}
  images, _ = dataset.train.get(np.arange(4))
  out = learner.predict_batch(state, jnp.asarray(images), {}, jax.random.key(0))
  assert set(out) == {"logits", "embedding"}


def test_task_model_tree_and_output():
  config = ranker_config()
  model = build_task_model(config, num_classes=10, with_ranker=True)
  variables, x = _init(model)
  assert set(variables["params"]) == {"backbone", "ranker"}
  assert set(variables["batch_stats"]) == {"backbone"}
  apply = jax.jit(model.apply, static_argnames="train")
  out = apply(variables, x, train=False)
  assert isinstance(out, TaskOutput)
  assert out.logits.shape == (4, 10) and out.predicted_loss.shape == (4,)
  assert len(out.features) == 4 and out.embedding.shape[0] == 4
  # The grad scale leaves the forward value unchanged.
  scaled = apply(variables, x, train=False, ranker_grad_scale=jnp.float32(0.0))
  np.testing.assert_array_equal(scaled.predicted_loss, out.predicted_loss)


def test_bad_ranker_fields():
  config = ranker_config()
  config.ranker.hidden = 0
  with pytest.raises(ConfigError, match="ranker.hidden"):
    build_task_model(config, num_classes=10, with_ranker=True)


def test_stop_gradient_needs_no_recompilation_and_is_exact():
  config = ranker_config()
  model = build_task_model(config, num_classes=10, with_ranker=True)
  variables, x = _init(model)
  labels = jnp.array([0, 1, 2, 3])

  @jax.jit
  def ranking_grads(params, scale):
    def loss(params):
      out, _ = model.apply({"params": params, "batch_stats": variables["batch_stats"]}, x,
                           train=True, mutable=["batch_stats"], ranker_grad_scale=scale)
      target = jax.lax.stop_gradient(cross_entropy(out.logits, labels))
      return ranking_loss("llv2", out.predicted_loss, target)
    return jax.grad(loss)(params)

  def total(tree):
    return sum(float(jnp.abs(g).sum()) for g in jax.tree_util.tree_leaves(tree))

  on = ranking_grads(variables["params"], jnp.float32(1.0))
  off = ranking_grads(variables["params"], jnp.float32(0.0))
  assert ranking_grads._cache_size() == 1
  assert total(on["backbone"]) > 0
  assert total(off["backbone"]) == 0.0
  for leaf in jax.tree_util.tree_leaves(off["backbone"]):
    assert not np.any(np.asarray(leaf))
  assert total(off["ranker"]) > 0
  # The ranker's own gradient does not depend on the scale.
  jax.tree_util.tree_map(lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-7),
                         on["ranker"], off["ranker"])


def test_ranker_grad_scale_per_epoch(dataset):
  learner = Learner(dataset, ranker_config(epoch_l=2), parallel.make_mesh())
  assert [float(learner.ranker_grad_scale(e)) for e in range(4)] == [1.0, 1.0, 0.0, 0.0]


def test_train_step_after_epoch_l_leaves_the_backbone_to_the_ce(dataset):
  """With the scale at 0 the backbone moves exactly as with a zero-weight ranking term."""
  mesh = parallel.make_mesh()
  images, labels = dataset.train.get(np.arange(8))
  batch = parallel.shard_batch(mesh, {"image": images, "label": labels})
  weighted = Learner(dataset, ranker_config(), mesh)
  unweighted_config = ranker_config()
  unweighted_config.ranker.weight = 0.0
  unweighted = Learner(dataset, unweighted_config, mesh)

  def backbone_after_step(learner, scale):
    state = learner.init(jax.random.key(0), num_labeled=8)
    state, metrics = learner._train_step(state, batch, jax.random.key(1),
                                         np.float32(scale))
    assert np.isfinite(float(metrics["ranking_loss"]))
    return state.params["backbone"]

  reference = backbone_after_step(unweighted, 1.0)
  stopped = backbone_after_step(weighted, 0.0)
  jax.tree_util.tree_map(lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6),
                         reference, stopped)
  flowing = backbone_after_step(weighted, 1.0)
  differences = jax.tree_util.tree_map(lambda a, b: float(jnp.abs(a - b).max()),
                                       reference, flowing)
  assert max(jax.tree_util.tree_leaves(differences)) > 1e-6


def test_fit_records_ranking_loss_and_evaluate_gives_spearman(dataset, fitted):
  learner, fit = fitted
  assert learner.has_ranker and set(fit.state.params) == {"backbone", "ranker"}
  assert len(fit.epoch_ranking_loss) == 2 and len(fit.epoch_loss) == 2
  assert all(np.isfinite(fit.epoch_ranking_loss))
  # One compilation serves both scales (epoch 0: 1., epoch 1: 0.).
  assert learner._train_step._cache_size() == 1
  result = learner.evaluate(fit.state, dataset.test)
  assert result["count"] == len(dataset.test)
  assert np.isfinite(result["ranker_spearman"]) and -1.0 <= result["ranker_spearman"] <= 1.0


def test_no_ranker_fit_has_empty_ranking_curve(dataset):
  config = _random_config()
  learner = Learner(dataset, config, parallel.make_mesh())
  fit = learner.fit(np.arange(16), jax.random.key(0), np.random.default_rng(0))
  assert fit.epoch_ranking_loss == []
  assert "ranker_spearman" not in learner.evaluate(fit.state, dataset.test)


def test_odd_batch_size_with_ranker_is_refused(dataset):
  with pytest.raises(ConfigError, match="train.batch_size"):
    Learner(dataset, ranker_config(batch_size=7), parallel.make_mesh())
  config = _random_config()
  config.train.batch_size = 7
  Learner(dataset, config, parallel.make_mesh())  # fine without a ranker


def test_unknown_ranking_loss_is_refused_at_construction(dataset):
  config = ranker_config()
  config.ranker.loss = "hinge"
  with pytest.raises(ConfigError, match="ranker.loss"):
    Learner(dataset, config, parallel.make_mesh())


def test_predict_batch_through_score_pool_matches_eval_apply(dataset, fitted):
  learner, fit = fitted
  state = fit.state
  indices = np.arange(13)
  out = score_pool(learner.predict_batch, state, dataset.train, indices, batch_size=4,
                   mesh=learner.mesh, scan_steps=2)
  assert set(out) == {"logits", "embedding", "predicted_loss"}
  images, _ = dataset.train.get(indices)
  x = learner.preprocessing.eval_input(jnp.asarray(images))
  direct = learner.model.apply({"params": state.params, "batch_stats": state.batch_stats}, x,
                               train=False)
  np.testing.assert_allclose(out["predicted_loss"], direct.predicted_loss, rtol=1e-4, atol=1e-5)
  np.testing.assert_allclose(out["logits"], direct.logits, rtol=1e-4, atol=1e-5)
  assert out["predicted_loss"].dtype == np.float32 and out["embedding"].dtype == np.float32
  # MC mode: running statistics, so without dropout in the model it equals eval mode.
  mc = score_pool(learner.predict_batch_mc, state, dataset.train, indices, batch_size=4,
                  mesh=learner.mesh, scan_steps=2, key=jax.random.key(5))
  np.testing.assert_allclose(mc["predicted_loss"], direct.predicted_loss, rtol=1e-4, atol=1e-5)
