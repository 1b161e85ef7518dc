"""Semantic segmentation: a mask of class ids per image, pixel cross-entropy, (m)IoU.

Pixels whose label is IGNORE_LABEL (255) count for nothing: not in the loss, not in the
confusion matrix. An image's loss (the ranker's target) is the mean cross-entropy over its
non-ignored pixels (0 when it has none).
"""

import dataclasses
from typing import Any, Dict

import jax
import jax.numpy as jnp
import numpy as np
import optax

from tavaal_jax.data import augment
from tavaal_jax.data.base import IGNORE_LABEL
from tavaal_jax.tasks.base import Task


def confusion_matrix(predictions: jax.Array, labels: jax.Array, weights: jax.Array,
                     num_classes: int) -> jax.Array:
  """int32 [K, K] pixel counts, rows the true class and columns the predicted one.

  predictions, labels: int [...] (labels in 0..K-1 wherever weights is True);
  weights: bool [...], the pixels to count.
  """
  cell = jnp.where(weights, labels * num_classes + predictions, 0).reshape(-1)
  counts = jax.ops.segment_sum(weights.reshape(-1).astype(jnp.int32), cell,
                               num_segments=num_classes * num_classes)
  return counts.reshape(num_classes, num_classes)


def iou_from_confusion(confusion: np.ndarray) -> Dict[str, Any]:
  """Per-class IoU [K] (NaN for a class in neither the labels nor the predictions), mIoU
  (the mean over the other classes) and pixel accuracy, from a [K, K] confusion matrix."""
  confusion = np.asarray(confusion, np.float64)
  true_positive = np.diag(confusion)
  union = confusion.sum(0) + confusion.sum(1) - true_positive
  with np.errstate(invalid="ignore", divide="ignore"):
    per_class = np.where(union > 0, true_positive / union, np.nan)
  present = ~np.isnan(per_class)
  total = confusion.sum()
  return {"miou": float(per_class[present].mean()) if present.any() else float("nan"),
          "pixel_accuracy": float(true_positive.sum() / total) if total else float("nan"),
          "per_class_iou": per_class}


@dataclasses.dataclass(frozen=True)
class SegmentationTask(Task):
  """labels uint8/int [B, H, W] (IGNORE_LABEL ignored); logits [B, H, W, K]."""

  num_classes: int
  name: str = "segmentation"
  primary_metric: str = "miou"

  def train_inputs(self, key, batch, preprocessing):
    images, masks = augment.augment_pair(
        key, batch["image"], batch["label"], crop_hw=preprocessing.crop_hw or None,
        crop_padding=preprocessing.crop_padding, flip=preprocessing.flip)
    return preprocessing.normalize(images), masks

  def _valid_pixels(self, labels):
    return labels != IGNORE_LABEL

  def per_example_loss(self, logits, labels):
    labels = labels.astype(jnp.int32)
    valid = self._valid_pixels(labels)
    pixel = optax.softmax_cross_entropy_with_integer_labels(
        logits.astype(jnp.float32), jnp.where(valid, labels, 0))
    pixel = jnp.where(valid, pixel, 0.0).reshape(labels.shape[0], -1)
    count = valid.reshape(labels.shape[0], -1).sum(-1)
    return pixel.sum(-1) / jnp.maximum(count, 1)

  def train_metrics(self, logits, labels):
    valid = self._valid_pixels(labels)
    correct = (jnp.argmax(logits, -1) == labels) & valid
    return {"accuracy": correct.sum() / jnp.maximum(valid.sum(), 1)}

  def metric_sums(self, logits, labels, valid) -> Dict[str, jax.Array]:
    labels = labels.astype(jnp.int32)
    pixels = self._valid_pixels(labels) & valid[:, None, None]
    loss = jnp.where(valid, self.per_example_loss(logits, labels), 0.0)
    return {"confusion": confusion_matrix(jnp.argmax(logits, -1), labels, pixels,
                                          self.num_classes),
            "loss_sum": loss.sum(), "count": valid.sum()}

  def finalize(self, sums: Dict[str, np.ndarray]) -> Dict[str, Any]:
    count = int(sums["count"])
    return {**iou_from_confusion(sums["confusion"]),
            "loss": float(sums["loss_sum"]) / count, "count": count}

  def row_fields(self, metrics, prefix):
    fields = super().row_fields(metrics, prefix)
    fields[f"{prefix}pixel_accuracy"] = float(metrics["pixel_accuracy"])
    fields[f"{prefix}per_class_iou"] = [None if np.isnan(v) else float(v)
                                        for v in metrics["per_class_iou"]]
    return fields
