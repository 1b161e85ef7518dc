"""`coreset` (Sener & Savarese, 2018): k-center greedy on the task learner's embeddings.

The labeled images are the initial centers; each step takes the candidate farthest from
its nearest center. Distances are computed on the device in chunks with a running
minimum, never as an N x N matrix.

Exactness: the pick order is that of the greedy in exact arithmetic (a float64 greedy's)
except where a point is equidistant from two centers to float32 rounding.
- The expanded form |x|^2 + |c|^2 - 2 x.c is one matmul (what makes the first pass fast)
  but rounds relative to |x|^2 + |c|^2, not to the distance: on clustered 512-d embeddings
  it moved the pick order off the exact greedy at relative gaps of 1e-7 to 1e-6. Here it
  only screens: its error is bounded (`_screening_error`), and every pair the bound leaves
  open as a point's nearest is measured in the difference form sum((x - c)^2), whose float32
  rounding is relative to the distance (`_difference_error`). Each point keeps that value
  and which center gave it. The first pass screens every point against every center once;
  only the points with more than one center inside the screening band (a few percent) are
  screened again, chunk by chunk, and measured against each center in their band.
- A pick is decided on those values unless others lie within their rounding of the
  largest; then each such contender's distance to its nearest center is recomputed in
  double-float arithmetic (`double_float_squared_distances`, about 1e-14 relative) and the
  largest wins, ties to the lower position.
"""

import functools
from typing import Callable, Tuple

import jax
import jax.numpy as jnp
import numpy as np

from tavaal_jax import xla_cpu
from tavaal_jax.scoring import score_pool
from tavaal_jax.strategies import STRATEGIES
from tavaal_jax.strategies.base import Selection, SelectionContext

# Rows measured per step of the refinement loops. One step usually covers them (on 10,000
# clustered 512-d embeddings against 10,000 centers, 4% of the points are ambiguous after
# the screening pass, and 10-30 of those within one chunk; a few candidates per pick come
# nearer to a new center; 1-9 tie for the farthest, within the difference form's
# worst-case rounding, at 72% of the picks).
_AMBIGUOUS_ROWS = 512
_CLOSER_ROWS = 64
_CONTENDER_ROWS = 16
# The pick loop's lazy block (k_center_greedy): picks whose distances to every candidate
# wait for one [N, D] @ [D, 16] product, and the largest distances refreshed per pick
# against them (on the benchmark's data every pick was decided among those 16).
_PENDING_CENTERS = 16
_REFRESHED_ROWS = 16
_FLOAT32_UNIT_ROUNDOFF = 2.0**-24


def _gamma(n: int) -> float:
  """The classic bound n u / (1 - n u) on the relative error of n float32 roundings."""
  u = _FLOAT32_UNIT_ROUNDOFF
  return n * u / (1.0 - n * u)


def _screening_error(dim: int) -> float:
  """c such that |expanded - exact| <= c (|x|^2 + |c|^2) for float32 vectors of `dim`.

  |x|^2, |c|^2 and x.c each carry at most gamma_dim of their sum of absolute terms (any
  summation order), |x.c| <= (|x|^2 + |c|^2) / 2, and the two final additions round once
  each: 2 gamma_dim + 3u, with 1% to spare for the norms' own rounding.
  """
  return 1.01 * (2.0 * _gamma(dim) + 3.0 * _FLOAT32_UNIT_ROUNDOFF)


def _difference_error(dim: int) -> float:
  """Relative error bound of the difference form in float32: one rounding for each x - c,
  one for its square, gamma_{dim - 1} for the sum of the non-negative squares."""
  return 1.01 * _gamma(dim + 2)


def _expanded_squared_distances(points: jax.Array, points_sq: jax.Array, centers: jax.Array,
                                centers_sq: jax.Array) -> jax.Array:
  """[N, D], [N], [M, D], [M] -> [N, M] squared distances by the expanded form (screening).

  Full float32 matmul precision: TF32 / bf16 passes (the GPU / TPU default) would void the
  error bound of `_screening_error`.
  """
  cross = jnp.matmul(points, centers.T, precision=jax.lax.Precision.HIGHEST)
  return points_sq[:, None] + centers_sq[None, :] - 2.0 * cross


def squared_distances_to(points: jax.Array, centers: jax.Array) -> jax.Array:
  """[N, D], [D] or [N, D] -> [N] squared distances in the difference form (stable)."""
  return jnp.sum((points - centers) ** 2, axis=-1)


def _two_sum(a: jax.Array, b: jax.Array) -> Tuple[jax.Array, jax.Array]:
  """(s, e) with s = fl(a + b) and s + e = a + b exactly (Knuth)."""
  s = a + b
  v = s - a
  return s, (a - (s - v)) + (b - v)


def double_float_squared_distances(points: jax.Array, centers: jax.Array
                                    ) -> Tuple[jax.Array, jax.Array]:
  """[K, D], [K, D] float32 -> (hi, lo) [K]: squared distances as hi + lo, hi = fl(hi + lo),
  to about 1e-14 relative: each x - c is kept exactly (two-sum), its square split exactly
  (Dekker's product on halves of 12 significant bits, cut by masking the low mantissa
  bits, so no multiplication rounds), and the D terms summed pairwise with two-sums."""
  diff, diff_error = _two_sum(points, -centers)
  high = jax.lax.bitcast_convert_type(
      jax.lax.bitcast_convert_type(diff, jnp.uint32) & jnp.uint32(0xFFFFF000), jnp.float32)
  low = diff - high
  square = diff * diff
  square_error = ((high * high - square) + 2.0 * high * low) + low * low
  hi, lo = square, square_error + 2.0 * diff * diff_error
  width = 1 << max(0, (hi.shape[-1] - 1).bit_length())
  pad = ((0, 0), (0, width - hi.shape[-1]))
  hi, lo = jnp.pad(hi, pad), jnp.pad(lo, pad)
  while hi.shape[-1] > 1:
    total, error = _two_sum(hi[:, 0::2], hi[:, 1::2])
    hi, lo = total, lo[:, 0::2] + lo[:, 1::2] + error
  hi, lo = _two_sum(hi[:, 0], lo[:, 0])
  return hi, lo


def _for_each_marked_row(marked: jax.Array, update: Callable, carry, group: int):
  """Calls carry = update(carry, rows [K], valid [K]) over the rows where `marked` [N] is
  True, K = `group` at a time, in ascending order. Padding rows are N (out of range:
  gathers clamp, scatters must use mode='drop') and `valid` is False there."""
  n = marked.shape[0]
  size = min(group, n)
  order = -jnp.arange(n, dtype=jnp.float32)   # top_k of it: the lowest rows first

  def body(state):
    marked, carry = state
    # top_k, not nonzero: XLA:CPU runs nonzero's cumulative sum 3x slower. The barrier
    # keeps XLA from folding top_k and the gathers of its rows into a sort of the operands.
    keys, rows = jax.lax.optimization_barrier(
        jax.lax.top_k(jnp.where(marked, order, -jnp.inf), size))
    valid = keys > -jnp.inf
    rows = jnp.where(valid, rows, n)
    carry = update(carry, rows, valid)
    return marked.at[rows].set(False, mode="drop"), carry

  return jax.lax.while_loop(lambda state: jnp.any(state[0]), body, (marked, carry))[1]


def _lower(nearest: Tuple[jax.Array, jax.Array], rows: jax.Array, distance: jax.Array,
           center: jax.Array) -> Tuple[jax.Array, jax.Array]:
  """(distance [N], center index [N]) with the `rows` [K] whose `distance` [K] is smaller
  taking it and its `center` [K] (rows of N are dropped)."""
  dist, index = nearest
  closer = distance < dist[rows]
  return (dist.at[rows].min(distance, mode="drop"),
          index.at[rows].set(jnp.where(closer, center, index[rows]), mode="drop"))


def _chunk_nearest(points, points_sq, bound, block, block_sq, block_valid, offset, nearest):
  """`nearest` (distance [N], center index [N]) lowered to each point's nearest center of
  `block` [C, D] (valid [C]; its centers are numbered from `offset`). The expanded form
  screens; every center that its error bound leaves as possibly the nearest is measured in
  the difference form."""
  n, size = points.shape[0], block.shape[0]
  columns = jnp.arange(size)
  screened = _expanded_squared_distances(points, points_sq, block, block_sq)
  screened = jnp.where(block_valid[None, :], screened, jnp.inf)
  # The exact nearest is among the centers within 2 x bound of the screened nearest (the
  # band). One matmul counts each point's band and sums its columns: where the band holds
  # one center, that sum is its column. Every point has that column measured (for an
  # ambiguous point, some center's true distance); ambiguous points, every band member.
  limit = screened.min(1) + 2.0 * bound
  in_band = (screened <= limit[:, None]).astype(jnp.float32)
  ones_and_columns = jnp.stack([jnp.ones(size), columns.astype(jnp.float32)], 1)   # [C, 2]
  count_and_sum = jnp.matmul(in_band, ones_and_columns, precision=jax.lax.Precision.HIGHEST)
  ambiguous = count_and_sum[:, 0] > 1.5
  first = jnp.clip(count_and_sum[:, 1], 0, size - 1).astype(jnp.int32)
  first_distance = jnp.where(block_valid[first], squared_distances_to(points, block[first]),
                             jnp.inf)
  closer = first_distance < nearest[0]
  nearest = (jnp.minimum(nearest[0], first_distance),
             jnp.where(closer, offset + first, nearest[1]))

  def measure_band(nearest, rows, valid):
    # Every center of each row's band, one column per iteration.
    band = (screened[rows] <= limit[rows][:, None]) & valid[:, None]

    def body(state):
      band, best, best_column = state
      column = jnp.min(jnp.where(band, columns, size), 1)
      exact = squared_distances_to(points[rows], block[jnp.minimum(column, size - 1)])
      exact = jnp.where(column < size, exact, jnp.inf)
      best_column = jnp.where(exact < best, column, best_column)
      return (band & (columns[None, :] != column[:, None]), jnp.minimum(best, exact),
              best_column)

    init = (band, jnp.full(rows.shape, jnp.inf, jnp.float32), jnp.zeros(rows.shape, jnp.int32))
    _, best, best_column = jax.lax.while_loop(lambda state: jnp.any(state[0]), body, init)
    return _lower(nearest, rows, best, offset + best_column)

  return _for_each_marked_row(ambiguous, measure_band, nearest, _AMBIGUOUS_ROWS)


def _blocks(centers: jax.Array, chunk: int):
  """`centers` [M, D] as scan inputs: blocks [B, C, D], their squared norms [B, C], valid
  [B, C] and the row of each block's first center [B] (C = min(chunk, M))."""
  m = centers.shape[0]
  chunk = min(chunk, m)
  padded = -(-m // chunk) * chunk
  valid = (jnp.arange(padded) < m).reshape(-1, chunk)
  blocks = jnp.pad(centers, ((0, padded - m), (0, 0))).reshape(-1, chunk, centers.shape[1])
  return blocks, jnp.sum(blocks**2, -1), valid, jnp.arange(0, padded, chunk, dtype=jnp.int32)


def _screening_bound(points_sq: jax.Array, centers: jax.Array) -> jax.Array:
  """[N] bound on the expanded form's error for each point against any of `centers`."""
  return _screening_error(centers.shape[1]) * (points_sq + jnp.max(jnp.sum(centers**2, 1)))


def _measured_nearest(points: jax.Array, centers: jax.Array, chunk: int
                      ) -> Tuple[jax.Array, jax.Array]:
  """(distance [N], center row [N]): every center the screening leaves open as a point's
  nearest, chunk by chunk, measured in the difference form. What the points that
  `_nearest_centers` finds ambiguous get."""
  points_sq = jnp.sum(points**2, 1)
  bound = _screening_bound(points_sq, centers)

  def step(nearest, xs):
    block, block_sq, block_valid, offset = xs
    return _chunk_nearest(points, points_sq, bound, block, block_sq, block_valid, offset,
                          nearest), None

  init = (jnp.full(points.shape[0], jnp.inf, jnp.float32),
          jnp.full(points.shape[0], -1, jnp.int32))
  return jax.lax.scan(step, init, _blocks(centers, chunk))[0]


def _nearest_centers(points: jax.Array, centers: jax.Array, chunk: int
                     ) -> Tuple[jax.Array, jax.Array]:
  """Each point's squared distance [N] to its nearest center, and that center's row [N]
  (-1 without centers); see `nearest_center_distances`.

  One screening pass over the centers keeps, per point, the smallest screened distance, the
  center that gave it and whether another center may lie within twice the screening error
  of it (only such a center can be the exact nearest instead). A point with a single
  candidate is measured once, in the difference form, against it; the few others (a few
  percent on clustered embeddings) by `_measured_nearest`.
  """
  n, m = points.shape[0], centers.shape[0]
  if m == 0:
    return jnp.full(n, jnp.inf, jnp.float32), jnp.full(n, -1, jnp.int32)
  points_sq = jnp.sum(points**2, 1)
  bound = _screening_bound(points_sq, centers)
  band = 2.0 * bound

  def step(state, xs):
    best, best_center, ambiguous = state
    block, block_sq, block_valid, offset = xs
    columns = jnp.arange(block.shape[0], dtype=jnp.float32)
    screened = _expanded_squared_distances(points, points_sq, block, block_sq)
    screened = jnp.where(block_valid[None, :], screened, jnp.inf)
    low = screened.min(1)
    # One matmul counts the centers of the block in its band and sums their columns (the
    # column, where there is one).
    in_band = (screened <= (low + band)[:, None]).astype(jnp.float32)
    count_and_sum = jnp.matmul(in_band, jnp.stack([jnp.ones_like(columns), columns], 1),
                               precision=jax.lax.Precision.HIGHEST)
    count, column = count_and_sum[:, 0], count_and_sum[:, 1].astype(jnp.int32)
    # This block's band lies wholly below the best so far (which then drops out), wholly
    # above it (this block drops out), or the two overlap (ambiguous).
    below, above = low < best - band, best < low - band
    ambiguous = jnp.where(below, count > 1.5, ambiguous | ~above)
    best_center = jnp.where(low < best, offset + column, best_center)
    return (jnp.minimum(best, low), best_center, ambiguous), None

  init = (jnp.full(n, jnp.inf, jnp.float32), jnp.zeros(n, jnp.int32), jnp.zeros(n, bool))
  _, center, ambiguous = jax.lax.scan(step, init, _blocks(centers, chunk))[0]
  center = jnp.clip(center, 0, m - 1)
  nearest = (squared_distances_to(points, centers[center]), center)

  def resolve(nearest, rows, valid):
    distance, center = _measured_nearest(points[rows], centers, chunk)
    return (nearest[0].at[rows].set(distance, mode="drop"),
            nearest[1].at[rows].set(center, mode="drop"))

  return _for_each_marked_row(ambiguous, resolve, nearest, _AMBIGUOUS_ROWS)


# No YNNPACK fusion (xla_cpu.py): with it, ties in rounding moved 2 of 1,000 picks, for no speed.
@functools.partial(xla_cpu.jit_without_ynn, static_argnames=("chunk",))
def nearest_center_distances(points: jax.Array, centers: jax.Array, chunk: int = 512
                             ) -> jax.Array:
  """Squared distance of each of `points` [N, D] to its nearest of `centers` [M, D] -> [N].

  Scans over the centers `chunk` at a time, so memory is [N, chunk], not [N, M]. Each value
  is the difference form's distance to the exact nearest center (see the module docstring).
  """
  return _nearest_centers(points.astype(jnp.float32), centers.astype(jnp.float32), chunk)[0]


def _best_of(hi: jax.Array, lo: jax.Array, rows: jax.Array, valid: jax.Array):
  """(hi, lo, row) of the largest double-float hi + lo [K] among `valid` [K], ties to the
  lowest row."""
  hi = jnp.where(valid, hi, -jnp.inf)
  best_hi = jnp.max(hi)
  at_best = valid & (hi == best_hi)
  best_lo = jnp.max(jnp.where(at_best, lo, -jnp.inf))
  at_best &= lo == best_lo
  return best_hi, best_lo, jnp.min(jnp.where(at_best, rows, jnp.iinfo(jnp.int32).max))


def _farthest(candidates, all_centers, min_dist, nearest):
  """The position of the largest of `min_dist` [N] (ties to the lower position). The
  values within float32 rounding of the largest (the contenders) are compared as the
  double-float distances of their candidates to their nearest centers."""
  tolerance = 2.0 * _difference_error(candidates.shape[1])
  # The barrier: as in _for_each_marked_row (without it, 2 ms a pick at 10,000 x 512).
  values, rows = jax.lax.optimization_barrier(
      jax.lax.top_k(min_dist, min(_CONTENDER_ROWS, min_dist.shape[0])))
  largest = values[0]
  contenders = values >= largest * (1.0 - tolerance)

  def double_float(rows):
    return double_float_squared_distances(candidates[rows], all_centers[nearest[rows]])

  def among_top(_):
    return _best_of(*double_float(rows), rows, contenders)[2]

  def among_all(_):
    # More contenders than top_k returned: every row within the tolerance, by groups.
    def better(best, rows, valid):
      hi, lo = double_float(rows)
      return _best_of(jnp.append(hi, best[0]), jnp.append(lo, best[1]),
                      jnp.append(rows, best[2]), jnp.append(valid, True))

    init = (jnp.float32(-jnp.inf), jnp.float32(0.0), jnp.int32(jnp.iinfo(jnp.int32).max))
    marked = min_dist >= largest * (1.0 - tolerance)
    return _for_each_marked_row(marked, better, init, _CONTENDER_ROWS)[2]

  def among_contenders(_):
    return jax.lax.cond(contenders[-1], among_all, among_top, None)

  # top_k puts the lowest position first among equal values. A single contender, or a
  # largest value of inf (no centers yet) or 0 (only copies of centers left), is that one.
  if contenders.shape[0] < 2:
    return rows[0].astype(jnp.int32)
  tied = contenders[1] & jnp.isfinite(largest) & (largest > 0)
  return jax.lax.cond(tied, among_contenders, lambda _: rows[0], None).astype(jnp.int32)


def _nearest_pending(points: jax.Array, pending: jax.Array, pending_valid: jax.Array
                     ) -> Tuple[jax.Array, jax.Array]:
  """[K, D] points, [P, D] pending centers (valid [P]) -> each point's difference-form
  squared distance [K] to its nearest valid pending center (inf without one) and that
  center's column [K] (ties to the lower column)."""
  distances = jnp.sum((points[:, None, :] - pending[None, :, :]) ** 2, axis=-1)
  distances = jnp.where(pending_valid[None, :], distances, jnp.inf)
  column = jnp.argmin(distances, axis=1)
  return jnp.take_along_axis(distances, column[:, None], 1)[:, 0], column.astype(jnp.int32)


@functools.partial(xla_cpu.jit_without_ynn, static_argnames=("budget", "chunk"))
def k_center_greedy(candidates: jax.Array, centers: jax.Array, budget: int,
                    chunk: int = 512) -> Tuple[jax.Array, jax.Array]:
  """Positions [budget] in `candidates` [N, D], picked farthest-first from `centers` [M, D],
  and each pick's squared distance to its nearest center when it was picked [budget].

  Each step picks the candidate whose nearest center is farthest (ties to the lower
  position), then makes it a center. See the module docstring for the exactness.

  New centers are applied lazily, `_PENDING_CENTERS` at a time: a distance to the nearest
  center that ignores the pending ones can only be too large, so a pick refreshes the
  `_REFRESHED_ROWS` largest against the pending centers and is decided among them when
  the next largest lies below the farthest's rounding band (no other row can reach it).
  Otherwise, and when the block is full, the pending centers' distances to every candidate
  are screened with one [N, D] @ [D, P] product and the candidates they may have come
  nearer to are measured in the difference form. One pass over the candidates per block,
  not per pick: the per-pick mat-vec was what bounded the loop (memory, not arithmetic).
  """
  candidates = candidates.astype(jnp.float32)
  centers = centers.astype(jnp.float32)
  n, m, dim = candidates.shape[0], centers.shape[0], candidates.shape[1]
  # Center rows: the labeled centers, then the candidates (a pick at position j is m + j).
  all_centers = jnp.concatenate([centers, candidates])
  squared_norms = jnp.sum(candidates**2, 1)
  error = _screening_error(dim)
  tolerance = 2.0 * _difference_error(dim)
  block = _PENDING_CENTERS
  head = min(_REFRESHED_ROWS, n)
  top = min(head + 1, n)
  slots = jnp.arange(block)

  def flush(nearest, pending, count):
    """`nearest` with the `count` pending centers (positions `pending` [P]) applied."""
    valid = slots < count
    points, points_sq = candidates[pending], squared_norms[pending]
    cross = jnp.matmul(candidates, points.T, precision=jax.lax.Precision.HIGHEST)
    screened = squared_norms[:, None] + points_sq[None, :] - 2.0 * cross
    bound = error * (squared_norms[:, None] + points_sq[None, :])
    # Those whose distance to a pending center may lie below their nearest's so far.
    closer = jnp.any((screened - bound < nearest[0][:, None]) & valid[None, :], axis=1)

    def measure(nearest, rows, row_valid):
      distance, column = _nearest_pending(candidates[rows], points, valid)
      return _lower(nearest, rows, jnp.where(row_valid, distance, jnp.inf), m + pending[column])

    return _for_each_marked_row(closer, measure, nearest, _CLOSER_ROWS)

  def step(i, carry):
    nearest, pending, count, picks, picked_dist = carry
    # The largest distances ignoring the pending centers (too large, never too small).
    values, rows = jax.lax.optimization_barrier(jax.lax.top_k(nearest[0], top))
    rows = rows[:head]
    distance, column = _nearest_pending(candidates[rows], candidates[pending], slots < count)
    nearest = _lower(nearest, rows, distance, m + pending[column])
    largest = jnp.max(nearest[0][rows])
    rest = values[head] if top > head else jnp.float32(-jnp.inf)
    settled = rest < largest * (1.0 - tolerance)
    # One flush for both reasons (undecided, or no slot left for this pick): a flush only
    # lowers rows outside the refreshed ones, which stay below `rest`.
    full = ~settled | (count == block)
    nearest = jax.lax.cond(full, lambda nearest: flush(nearest, pending, count),
                           lambda nearest: nearest, nearest)
    count = jnp.where(full, 0, count)

    def among_refreshed(nearest):
      fresh = nearest[0][rows]
      largest = jnp.max(fresh)
      contenders = fresh >= largest * (1.0 - tolerance)
      tied = (jnp.sum(contenders) > 1) & jnp.isfinite(largest) & (largest > 0)

      def double_float(_):
        hi, lo = double_float_squared_distances(candidates[rows], all_centers[nearest[1][rows]])
        return _best_of(hi, lo, rows, contenders)[2]

      def first_largest(_):
        return jnp.min(jnp.where(fresh == largest, rows, jnp.iinfo(jnp.int32).max))

      return jax.lax.cond(tied, double_float, first_largest, None).astype(jnp.int32)

    def farthest(nearest):
      return _farthest(candidates, all_centers, nearest[0], nearest[1])

    j = jax.lax.cond(settled, among_refreshed, farthest, nearest)
    picks = picks.at[i].set(j)
    picked_dist = picked_dist.at[i].set(nearest[0][j])
    # A picked point must never be picked again, even among exact duplicates.
    nearest = (nearest[0].at[j].set(-jnp.inf), nearest[1])
    return nearest, pending.at[count].set(j), count + 1, picks, picked_dist

  init = (_nearest_centers(candidates, centers, chunk), jnp.zeros(block, jnp.int32),
          jnp.int32(0), jnp.zeros(budget, jnp.int32), jnp.zeros(budget, jnp.float32))
  return jax.lax.fori_loop(0, budget, step, init)[3:]


def coreset_selection(candidate_idx: np.ndarray, candidates: np.ndarray, centers: np.ndarray,
                      budget: int, score_name: str = "nearest_center_distance") -> Selection:
  """k-center greedy of `candidates` [n, D] (rows of `candidate_idx` [n]) from `centers`
  [m, D]: the picks, each scored by its Euclidean distance to the nearest center when it
  was picked."""
  budget = min(budget, len(candidate_idx))
  positions, squared = k_center_greedy(candidates, centers, budget)
  return Selection.of(np.asarray(candidate_idx)[np.asarray(positions)],
                      np.sqrt(np.asarray(squared, np.float64)), score_name)


@STRATEGIES.register("coreset", embedding=True)
def select_coreset(context: SelectionContext) -> Selection:
  """[budget] candidates by k-center greedy on the pooled embeddings, labeled as centers;
  each pick's score is its Euclidean distance to the nearest center when it was picked."""
  learner, state = context.learner, context.learner_state
  score = functools.partial(score_pool, learner.scoring_fn(("embedding",)), state,
                            context.dataset.train,
                            batch_size=context.config.strategy.batch_size, mesh=learner.mesh,
                            field="strategy.batch_size")
  candidates = score(context.candidate_idx)["embedding"]
  labeled = score(context.labeled_idx)["embedding"]
  return coreset_selection(context.candidate_idx, candidates, labeled, context.budget)
