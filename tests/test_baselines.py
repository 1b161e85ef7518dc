"""The baselines of issue 18 on hand-made cases where the right picks are known: entropy,
margin, least confidence, BADGE, UncertainGCN, CoreGCN, and core-set's exact greedy."""

import types

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from configs import digits
from tavaal_jax import experiment, parallel
from tavaal_jax.data.base import ArraySource, Dataset
from tavaal_jax.errors import ConfigError
from tavaal_jax.models import MODELS
from tavaal_jax.models.gcn import GCN, SimilarityGraph
from tavaal_jax.strategies import STRATEGIES, SelectionContext, check_selection
from tavaal_jax.strategies.badge import GradientEmbeddings, kmeans_plus_plus_seeds
from tavaal_jax.strategies.coreset import (double_float_squared_distances, k_center_greedy,
                                           nearest_center_distances)
from tavaal_jax.strategies.gcn import fit_gcn
from tavaal_jax.strategies.uncertainty import prediction_uncertainty
from tests.test_bad_input import _main

# Hand-set softmax outputs of six candidates (K = 3) and, worked out by hand, each score's
# pick order: entropy -sum p ln p, margin p1 - p2 (smallest first), 1 - max p.
PROBS = np.array([[0.98, 0.01, 0.01],     # 0: confident
                  [0.40, 0.35, 0.25],     # 1: entropy 1.0805, margin 0.05, lc 0.60
                  [0.52, 0.48, 0.00],     # 2: entropy 0.6923, margin 0.04, lc 0.48
                  [0.34, 0.33, 0.33],     # 3: entropy 1.0984, margin 0.01, lc 0.66
                  [0.60, 0.30, 0.10],     # 4: entropy 0.8979, margin 0.30, lc 0.40
                  [0.46, 0.10, 0.44]])    # 5: entropy 0.9487, margin 0.02, lc 0.54
EXPECTED_ORDER = {"entropy": [3, 1, 5, 4, 2, 0], "margin": [3, 5, 2, 1, 4, 0],
                  "least_confidence": [3, 1, 5, 2, 4, 0]}


def test_uncertainty_scores_of_hand_set_probabilities():
  scores = prediction_uncertainty(jnp.asarray(PROBS, jnp.float32))
  p = PROBS
  with np.errstate(divide="ignore", invalid="ignore"):
    entropy = -np.nansum(np.where(p > 0, p * np.log(p), 0.0), 1)
  np.testing.assert_allclose(scores["entropy"], entropy, rtol=1e-5)
  np.testing.assert_allclose(scores["margin"], [0.97, 0.05, 0.04, 0.01, 0.30, 0.02], atol=1e-6)
  np.testing.assert_allclose(scores["least_confidence"], 1.0 - p.max(1), atol=1e-6)


def test_uncertainty_scores_average_a_per_pixel_output():
  pixels = jnp.asarray(np.stack([PROBS[[0, 3]], PROBS[[1, 2]]]), jnp.float32)  # [2, 2, 3]
  per_pixel = prediction_uncertainty(pixels.reshape(4, 3))
  per_image = prediction_uncertainty(pixels[:, :, None, :])                # [B, H, W, K]
  for name in EXPECTED_ORDER:
    np.testing.assert_allclose(per_image[name], per_pixel[name].reshape(2, 2).mean(1),
                               rtol=1e-6)


def _table_learner(probs):
  """A fake learner whose logits for the 2x2 image of value v are log(probs[v]) and its
  embedding probs[v]."""
  table = jnp.log(jnp.asarray(probs, jnp.float32))

  def predict(state, images, extras, key):
    value = images[:, 0, 0, 0].astype(jnp.int32)
    return {"logits": table[value], "embedding": jnp.exp(table[value])}
  return types.SimpleNamespace(scoring_fn=lambda outputs=None, mc_dropout=False: predict,
                               mesh=parallel.make_mesh())


def _context(learner, num_images, candidates, labeled, budget, name, **fields):
  config = digits.get_config()
  config.strategy.name = name
  config.strategy.batch_size = 4   # not a divisor of the pools: padded batches
  for field, value in fields.items():
    config.strategy[field] = value
  images = np.repeat(np.arange(num_images, dtype=np.uint8), 4).reshape(-1, 2, 2, 1)
  source = ArraySource(images, np.zeros(num_images))
  dataset = Dataset("toy", source, source, 3, np.zeros(1), np.ones(1))
  return SelectionContext(
      config=config, dataset=dataset, labeled_idx=np.asarray(labeled),
      candidate_idx=np.asarray(candidates), budget=budget, rng=np.random.default_rng(0),
      key=jax.random.key(0), learner=learner, learner_state=None)


@pytest.mark.parametrize("name", sorted(EXPECTED_ORDER))
def test_uncertainty_strategies_order_hand_set_outputs_exactly(name):
  # Image 6 is labeled; images 0..5 are the candidates with the hand-set outputs.
  probs = np.concatenate([PROBS, [[1 / 3, 1 / 3, 1 / 3]]])
  context = _context(_table_learner(probs), 7, list(range(6)), [6], 6, name)
  selection = check_selection(STRATEGIES.get(name)(context), context, name)
  assert selection.indices.tolist() == EXPECTED_ORDER[name]
  assert selection.score_name == name
  expected = prediction_uncertainty(jnp.asarray(PROBS, jnp.float32))[name]
  # Through log and softmax: float32 rounding of the hand-set values.
  np.testing.assert_allclose(selection.scores, np.asarray(expected)[EXPECTED_ORDER[name]],
                             atol=1e-6)


def test_badge_factorised_distances_equal_the_explicit_gradient_embeddings():
  rng = np.random.default_rng(0)
  logits, embedding = rng.normal(size=(9, 5)) * 3, np.abs(rng.normal(size=(9, 7)))
  g = GradientEmbeddings.of(logits, embedding)
  probs = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
  a = probs - np.eye(5)[probs.argmax(1)]
  explicit = (a[:, :, None] * embedding[:, None, :]).reshape(9, -1)   # [n, K x D]
  np.testing.assert_allclose(g.squared_norms(), (explicit**2).sum(1), rtol=1e-5)
  for j in range(9):
    np.testing.assert_allclose(g.squared_distances_to(j),
                               ((explicit - explicit[j]) ** 2).sum(1), rtol=1e-4, atol=1e-5)


def test_badge_seeds_start_at_the_largest_gradient_and_repeat_with_the_key():
  rng = np.random.default_rng(1)
  logits, embedding = rng.normal(size=(40, 4)), np.abs(rng.normal(size=(40, 6)))
  norms = np.asarray(GradientEmbeddings.of(logits, embedding).squared_norms())
  picks, squared = kmeans_plus_plus_seeds(logits, embedding, 12, jax.random.key(3))
  picks = np.asarray(picks)
  assert picks[0] == np.argmax(norms)
  assert squared[0] == pytest.approx(norms.max(), rel=1e-6)
  assert len(set(picks.tolist())) == 12
  again, _ = kmeans_plus_plus_seeds(logits, embedding, 12, jax.random.key(3))
  assert np.array_equal(np.asarray(again), picks)
  other, _ = kmeans_plus_plus_seeds(logits, embedding, 12, jax.random.key(4))
  assert not np.array_equal(np.asarray(other), picks)


def test_badge_never_draws_a_copy_of_a_pick():
  # Six copies of the largest gradient and two other points: after the first copy, the
  # other copies are at distance 0 (weight 0) and the two others are drawn.
  logits = np.array([[0.0, 0.1]] * 6 + [[4.0, 0.0], [0.0, 4.0]])
  picks, squared = kmeans_plus_plus_seeds(logits, np.ones((8, 3)), 3, jax.random.key(0))
  assert np.asarray(picks)[0] == 0
  assert set(np.asarray(picks)[1:].tolist()) == {6, 7}
  assert np.all(np.asarray(squared)[1:] > 0)


def test_badge_on_duplicates_still_picks_distinct_points():
  picks, squared = kmeans_plus_plus_seeds(np.zeros((5, 3)), np.ones((5, 2)), 5,
                                          jax.random.key(0))
  assert sorted(np.asarray(picks).tolist()) == [0, 1, 2, 3, 4]
  assert np.all(np.asarray(squared)[1:] == 0)   # copies of the first pick


def test_badge_strategy_picks_distinct_candidates_with_their_distances():
  probs = np.concatenate([PROBS, [[1 / 3, 1 / 3, 1 / 3]]])
  context = _context(_table_learner(probs), 7, list(range(6)), [6], 4, "badge")
  selection = check_selection(STRATEGIES.get("badge")(context), context, "badge")
  with np.errstate(divide="ignore"):
    g = GradientEmbeddings.of(np.log(PROBS), PROBS)
  assert selection.indices[0] == int(np.argmax(g.squared_norms()))
  assert selection.score_name == "gradient_embedding_distance"
  assert selection.scores[0] == pytest.approx(float(np.sqrt(g.squared_norms().max())),
                                              rel=1e-5)


# A 3-node graph worked out by hand: unit features (1, 0), (0, 1), (1, 1)/sqrt(2), so
# S - I = [[0, 0, s], [0, 0, s], [s, s, 0]] with s = 1/sqrt(2), column sums (s, s, 2s), and
# A = (S - I) diag(1/d) + I:
HAND_FEATURES = np.array([[1.0, 0.0], [0.0, 3.0], [2.0, 2.0]])   # normalised by the graph
HAND_ADJACENCY = np.array([[1.0, 0.0, 0.5], [0.0, 1.0, 0.5], [1.0, 1.0, 1.0]])


def test_gcn_adjacency_matches_the_hand_computed_graph():
  graph = SimilarityGraph.of(HAND_FEATURES)
  np.testing.assert_allclose(graph.propagate(jnp.eye(3)), HAND_ADJACENCY, atol=1e-6)
  y = np.arange(6.0).reshape(3, 2)
  np.testing.assert_allclose(graph.propagate(jnp.asarray(y)), HAND_ADJACENCY @ y, atol=1e-5)


def test_gcn_forward_pass_matches_a_hand_computation():
  graph = SimilarityGraph.of(HAND_FEATURES)
  model = GCN(hidden=4, dropout_rate=0.3)
  params = model.init(jax.random.key(0), graph, train=False)["params"]
  out = model.apply({"params": params}, graph, train=False)
  x = HAND_FEATURES / np.linalg.norm(HAND_FEATURES, axis=1, keepdims=True)
  hidden = np.maximum(HAND_ADJACENCY @ (x @ params["conv1"]["kernel"])
                      + params["conv1"]["bias"], 0.0)
  logit = HAND_ADJACENCY @ (hidden @ params["conv2"]["kernel"]) + params["conv2"]["bias"]
  np.testing.assert_allclose(out.hidden, hidden, rtol=1e-5, atol=1e-6)
  np.testing.assert_allclose(out.logit, logit[:, 0], rtol=1e-5, atol=1e-6)
  # Weights as the authors' GraphConvolution draws them: uniform in +-1/sqrt(out units).
  assert np.abs(params["conv1"]["kernel"]).max() <= 0.5
  dropped = model.apply({"params": params}, graph, train=True,
                        rngs={"dropout": jax.random.key(1)})
  assert not np.allclose(dropped.hidden, out.hidden)


def _separable_pool():
  """Embeddings of a toy pool: labeled around e0; candidates: 10 around e1 and 6 around e2
  (unlabeled-only regions) and 3 halfway between e0 and e1."""
  rng = np.random.default_rng(0)
  e = np.eye(8)
  groups = [e[1] + 0.05 * rng.normal(size=(10, 8)), e[2] + 0.05 * rng.normal(size=(6, 8)),
            (e[0] + e[1]) / 2 + 0.05 * rng.normal(size=(3, 8)),
            e[0] + 0.05 * rng.normal(size=(12, 8))]
  return np.abs(np.concatenate(groups)).astype(np.float32)   # rows 0..18: candidates


def _embedding_learner(embeddings):
  """A fake learner whose embedding for the image of value v is embeddings[v]."""
  table = jnp.asarray(embeddings)

  def predict(state, images, extras, key):
    value = images[:, 0, 0, 0].astype(jnp.int32)
    return {"logits": table[value][:, :3], "embedding": table[value]}
  return types.SimpleNamespace(scoring_fn=lambda outputs=None, mc_dropout=False: predict,
                               mesh=parallel.make_mesh())


def _gcn_context(name, budget, **fields):
  embeddings = _separable_pool()
  return _context(_embedding_learner(embeddings), len(embeddings), list(range(19)),
                  list(range(19, 31)), budget, name, gcn_hidden=16, **fields)


def test_gcn_learns_to_tell_labeled_from_unlabeled_on_a_separable_pool():
  embeddings = _separable_pool()
  labeled = np.arange(31) >= 19
  out = fit_gcn(embeddings, labeled, jax.random.key(0), hidden=16, dropout_rate=0.3,
                learning_rate=1e-3, weight_decay=5e-4, epochs=200, unlabeled_weight=1.2)
  s = np.asarray(jax.nn.sigmoid(out.logit))
  assert s[labeled].min() > 0.5 > s[~labeled].max()


def test_uncertaingcn_picks_the_candidates_nearest_the_margin():
  # With the margin at the decision boundary, the halfway candidates (16, 17, 18) are the
  # ones the GCN is least sure are unlabeled.
  context = _gcn_context("uncertaingcn", 3, gcn_margin=0.5)
  selection = check_selection(STRATEGIES.get("uncertaingcn")(context), context, "uncertaingcn")
  assert sorted(selection.indices.tolist()) == [16, 17, 18]
  assert selection.score_name == "gcn_margin_distance"
  assert np.all(np.diff(selection.scores) >= 0) and np.all(selection.scores < 0.5)


def test_coregcn_is_k_center_greedy_on_the_gcn_features():
  # Three tight groups of candidates: k-center greedy takes one from each before a second
  # from any, and its picks are those of k_center_greedy on [hidden, logit] of the GCN.
  context = _gcn_context("coregcn", 3)
  selection = check_selection(STRATEGIES.get("coregcn")(context), context, "coregcn")
  groups = [0 if i < 10 else 1 if i < 16 else 2 for i in selection.indices.tolist()]
  assert sorted(groups) == [0, 1, 2]
  labeled = np.arange(31) >= 19
  out = fit_gcn(_separable_pool(), labeled, context.key, hidden=16, dropout_rate=0.3,
                learning_rate=1e-3, weight_decay=5e-4, epochs=200, unlabeled_weight=1.2)
  features = jnp.concatenate([out.hidden, out.logit[:, None]], 1)
  positions, squared = k_center_greedy(features[:19], features[19:], 3)
  assert selection.indices.tolist() == np.asarray(positions).tolist()
  assert selection.score_name == "gcn_nearest_center_distance"
  np.testing.assert_allclose(selection.scores, np.sqrt(squared), rtol=1e-6)


# ------------------------------------------------------------------ core-set's exact greedy


def _near_tie_points(seed=0, dim=64, labeled=40, bases=150):
  """Candidates [300, dim] and labeled centers [40, dim] far from the origin (coordinates
  ~100, so |x|^2 ~ 6e5 against distances ~10): each base candidate lies 3 (1 + 2e-5 r) from a
  center (r a permutation: near-ties at relative gaps of 1e-6 to 1e-5 once rounded to
  float32), and each has a twin 0.5 (1 + 2e-5 r') away, so the picks also turn on the
  distances to the new centers."""
  rng = np.random.default_rng(seed)

  def directions(n):
    v = rng.normal(size=(n, dim))
    return v / np.linalg.norm(v, axis=1, keepdims=True)
  centers = 100.0 + 20.0 * rng.normal(size=(labeled, dim))
  radius = 3.0 * (1.0 + 2e-5 * rng.permutation(bases))
  base = centers[rng.integers(0, labeled, bases)] + radius[:, None] * directions(bases)
  twin = base + (0.5 * (1.0 + 2e-5 * rng.permutation(bases)))[:, None] * directions(bases)
  candidates = np.concatenate([base, twin])[rng.permutation(2 * bases)]
  return candidates.astype(np.float32), centers.astype(np.float32)


def _exact_greedy(candidates, centers, budget):
  """The k-center greedy in float64 on the same float32 inputs, and the relative gap between
  the two farthest candidates at each pick."""
  c, m = candidates.astype(np.float64), centers.astype(np.float64)
  nearest = ((c[:, None] - m[None]) ** 2).sum(-1).min(1)
  picks, gaps = [], []
  for _ in range(budget):
    first, second = np.argsort(-nearest, kind="stable")[:2]
    gaps.append((nearest[first] - nearest[second]) / nearest[first])
    picks.append(first)
    nearest = np.minimum(nearest, ((c - c[first]) ** 2).sum(1))
    nearest[first] = -np.inf
  return np.array(picks), np.array(gaps)


def _expanded_float32_greedy(candidates, centers, budget):
  """The former greedy: |x|^2 + |c|^2 - 2 x.c in float32 throughout."""
  sq = (candidates**2).sum(1)
  nearest = (sq[:, None] + (centers**2).sum(1)[None] - 2 * candidates @ centers.T).min(1)
  picks = []
  for _ in range(budget):
    j = int(np.argmax(nearest))
    picks.append(j)
    nearest = np.minimum(nearest, sq + sq[j] - 2 * candidates @ candidates[j])
    nearest[j] = -np.inf
  return np.array(picks)


def test_coreset_pick_order_equals_the_exact_float64_greedy_on_near_ties():
  candidates, centers = _near_tie_points()
  exact, gaps = _exact_greedy(candidates, centers, 250)
  assert gaps.min() < 1e-5                       # the data does hold near-ties...
  expanded = _expanded_float32_greedy(candidates, centers, 250)
  assert not np.array_equal(expanded, exact)     # ...that the expanded form gets wrong
  positions, squared = k_center_greedy(jnp.asarray(candidates), jnp.asarray(centers), 250,
                                       chunk=16)
  np.testing.assert_array_equal(np.asarray(positions), exact)
  c = candidates.astype(np.float64)
  first = ((c[exact[0]] - centers.astype(np.float64)) ** 2).sum(1).min()
  assert float(squared[0]) == pytest.approx(first, rel=1e-6)


def _integer_ties(seed=0, dim=64, labeled=20, count=120, twins=30):
  """Integer coordinates below 2^24 (exact in float32), so every distance is an exact
  integer: each candidate is a center plus a signed permutation of one offset (squared
  norm ~5e8, so equal for all) with 0-3 of its zero coordinates set to 1 (+0..3), and 30
  have a twin a few units away. Ties are exact or 1-3 apart in 5e8: below float32's
  resolution (32 at 5e8)."""
  rng = np.random.default_rng(seed)
  centers = rng.integers(0, 2_000_000, (labeled, dim)).astype(np.float64)
  offset = np.zeros(dim)
  offset[:48] = rng.integers(2000, 4000, 48)
  candidates = []
  for i in range(count):
    o = offset[rng.permutation(dim)] * rng.choice([-1, 1], dim)
    zeros = np.nonzero(o == 0)[0]
    o[rng.choice(zeros, rng.integers(0, 4), replace=False)] = 1.0
    candidates.append(centers[i % labeled] + o)
  candidates = np.array(candidates)
  candidates = np.concatenate([candidates, candidates[:twins]
                               + rng.integers(-3, 4, (twins, dim))])
  return (candidates[rng.permutation(len(candidates))].astype(np.float32),
          centers.astype(np.float32))


def test_coreset_decides_ties_below_float32_resolution_as_the_exact_greedy():
  candidates, centers = _integer_ties()
  exact, gaps = _exact_greedy(candidates, centers, 140)
  assert (gaps == 0).sum() > 50 and 0 < gaps[gaps > 0].min() < 1e-8
  # float32 cannot tell these distances apart: some differ exactly but round alike.
  nearest = ((candidates[:, None].astype(np.float64) - centers[None]) ** 2).sum(-1).argmin(1)
  in_float32 = ((candidates - centers[nearest]) ** 2).sum(1, dtype=np.float32)
  in_float64 = ((candidates.astype(np.float64) - centers[nearest]) ** 2).sum(1)
  _, first = np.unique(in_float32, return_index=True)
  assert len(first) < len(np.unique(in_float64))
  positions, _ = k_center_greedy(jnp.asarray(candidates), jnp.asarray(centers), 140)
  np.testing.assert_array_equal(np.asarray(positions), exact)


@pytest.mark.parametrize("labeled, chunk", [(0, 512), (3, 2)])
def test_coreset_picks_every_candidate_in_the_exact_order_across_pending_blocks(labeled, chunk):
  # Small integer coordinates: every distance is exact in float32 and many tie exactly (ties
  # go to the lower position). 45 candidates, 5 of them copies, all picked: the picks cross
  # three blocks of pending centers and end on copies of centers (distance 0); without
  # labeled centers the first pick is position 0 (every distance infinite).
  rng = np.random.default_rng(1)
  points = rng.integers(0, 6, (40, 3)).astype(np.float32)
  candidates = np.concatenate([points, points[:5]])
  centers = rng.integers(0, 6, (labeled, 3)).astype(np.float32)
  c = candidates.astype(np.float64)
  nearest = (((c[:, None] - centers[None]) ** 2).sum(-1).min(1) if labeled
             else np.full(len(c), np.inf))
  exact = []
  for _ in range(len(c)):
    exact.append(int(np.argsort(-nearest, kind="stable")[0]))
    nearest = np.minimum(nearest, ((c - c[exact[-1]]) ** 2).sum(1))
    nearest[exact[-1]] = -np.inf
  positions, _ = k_center_greedy(jnp.asarray(candidates), jnp.asarray(centers), len(c),
                                 chunk=chunk)
  assert np.asarray(positions).tolist() == exact


def test_double_float_distances_match_float64():
  rng = np.random.default_rng(0)
  points = (100.0 + 20.0 * rng.normal(size=(16, 300))).astype(np.float32)
  centers = (points + rng.normal(size=(16, 300)) * rng.uniform(1e-3, 1.0, (16, 1))
             ).astype(np.float32)
  hi, lo = jax.jit(double_float_squared_distances)(jnp.asarray(points), jnp.asarray(centers))
  exact = ((points.astype(np.float64) - centers) ** 2).sum(1)
  got = np.asarray(hi, np.float64) + np.asarray(lo, np.float64)
  np.testing.assert_allclose(got, exact, rtol=1e-13)
  assert np.all(np.asarray(hi) == np.asarray(hi + lo))   # normalised: hi = fl(hi + lo)


def test_nearest_center_distances_find_the_exact_nearest_among_near_equidistant_centers():
  # Each point is nearly equidistant (relative gaps 1e-6..1e-4) from three centers of one
  # chunk, far from the origin: the expanded form cannot tell them apart.
  rng = np.random.default_rng(0)
  dim = 32
  points = 100.0 + 20.0 * rng.normal(size=(20, dim))
  offsets = rng.normal(size=(20, 3, dim))
  offsets /= np.linalg.norm(offsets, axis=-1, keepdims=True)
  radii = 2.0 * (1.0 + np.array([3e-6, 1e-4, 0.0])[rng.permutation(3)])
  centers = (points[:, None] + radii[None, :, None] * offsets).reshape(-1, dim)
  points, centers = points.astype(np.float32), centers.astype(np.float32)
  exact = ((points[:, None].astype(np.float64) - centers[None].astype(np.float64)) ** 2
           ).sum(-1).min(1)
  for chunk in (3, 64):
    got = nearest_center_distances(jnp.asarray(points), jnp.asarray(centers), chunk=chunk)
    np.testing.assert_allclose(got, exact, rtol=2e-6)


# ------------------------------------------------------------------------------ bad input


@pytest.mark.parametrize("field, value, message", [
    ("gcn_margin", 1.5, r"strategy.gcn_margin=1.5 must be a number in \(0, 1\)"),
    ("gcn_margin", 0.0, r"strategy.gcn_margin=0.0 must be a number in \(0, 1\)"),
    ("gcn_epochs", -1, r"strategy.gcn_epochs=-1 must be an integer >= 1"),
    ("gcn_epochs", 2.5, r"strategy.gcn_epochs=2.5 must be an integer"),
    ("gcn_hidden", "wide", r"strategy.gcn_hidden='wide' must be an integer"),
    ("gcn_dropout", 1.0, r"strategy.gcn_dropout=1.0 must be a number in \[0, 1\)"),
    ("gcn_learning_rate", 0.0, r"strategy.gcn_learning_rate=0.0 must be a number > 0"),
    ("gcn_lambda", -0.5, r"strategy.gcn_lambda=-0.5 must be a number >= 0"),
])
def test_bad_gcn_fields_fail_before_anything_is_written(tiny_digits_config, tmp_path, field,
                                                        value, message):
  config = tiny_digits_config
  config.strategy.name = "uncertaingcn"
  with config.ignore_type():
    config.strategy[field] = value
  with pytest.raises(ConfigError, match=message):
    experiment.run(config, str(tmp_path / "run"))
  assert not (tmp_path / "run").exists()


def test_coregcn_does_not_need_a_margin(tiny_digits_config, tmp_path):
  config = tiny_digits_config
  config.strategy.name = "coregcn"
  config.strategy.gcn_margin = 2.0          # read by uncertaingcn only
  config.strategy.gcn_epochs = 0
  with pytest.raises(ConfigError, match=r"strategy.gcn_epochs=0"):
    experiment.run(config, str(tmp_path / "run"))


@pytest.mark.parametrize("strategy", ["badge", "coreset", "uncertaingcn", "coregcn"])
def test_embedding_strategies_refuse_a_model_without_an_embedding(
    strategy, tiny_digits_config, tmp_path, monkeypatch):
  monkeypatch.setitem(MODELS._entries, "headless", MODELS.get("resnet18"))
  monkeypatch.setitem(MODELS._traits, "headless", {})
  config = tiny_digits_config
  config.strategy.name = strategy
  config.model.name = "headless"
  with pytest.raises(ConfigError, match=rf"strategy.name='{strategy}' selects on the "
                     r"backbone's pooled embedding, but model.name='headless' has none; use "
                     r"one of resnet18, resnet18_imagenet, vgg16"):
    experiment.run(config, str(tmp_path / "run"))
  assert not (tmp_path / "run").exists()


def test_driver_reports_a_bad_gcn_margin_in_one_line_with_exit_code_2(tmp_path):
  result = _main("--config=configs/digits.py", f"--workdir={tmp_path / 'run'}",
                 "--config.strategy.name=uncertaingcn", "--config.strategy.gcn_margin=1.0")
  assert result.returncode == 2
  errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
  assert errors == ["error: strategy.gcn_margin=1.0 must be a number in (0, 1); the authors "
                    "use 0.1"], result.stderr
  assert not (tmp_path / "run").exists()


def test_registry_declares_each_strategys_needs():
  traits = {name: {t: STRATEGIES.trait(name, t) for t in ("ranker", "dropout", "embedding")}
            for name in STRATEGIES.names()}
  assert [n for n, t in traits.items() if t["ranker"]] == ["lloss", "tavaal"]
  assert [n for n, t in traits.items() if t["dropout"]] == ["mc_dropout"]
  assert [n for n, t in traits.items() if t["embedding"]] == ["badge", "coregcn", "coreset",
                                                              "uncertaingcn"]
  for name in ("badge", "uncertaingcn", "coregcn"):
    assert STRATEGIES.trait(name, "tasks", None) == ("classification",)


@pytest.mark.parametrize("strategy", ["badge", "uncertaingcn", "coregcn"])
def test_classification_only_strategies_are_refused_on_a_segmentation_dataset(strategy,
                                                                             tmp_path):
  from configs import digits_segmentation
  config = digits_segmentation.get_config()
  config.strategy.name = strategy
  with pytest.raises(ConfigError, match=rf"strategy.name='{strategy}' works on "
                     r"classification only"):
    experiment.run(config, str(tmp_path / "run"))
  assert not (tmp_path / "run").exists()
