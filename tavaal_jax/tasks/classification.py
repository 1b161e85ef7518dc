"""Classification: one integer label per image, cross-entropy, accuracy."""

import dataclasses
from typing import Any, Dict

import jax
import jax.numpy as jnp
import numpy as np

from tavaal_jax.losses import cross_entropy
from tavaal_jax.tasks.base import Task


@dataclasses.dataclass(frozen=True)
class ClassificationTask(Task):
  """labels int32 [B]; logits [B, K]. Metrics: accuracy and the mean cross-entropy."""

  num_classes: int
  name: str = "classification"
  primary_metric: str = "accuracy"

  def train_inputs(self, key, batch, preprocessing):
    return preprocessing.train_input(key, batch["image"]), batch["label"]

  def per_example_loss(self, logits, labels):
    return cross_entropy(logits, labels)

  def train_metrics(self, logits, labels):
    return {"accuracy": (jnp.argmax(logits, -1) == labels).mean()}

  def metric_sums(self, logits, labels, valid) -> Dict[str, jax.Array]:
    correct = (jnp.argmax(logits, -1) == labels) & valid
    loss = jnp.where(valid, self.per_example_loss(logits, labels), 0.0)
    return {"correct": correct.sum(), "loss_sum": loss.sum(), "count": valid.sum()}

  def finalize(self, sums: Dict[str, np.ndarray]) -> Dict[str, Any]:
    count = int(sums["count"])
    return {"accuracy": float(sums["correct"]) / count,
            "loss": float(sums["loss_sum"]) / count, "count": count}
