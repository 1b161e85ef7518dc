"""Segmentation end to end: the digits canvases with a tiny DRN, every strategy, 2 stages."""

import json
import os

import numpy as np
import pytest

from configs import digits_segmentation
from tavaal_jax import experiment
from tavaal_jax.errors import ConfigError
from tavaal_jax.report import make_report
from tavaal_jax.strategies import STRATEGIES
from tests.conftest import tiny
from tests.tiny_configs import tiny_selection


def _rows(workdir, name):
  with open(os.path.join(workdir, name)) as f:
    return [json.loads(line) for line in f]


def tiny_segmentation(strategy: str):
  """configs/digits_segmentation.py on 24 px canvases of two 8 px digits, 120 / 40 of them,
  a width-4 DRN for one epoch, 2 stages of 12."""
  config = tiny_selection(tiny(digits_segmentation.get_config()), strategy)
  config.dataset.image_size = 24
  config.dataset.digit_size = 8
  config.dataset.digits_per_image = 2
  config.dataset.train_size = 120
  config.dataset.test_size = 40
  config.al.initial = 12
  config.al.budget = 12
  config.al.stages = 2
  config.al.subset = 60
  return config


SEGMENTATION_STRATEGIES = [name for name in STRATEGIES.names()
                           if "segmentation" in STRATEGIES.trait(name, "tasks",
                                                                ("segmentation",))]


def test_the_classic_strategies_all_run_on_segmentation():
  assert {"random", "mc_dropout", "coreset", "lloss", "vaal", "tavaal"} <= set(
      SEGMENTATION_STRATEGIES)


@pytest.mark.parametrize("strategy", SEGMENTATION_STRATEGIES)
def test_two_stage_segmentation_run_of_every_strategy(strategy, tmp_path):
  config = tiny_segmentation(strategy)
  workdir = str(tmp_path / strategy)
  experiment.run(config, workdir)
  results = _rows(workdir, "results.jsonl")
  assert [r["num_labeled"] for r in results] == [12, 24]
  for row in results:
    assert 0.0 <= row["test_miou"] <= 1.0 and 0.0 <= row["test_pixel_accuracy"] <= 1.0
    assert len(row["test_per_class_iou"]) == 11 and "test_accuracy" not in row
  initial, added = (np.asarray(p["indices"]) for p in _rows(workdir, "picks.jsonl"))
  assert len(added) == 12 == len(np.unique(added)) and not np.isin(added, initial).any()
  if strategy == "tavaal":
    assert np.isfinite(results[0]["ranker_spearman"])


def test_segmentation_report_draws_miou_and_per_class_iou(tmp_path):
  runs = []
  for strategy in ("random", "lloss"):
    workdir = str(tmp_path / strategy)
    experiment.run(tiny_segmentation(strategy), workdir)
    runs.append(workdir)
  out = str(tmp_path / "report")
  written = make_report(runs, out)
  names = {os.path.basename(p) for p in written}
  assert {"learning_curves.png", "improvement_over_random.png", "per_class_iou.csv"} <= names
  with open(os.path.join(out, "summary.md")) as f:
    summary = f.read()
  assert "## Test mIoU" in summary and "## Per-class IoU at the last stage" in summary
  assert "| background |" in summary
  with open(os.path.join(out, "auc.csv")) as f:
    assert "test_miou" in f.read()


def test_a_classification_network_on_a_segmentation_dataset_is_refused(tmp_path):
  config = tiny_segmentation("random")
  config.model.name = "resnet18"
  with pytest.raises(ConfigError, match="model.name='resnet18' is a classification network "
                                        "but dataset.name='digits_segmentation' is a "
                                        "segmentation dataset; use one of: drn_d_22"):
    experiment.run(config, str(tmp_path / "run"))
  assert not os.path.exists(tmp_path / "run" / "results.jsonl")
