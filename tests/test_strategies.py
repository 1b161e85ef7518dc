"""Each strategy on a hand-made case where the right picks are known."""

import types

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from configs import digits
from tavaal_jax import parallel
from tavaal_jax.data.base import ArraySource, Dataset
from tavaal_jax.learner import Preprocessing
from tavaal_jax.strategies import STRATEGIES, Selection, SelectionContext, check_selection
from tavaal_jax.strategies.base import ranked, top_k
from tavaal_jax.strategies.coreset import k_center_greedy, nearest_center_distances
from tavaal_jax.strategies.mc_dropout import uncertainty_scores


def _brightness_dataset(values):
  """One 2x2 gray image per value, so an image's mean pixel identifies it."""
  images = np.repeat(np.asarray(values, np.uint8)[:, None, None, None], 4, 0).reshape(-1, 2, 2, 1)
  source = ArraySource(images, np.zeros(len(values)))
  return Dataset("toy", source, source, 2, np.zeros(1), np.ones(1))


def _predict(state, images, extras, key):
  """A fake learner: predicted loss = brightness; embedding = (brightness, 0)."""
  b = images.astype(jnp.float32).mean((1, 2, 3))
  return {"predicted_loss": b, "embedding": jnp.stack([b, jnp.zeros_like(b)], 1),
          "logits": jnp.stack([b, -b], 1)}


def _predict_mc(state, images, extras, key):
  """Dark images (< 100) get confident logits; bright ones get logits that flip with the key."""
  b = images.astype(jnp.float32).mean((1, 2, 3))
  noise = jax.random.normal(key, b.shape) * 5.0
  confident = jnp.stack([jnp.full_like(b, 10.0), jnp.zeros_like(b)], 1)
  uncertain = jnp.stack([noise, -noise], 1)
  return {"logits": jnp.where((b < 100)[:, None], confident, uncertain)}


def _fake_learner(**fields):
  """A learner whose scoring functions are the fakes above (every output, any request)."""
  def scoring_fn(outputs=None, mc_dropout=False):
    del outputs
    return _predict_mc if mc_dropout else _predict
  return types.SimpleNamespace(scoring_fn=scoring_fn, predict_batch=_predict,
                               predict_batch_mc=_predict_mc, mesh=parallel.make_mesh(),
                               **fields)


def _context(values, candidates, labeled, budget, name="random", **strategy_fields):
  config = digits.get_config()
  config.strategy.name = name
  config.strategy.batch_size = 4
  for field, value in strategy_fields.items():
    config.strategy[field] = value
  learner = _fake_learner()
  return SelectionContext(
      config=config, dataset=_brightness_dataset(values), labeled_idx=np.asarray(labeled),
      candidate_idx=np.asarray(candidates), budget=budget, rng=np.random.default_rng(0),
      key=jax.random.key(0), learner=learner, learner_state=None)


def test_coreset_picks_the_farthest_points_in_order():
  centers = jnp.array([[0.0, 0.0]])
  candidates = jnp.array([[1.0, 0.0], [10.0, 0.0], [0.0, 4.0], [9.0, 1.0], [-6.0, 0.0]])
  # Farthest from the origin is (10, 0); then (-6, 0), 6 from the origin and 16 from (10, 0);
  # then (0, 4), whose nearest center is now 4 away.
  positions, squared = k_center_greedy(candidates, centers, 3)
  assert positions.tolist() == [1, 4, 2]
  np.testing.assert_allclose(squared, [100.0, 36.0, 16.0])


def test_nearest_center_distances_in_chunks_match_brute_force():
  rng = np.random.default_rng(0)
  points, centers = rng.normal(size=(37, 5)), rng.normal(size=(23, 5))
  brute = ((points[:, None] - centers[None]) ** 2).sum(-1).min(1)
  chunked = nearest_center_distances(jnp.asarray(points), jnp.asarray(centers), chunk=4)
  np.testing.assert_allclose(chunked, brute, rtol=1e-4, atol=1e-5)


def test_coreset_strategy_uses_embeddings_and_labeled_centers():
  # Brightness = the 1-D embedding. Labeled: 0 and 100. Candidates 10..250.
  values = [0, 100, 10, 50, 95, 160, 250, 200]
  context = _context(values, candidates=[2, 3, 4, 5, 6, 7], labeled=[0, 1], budget=2,
                     name="coreset")
  selection = STRATEGIES.get("coreset")(context)
  # Nearest-center distances: 10, 50, 5, 60, 150, 100 -> 250 first. Then 200 is 50 from
  # 250, and 160 (60 from 100) beats 50 (50 from both labeled) -> 160 second.
  assert selection.indices.tolist() == [6, 5]
  assert selection.score_name == "nearest_center_distance"
  np.testing.assert_allclose(selection.scores, [150.0, 60.0])


def test_lloss_picks_the_highest_predicted_losses():
  values = [5, 200, 30, 250, 7, 90, 180]
  context = _context(values, candidates=[1, 2, 3, 4, 5, 6], labeled=[0], budget=3,
                     name="lloss")
  selection = STRATEGIES.get("lloss")(context)
  assert selection.indices.tolist() == [3, 1, 6]   # highest predicted loss first
  assert selection.score_name == "predicted_loss"
  np.testing.assert_allclose(selection.scores, [250.0, 200.0, 180.0])


@pytest.mark.parametrize("score", ["entropy", "bald", "variation_ratio"])
def test_mc_dropout_prefers_uncertain_inputs(score):
  values = [10, 200, 20, 30, 220, 40, 210, 50, 60]   # bright = uncertain
  context = _context(values, candidates=list(range(1, 9)), labeled=[0], budget=3,
                     name="mc_dropout", mc_passes=8, mc_score=score)
  selection = STRATEGIES.get("mc_dropout")(context)
  assert sorted(selection.indices.tolist()) == [1, 4, 6]
  assert selection.score_name == score
  assert np.all(np.diff(selection.scores) <= 0)   # the most uncertain first


def test_uncertainty_scores_on_hand_made_probabilities():
  probs = jnp.array([[[1.0, 0.0], [0.5, 0.5]],
                     [[0.0, 1.0], [0.5, 0.5]]])   # [T=2, B=2, K=2]
  scores = uncertainty_scores(probs)
  # Sample 0: passes disagree completely: entropy log 2, each pass certain -> BALD log 2.
  # Sample 1: both passes 50/50: entropy log 2, BALD 0.
  np.testing.assert_allclose(scores["entropy"], [np.log(2), np.log(2)], rtol=1e-5)
  np.testing.assert_allclose(scores["bald"], [np.log(2), 0.0], atol=1e-5)
  np.testing.assert_allclose(scores["variation_ratio"], [0.5, 0.0])


def test_random_picks_budget_distinct_candidates():
  context = _context(list(range(20)), candidates=list(range(5, 20)), labeled=[0, 1],
                     budget=7)
  selection = check_selection(STRATEGIES.get("random")(context), context, "random")
  picks = selection.indices
  assert len(set(picks.tolist())) == 7 and set(picks) <= set(range(5, 20))
  assert np.isnan(selection.scores).all() and selection.scores_json() == [None] * 7


def test_top_k_is_deterministic_on_ties():
  assert top_k(np.array([1.0, 3.0, 3.0, 2.0]), 2).tolist() == [1, 2]


def test_check_selection_catches_broken_strategies():
  context = _context(list(range(10)), candidates=[3, 4, 5, 6], labeled=[0, 1], budget=2)
  with pytest.raises(RuntimeError, match="duplicate"):
    check_selection(Selection.of([3, 3]), context, "bad")
  with pytest.raises(RuntimeError, match="already-labeled"):
    check_selection(Selection.of([0, 3]), context, "bad")
  with pytest.raises(RuntimeError, match="shape"):
    check_selection(Selection.of([3]), context, "bad")
  with pytest.raises(RuntimeError, match="expected a strategies.Selection"):
    check_selection(np.array([3, 4]), context, "bad")


def test_ranked_orders_by_score_and_keeps_each_picks_score():
  scores = np.array([0.5, 0.1, 0.9, 0.1])
  high = ranked(np.array([10, 11, 12, 13]), scores, 3, "s")
  assert high.indices.tolist() == [12, 10, 11] and high.scores.tolist() == [0.9, 0.5, 0.1]
  low = ranked(np.array([10, 11, 12, 13]), scores, 3, "s", lowest_first=True)
  assert low.indices.tolist() == [11, 13, 10] and low.scores.tolist() == [0.1, 0.1, 0.5]


class _CountingSource(ArraySource):
  """An ArraySource that records the indices of every `get`."""

  def __init__(self, *args):
    super().__init__(*args)
    self.requests = []

  def get(self, indices):
    self.requests.append(np.asarray(indices, np.int64).copy())
    return super().get(indices)


@pytest.mark.parametrize("name", ["tavaal", "vaal"])
def test_adversarial_selection_reads_each_image_once(name):
  """S (and L) are read from the source once per selection: the ranker's scoring, the
  adversary's training and D's final scores of S all use the images read once."""
  rng = np.random.default_rng(0)
  images = rng.integers(0, 256, (40, 16, 16, 1)).astype(np.uint8)
  source = _CountingSource(images, np.zeros(40))
  dataset = Dataset("toy", source, source, 2, np.array([0.5]), np.array([0.25]))
  config = digits.get_config()
  config.strategy.name = name
  config.strategy.batch_size = 6     # not a divisor of the pools: padded batches
  config.vae.width, config.vae.latent_dim, config.vae.epochs = 4, 4, 1
  config.vae.batch_size = 8
  config.discriminator.hidden = (8,)
  learner = _fake_learner(preprocessing=Preprocessing((0.5,), (0.25,)))
  labeled, candidates = np.arange(0, 40, 4), np.setdiff1d(np.arange(40), np.arange(0, 40, 4))
  context = SelectionContext(
      config=config, dataset=dataset, labeled_idx=labeled, candidate_idx=candidates,
      budget=5, rng=np.random.default_rng(0), key=jax.random.key(0), learner=learner,
      learner_state=None)
  selection = check_selection(STRATEGIES.get(name)(context), context, name)
  assert len(selection.indices) == 5
  # D's probability "labeled", lowest (most unlabeled-looking) first.
  assert selection.score_name == "discriminator_probability"
  assert np.all(np.diff(selection.scores) >= 0)
  assert np.all((selection.scores >= 0) & (selection.scores <= 1))
  assert len(source.requests) == 2, [len(r) for r in source.requests]
  requested = np.sort(np.concatenate(source.requests))
  np.testing.assert_array_equal(requested, np.arange(40))  # every index exactly once
