"""The reference core-set selection: k-center greedy as the Sequential-GCN / TA-VAAL
releases run it (scikit-learn `pairwise_distances` per pick, NumPy running minimum).

Features are those of labeled + candidates; the labeled rows are the initial centers. Each
of the `budget` picks takes the arg-max of the running minimum distance and updates it with
the distances to the new center, one candidate at a time.
"""

from typing import Any, Dict

import numpy as np
from sklearn.metrics import pairwise_distances

from benchmarks.common import coreset_data, peak_rss_mb, repeat, summary


def k_center_greedy_release(candidates: np.ndarray, labeled: np.ndarray,
                            budget: int) -> np.ndarray:
  """Positions [budget] in `candidates` [N, D] picked farthest-first from `labeled` [M, D]."""
  features = np.concatenate([labeled, candidates])
  already = np.arange(len(labeled))
  dist = pairwise_distances(features, features[already], metric="euclidean")
  min_distances = np.min(dist, axis=1).reshape(-1, 1)
  del dist
  picks = []
  for _ in range(budget):
    ind = int(np.argmax(min_distances))
    assert ind not in already
    dist = pairwise_distances(features, features[[ind]], metric="euclidean")
    min_distances = np.minimum(min_distances, dist)
    picks.append(ind)
  return np.asarray(picks) - len(labeled)


def coreset(p: Dict[str, Any]) -> Dict[str, Any]:
  candidates, labeled = coreset_data(p)
  budget = int(p["budget"])
  picks = {}

  def one():
    picks["p"] = k_center_greedy_release(candidates, labeled, budget)
  stats = summary(repeat(one, int(p.get("numpy_reps", 1))), budget, "picks")
  stats.update(peak_rss_mb=peak_rss_mb(), picks=picks["p"].tolist(),
               method="sklearn.metrics.pairwise_distances per pick (Sequential-GCN kCenterGreedy)")
  return stats


SECTIONS = {"coreset": coreset}
