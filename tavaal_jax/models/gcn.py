"""The graph convolutional network of Sequential GCN (Caramalau, Bhattarai & Kim, "Sequential
GCN for Active Learning", CVPR 2021), on the graph of the labeled and candidate images.

Nodes carry the learner's embeddings, L2-normalised (rows of F [N, D]). The adjacency is
the one the authors' code builds (`aff_to_adj`): S = F F^T with the self-similarity taken
out, each column divided by its sum, and self-loops added:

    A = (S - I) diag(1 / d) + I,   d_j = sum_i (S - I)_ij.

A is never formed. A @ Y = F (F^T (Y / d)) - Y / d + Y, so propagating [N, H] features
costs O(N D H) and memory O(N (D + H)), not the [N, N] of A (1.6 GB at 20,000 nodes).

The network, as in the authors' code: a graph convolution to `hidden` units, ReLU, dropout,
a graph convolution to one unit; sigmoid(logit) is the node's probability of "labeled".
Each graph convolution is A (X W) + b with W, b drawn uniformly from +-1/sqrt(out units).
"""

from typing import NamedTuple

import flax.linen as nn
import jax
import jax.numpy as jnp


class SimilarityGraph(NamedTuple):
  """The graph in factored form: unit node features [N, D] and 1 / d [N] (0 where d = 0)."""

  features: jax.Array
  inverse_degree: jax.Array

  @classmethod
  def of(cls, embeddings: jax.Array) -> "SimilarityGraph":
    """From embeddings [N, D]: rows scaled to unit norm (a zero row stays zero)."""
    x = jnp.asarray(embeddings, jnp.float32)
    norm = jnp.sqrt(jnp.sum(x * x, -1, keepdims=True))
    features = x / jnp.maximum(norm, 1e-12)
    # Column sums of S - I: S_jj is 1 for a unit row (0 for a zero row), as the authors'
    # code subtracts 1 whatever the row.
    degree = features @ jnp.sum(features, 0) - 1.0
    return cls(features, jnp.where(degree != 0, 1.0 / jnp.where(degree != 0, degree, 1.0),
                                   0.0))

  def propagate(self, y: jax.Array) -> jax.Array:
    """A @ y for y [N, H] -> [N, H]."""
    scaled = y * self.inverse_degree[:, None]
    return self.features @ (self.features.T @ scaled) - scaled + y


def _uniform(scale: float):
  def init(key, shape, dtype=jnp.float32):
    return jax.random.uniform(key, shape, dtype, -scale, scale)
  return init


class GraphConvolution(nn.Module):
  """A (x W) + b: x [N, F] -> [N, features]."""

  features: int

  @nn.compact
  def __call__(self, graph: SimilarityGraph, x: jax.Array) -> jax.Array:
    init = _uniform(1.0 / float(self.features) ** 0.5)
    kernel = self.param("kernel", init, (x.shape[-1], self.features))
    bias = self.param("bias", init, (self.features,))
    return graph.propagate(x @ kernel) + bias


class GCNOutput(NamedTuple):
  """logit [N] (sigmoid: probability "labeled"), hidden [N, H] (after ReLU and dropout)."""

  logit: jax.Array
  hidden: jax.Array


class GCN(nn.Module):
  """Two graph convolutions on the graph's own node features."""

  hidden: int = 128
  dropout_rate: float = 0.3

  @nn.compact
  def __call__(self, graph: SimilarityGraph, train: bool) -> GCNOutput:
    h = nn.relu(GraphConvolution(self.hidden, name="conv1")(graph, graph.features))
    h = nn.Dropout(self.dropout_rate, deterministic=not train)(h)
    logit = GraphConvolution(1, name="conv2")(graph, h)[:, 0]
    return GCNOutput(logit, h)
