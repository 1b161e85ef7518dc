"""What a task (classification, segmentation) provides to the rest of the package.

The learner, the scoring pass, the adversary and the strategies are written against this
contract, never against one task. A task is a frozen dataclass (hashable), so it is bound
into the jitted steps as a static argument. Batches are dicts:

    train: {'image': uint8 [B, H, W, C], 'label': the targets of the task}
    eval:  the same plus 'valid': bool [B] (False on the padded rows of a last batch)

where 'label' is int32 [B] (classification) or a uint8 mask [B, H, W] (segmentation).
"""

import abc
from typing import Any, Dict, Tuple

import jax
import jax.numpy as jnp
import numpy as np


def per_image_mean(values: jax.Array) -> jax.Array:
  """[B, ...] -> [B]: the mean over every axis but the first ([B] is returned as it is).

  How a per-pixel score (entropy, BALD, ...) becomes one score per image; a classifier's
  per-image score passes through unchanged.
  """
  if values.ndim == 1:
    return values
  return values.reshape(values.shape[0], -1).mean(-1)


class Task(abc.ABC):
  """The parts of training and evaluation that differ between tasks.

  name: 'classification' | 'segmentation'; primary_metric: the figure that a results row
  carries as f"test_{primary_metric}" and the report draws curves of.
  """

  name: str
  primary_metric: str

  def batch(self, images: np.ndarray, labels: np.ndarray) -> Dict[str, np.ndarray]:
    """A train batch from what `ImageSource.get` returns."""
    return {"image": images, "label": labels}

  @abc.abstractmethod
  def train_inputs(self, key: jax.Array, batch: Dict[str, jax.Array],
                   preprocessing) -> Tuple[jax.Array, jax.Array]:
    """(augmented normalised images float32 [B, h, w, C], their targets), the images and
    targets augmented together."""

  @abc.abstractmethod
  def per_example_loss(self, logits: jax.Array, labels: jax.Array) -> jax.Array:
    """float32 [B]: the loss of each example (what the ranker learns to predict)."""

  @abc.abstractmethod
  def train_metrics(self, logits: jax.Array, labels: jax.Array) -> Dict[str, jax.Array]:
    """Scalars of a train batch (its accuracy)."""

  @abc.abstractmethod
  def metric_sums(self, logits: jax.Array, labels: jax.Array,
                  valid: jax.Array) -> Dict[str, jax.Array]:
    """Sums over the valid rows of an eval batch, added up over the batches of a split."""

  @abc.abstractmethod
  def finalize(self, sums: Dict[str, np.ndarray]) -> Dict[str, Any]:
    """The split's metrics from its summed `metric_sums` (host numpy). Always holds
    'loss' (mean per-example loss), 'count' (examples) and `primary_metric`."""

  def row_fields(self, metrics: Dict[str, Any], prefix: str) -> Dict[str, Any]:
    """The results-row fields of a split's metrics, e.g. {'test_accuracy', 'test_loss'}."""
    return {f"{prefix}{self.primary_metric}": float(metrics[self.primary_metric]),
            f"{prefix}loss": float(metrics["loss"])}

  def probabilities(self, logits: jax.Array) -> jax.Array:
    """Softmax over the class axis (the last): [B, ..., K] float32."""
    return jax.nn.softmax(logits.astype(jnp.float32), -1)
