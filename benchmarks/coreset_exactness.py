r"""Where core-set's pick order leaves the exact greedy, on issue 18's setting.

  python -m benchmarks.coreset_exactness --seeds 8

Per seed: 1,000 labeled + 5,000 candidate clustered 512-d embeddings (as benchmarks.common's
`coreset_data`, drawn from that seed), budget 500. The exact greedy is computed in float64
with NumPy; the package's `k_center_greedy` and the former float32 expanded-form greedy
(|x|^2 + |c|^2 - 2 x.c throughout, as the package had it before issue 18) are compared with
it. Prints, per seed, the first pick at which each departs (or '-') and the smallest
relative gap between the two farthest candidates over the exact greedy's picks.
"""

import argparse
import json
import sys

import jax
import jax.numpy as jnp
import numpy as np


def clustered(seed: int, candidates: int, labeled: int, dim: int):
  rng = np.random.default_rng(seed)
  centers = rng.normal(0.0, 1.0, (10, dim)).astype(np.float32)

  def draw(n):
    return np.abs(centers[rng.integers(0, 10, n)] + rng.normal(0, 0.7, (n, dim))
                  ).astype(np.float32)
  return draw(candidates), draw(labeled)


def exact_greedy(candidates: np.ndarray, labeled: np.ndarray, budget: int):
  """float64 k-center greedy (expanded form in float64: error ~1e-16 |x|^2); picks and the
  smallest relative gap between the two farthest candidates at a pick."""
  c, m = candidates.astype(np.float64), labeled.astype(np.float64)
  c_sq, m_sq = (c**2).sum(1), (m**2).sum(1)
  nearest = np.full(len(c), np.inf)
  for start in range(0, len(m), 256):
    block = c_sq[:, None] + m_sq[None, start:start + 256] - 2.0 * c @ m[start:start + 256].T
    nearest = np.minimum(nearest, block.min(1))
  picks, smallest_gap = [], np.inf
  for _ in range(budget):
    first, second = np.argsort(-nearest, kind="stable")[:2]
    smallest_gap = min(smallest_gap, (nearest[first] - nearest[second]) / nearest[first])
    picks.append(int(first))
    nearest = np.minimum(nearest, c_sq + c_sq[first] - 2.0 * c @ c[first])
    nearest[first] = -np.inf
  return np.array(picks), float(smallest_gap)


@jax.jit
def _expanded_nearest(candidates, labeled):
  sq = jnp.sum(candidates**2, 1)
  blocks = labeled.reshape(-1, 250, labeled.shape[1])

  def step(running, block):
    d = sq[:, None] + jnp.sum(block**2, 1)[None] - 2.0 * candidates @ block.T
    return jnp.minimum(running, jnp.maximum(d, 0.0).min(1)), None
  return jax.lax.scan(step, jnp.full(candidates.shape[0], jnp.inf), blocks)[0]


def expanded_float32_greedy(candidates: np.ndarray, labeled: np.ndarray, budget: int):
  """The former package greedy: the expanded form in float32 for every distance."""
  c = jnp.asarray(candidates)
  nearest = _expanded_nearest(c, jnp.asarray(labeled))
  sq = jnp.sum(c**2, 1)

  @jax.jit
  def run(nearest):
    def step(i, carry):
      nearest, picks = carry
      j = jnp.argmax(nearest)
      d = jnp.maximum(sq + sq[j] - 2.0 * (c @ c[j]), 0.0)
      return jnp.minimum(nearest, d).at[j].set(-jnp.inf), picks.at[i].set(j)
    return jax.lax.fori_loop(0, budget, step, (nearest, jnp.zeros(budget, jnp.int32)))[1]
  return np.asarray(run(nearest))


def first_difference(a: np.ndarray, b: np.ndarray):
  different = np.nonzero(a != b)[0]
  return int(different[0]) if len(different) else None


def main(argv=None) -> int:
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--seeds", type=int, default=8)
  parser.add_argument("--candidates", type=int, default=5000)
  parser.add_argument("--labeled", type=int, default=1000)
  parser.add_argument("--dim", type=int, default=512)
  parser.add_argument("--budget", type=int, default=500)
  args = parser.parse_args(argv)
  from tavaal_jax import cpu_tuning
  cpu_tuning.apply()
  from tavaal_jax.strategies.coreset import k_center_greedy
  rows = []
  for seed in range(args.seeds):
    candidates, labeled = clustered(seed, args.candidates, args.labeled, args.dim)
    exact, gap = exact_greedy(candidates, labeled, args.budget)
    package = np.asarray(k_center_greedy(jnp.asarray(candidates), jnp.asarray(labeled),
                                         args.budget)[0])
    former = expanded_float32_greedy(candidates, labeled, args.budget)
    rows.append({"seed": seed, "package_leaves_exact_at": first_difference(package, exact),
                 "expanded_float32_leaves_exact_at": first_difference(former, exact),
                 "expanded_float32_same_set": len(set(former) & set(exact)) / args.budget,
                 "smallest_relative_gap": gap})
    print(json.dumps(rows[-1]), flush=True)
  return 0


if __name__ == "__main__":
  sys.exit(main())
