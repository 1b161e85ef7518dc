"""The tasks' losses and metrics on hand-made cases."""

import jax.numpy as jnp
import numpy as np
import pytest

from configs import digits
from tavaal_jax import config_checks
from tavaal_jax.data.base import IGNORE_LABEL
from tavaal_jax.errors import ConfigError
from tavaal_jax.tasks import ClassificationTask, SegmentationTask, per_image_mean
from tavaal_jax.tasks.segmentation import iou_from_confusion


def _logits_for(predictions, num_classes):
  """Logits whose argmax is `predictions` (int [...]) -> float32 [..., K]."""
  return jnp.asarray(np.eye(num_classes, dtype=np.float32)[np.asarray(predictions)] * 5.0)


def test_segmentation_metrics_against_a_hand_computed_confusion_matrix():
  task = SegmentationTask(num_classes=4)
  # Two 2x3 images plus a padded third row. Class 3 is in neither labels nor predictions.
  labels = np.array([[[0, 0, 1], [1, 2, IGNORE_LABEL]],
                     [[2, 2, 0], [IGNORE_LABEL, 1, 1]],
                     [[1, 1, 1], [1, 1, 1]]], np.uint8)
  predictions = np.array([[[0, 1, 1], [1, 2, 0]],
                          [[2, 0, 0], [2, 1, 2]],
                          [[0, 0, 0], [0, 0, 0]]])
  valid = np.array([True, True, False])    # the third image is padding
  sums = task.metric_sums(_logits_for(predictions, 4), jnp.asarray(labels), jnp.asarray(valid))
  # Rows true, columns predicted, over the 10 non-ignored pixels of the two real images:
  # true 0: predicted 0, 1, 0 -> [2, 1, 0]; true 1: 1, 1, 1, 2 -> [0, 3, 1];
  # true 2: 2, 2, 0 -> [1, 0, 2].
  expected = np.array([[2, 1, 0, 0], [0, 3, 1, 0], [1, 0, 2, 0], [0, 0, 0, 0]])
  np.testing.assert_array_equal(sums["confusion"], expected)
  assert int(sums["count"]) == 2
  metrics = task.finalize({k: np.asarray(v) for k, v in sums.items()})
  # IoU = TP / (TP + FP + FN): class 0: 2 / (2 + 1 + 1) = 0.5; class 1: 3 / (3 + 1 + 1)
  # = 0.6; class 2: 2 / (2 + 1 + 1) = 0.5; class 3: absent -> NaN, not in the mean.
  np.testing.assert_allclose(metrics["per_class_iou"][:3], [0.5, 0.6, 0.5])
  assert np.isnan(metrics["per_class_iou"][3])
  assert metrics["miou"] == pytest.approx((0.5 + 0.6 + 0.5) / 3)
  assert metrics["pixel_accuracy"] == pytest.approx(7 / 10)
  row = task.row_fields(metrics, "test_")
  assert row["test_miou"] == pytest.approx(metrics["miou"])
  assert row["test_per_class_iou"][3] is None and row["test_pixel_accuracy"] == pytest.approx(0.7)


def test_segmentation_loss_is_the_mean_over_non_ignored_pixels():
  task = SegmentationTask(num_classes=3)
  logits = jnp.asarray(np.random.default_rng(0).normal(size=(2, 2, 2, 3)), jnp.float32)
  labels = np.array([[[0, 1], [IGNORE_LABEL, 2]],
                     [[IGNORE_LABEL] * 2] * 2], np.uint8)   # the second image: all ignored
  loss = np.asarray(task.per_example_loss(logits, jnp.asarray(labels)))
  log_p = np.asarray(logits) - np.log(np.exp(np.asarray(logits)).sum(-1, keepdims=True))
  expected = -(log_p[0, 0, 0, 0] + log_p[0, 0, 1, 1] + log_p[0, 1, 1, 2]) / 3
  np.testing.assert_allclose(loss, [expected, 0.0], rtol=1e-5)


def test_iou_over_several_batches_is_the_iou_of_the_summed_matrix():
  a = np.array([[3, 1], [0, 2]])
  b = np.array([[1, 0], [2, 4]])
  total = iou_from_confusion(a + b)
  # class 0: 4 / (4 + 2 + 1) ; class 1: 6 / (6 + 1 + 2)
  np.testing.assert_allclose(total["per_class_iou"], [4 / 7, 6 / 9])


def test_classification_sums_skip_padded_rows():
  task = ClassificationTask(num_classes=3)
  logits = _logits_for([0, 1, 2, 0], 3)
  sums = task.metric_sums(logits, jnp.asarray([0, 2, 2, 1]),
                          jnp.asarray([True, True, True, False]))
  metrics = task.finalize({k: np.asarray(v).item() for k, v in sums.items()})
  assert metrics["count"] == 3 and metrics["accuracy"] == pytest.approx(2 / 3)


def test_per_image_mean_reduces_pixels_and_keeps_per_image_scores():
  np.testing.assert_array_equal(per_image_mean(jnp.asarray([1.0, 2.0])), [1.0, 2.0])
  np.testing.assert_allclose(per_image_mean(jnp.arange(8.0).reshape(2, 2, 2)), [1.5, 5.5])


def test_segmentation_settings_on_a_classification_dataset_are_refused():
  config = digits.get_config()
  config.dataset.augment.crop_hw = (8, 8)
  with pytest.raises(ConfigError, match=r"dataset.augment.crop_hw=\(8, 8\) is a segmentation "
                                        r"setting but dataset.name='digits'"):
    config_checks.check_config(config)
