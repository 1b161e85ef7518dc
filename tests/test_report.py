"""The report on hand-written run dirs: tables recomputable from results.jsonl, AUC, PNGs,
pick lists with the source's file names, and clear errors for bad run dirs."""

import csv
import json
import os
import subprocess
import sys

import ml_collections
import numpy as np
import pytest
from PIL import Image

from configs import digits
from tavaal_jax.data import load_dataset
from tavaal_jax.report import ReportError, make_report, tables

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SIZES = (20, 40, 60)


def _config(strategy, seed=0, **fields):
  config = digits.get_config()
  config.strategy.name = strategy
  config.seed = seed
  for dotted, value in fields.items():
    section, name = dotted.split("__")
    config[section][name] = value
  return json.loads(config.to_json_best_effort(sort_keys=True))


def write_run(path, strategy, seed=0, trials=3, accuracy=None, ranker=None, picks=True,
              config=None, extra=None):
  """A run dir as the driver leaves it: config.json, results.jsonl, picks.jsonl.

  accuracy(trial, stage) -> float; ranker: 'll' / 'llv2' adds ranking-loss columns.
  """
  os.makedirs(path)
  with open(os.path.join(path, "config.json"), "w") as f:
    json.dump(config or _config(strategy, seed), f)
  rng = np.random.default_rng([seed, len(strategy)])
  accuracy = accuracy or (lambda t, s: float(0.3 + 0.1 * s + rng.uniform(0, 0.05)))
  results, pick_rows = [], []
  for trial in range(trials):
    order = np.random.default_rng([seed, trial]).permutation(1437)
    for stage, size in enumerate(SIZES):
      row = {"trial": trial, "stage": stage, "num_labeled": size, "strategy": strategy,
             "dataset": "digits", "seed": seed, "test_accuracy": accuracy(trial, stage),
             "test_loss": 1.0, "train_loss": 1.0, "train_loss_per_epoch": [1.0]}
      if ranker:
        row.update({"ranker_loss_name": ranker, "ranking_loss": 0.5,
                    "ranking_loss_per_epoch": [0.9 - 0.1 * e - 0.01 * stage for e in range(4)]})
      row.update((extra or {}).get((trial, stage), {}))
      results.append(row)
      indices = order[20 * stage:20 * (stage + 1)]
      pick = {"trial": trial, "stage": stage, "indices": indices.tolist()}
      if stage > 0:
        pick["scores"] = np.linspace(1.0, 0.0, len(indices)).tolist()
      pick_rows.append(pick)
  with open(os.path.join(path, "results.jsonl"), "w") as f:
    f.writelines(json.dumps(r) + "\n" for r in results)
  if picks:
    with open(os.path.join(path, "picks.jsonl"), "w") as f:
      f.writelines(json.dumps(p) + "\n" for p in pick_rows)
  return results, pick_rows


def read_csv(path):
  with open(path, newline="") as f:
    return list(csv.DictReader(f))


def test_report_on_two_runs_has_recomputable_tables_and_every_figure(tmp_path):
  random_rows, _ = write_run(str(tmp_path / "random"), "random")
  tavaal_rows, _ = write_run(str(tmp_path / "tavaal"), "tavaal", ranker="llv2")
  out = tmp_path / "report"
  make_report([str(tmp_path / "random"), str(tmp_path / "tavaal")], str(out))

  summary = read_csv(out / "summary.csv")
  assert list(summary[0]) == ["strategy", "num_labeled", "mean", "std", "trials"]
  assert [(r["strategy"], int(r["num_labeled"])) for r in summary] == [
      (s, n) for s in ("random", "tavaal") for n in SIZES]
  for row in summary:
    source = random_rows if row["strategy"] == "random" else tavaal_rows
    values = [r["test_accuracy"] for r in source if r["num_labeled"] == int(row["num_labeled"])]
    assert float(row["mean"]) == pytest.approx(np.mean(values), rel=1e-12)
    assert float(row["std"]) == pytest.approx(np.std(values, ddof=1), rel=1e-12)
    assert int(row["trials"]) == 3

  auc = {r["strategy"]: r for r in read_csv(out / "auc.csv")}
  for strategy in ("random", "tavaal"):
    curve = [float(r["mean"]) for r in summary if r["strategy"] == strategy]
    assert float(auc[strategy]["auc"]) == pytest.approx(
        np.trapezoid(curve, SIZES) / (SIZES[-1] - SIZES[0]), rel=1e-12)

  md = (out / "summary.md").read_text()
  assert "ddof=1" in md and "| random | 20 |" in md and "| tavaal |" in md
  assert not (out / "summary_independent.csv").exists()
  for name in ["learning_curves.png", "improvement_over_random.png", "ranker_loss.png"] + [
      f"picks_{s}_trial{t}.png" for s in ("random", "tavaal") for t in range(3)]:
    with Image.open(out / name) as image:
      assert image.format == "PNG" and min(image.size) > 100, name
  for s in ("random", "tavaal"):
    for stage in range(3):
      assert (out / f"picks_{s}_stage_{stage}.csv").exists()


def test_area_under_a_hand_made_curve():
  # Trapezoids (0.5 + 0.7) / 2 * 100 + (0.7 + 0.8) / 2 * 200 = 210 over a range of 300.
  assert tables.curve_area([100, 200, 400], [0.5, 0.7, 0.8]) == pytest.approx(0.7)
  assert tables.curve_area([400, 100, 200], [0.8, 0.5, 0.7]) == pytest.approx(0.7)
  assert tables.curve_area([100], [0.6]) == pytest.approx(0.6)
  grouped = {"x": [{"seed": 0, "trial": t, "num_labeled": n, "test_accuracy": a + 0.1 * t}
                   for t in range(2) for n, a in ((100, 0.5), (200, 0.7), (400, 0.8))]}
  (row,) = tables.areas(grouped)
  assert row["auc"] == pytest.approx(0.75)   # the mean curve is the hand-made one + 0.05
  assert row["auc_std"] == pytest.approx(np.std([0.7, 0.8], ddof=1))
  assert (row["trials"], row["num_labeled_from"], row["num_labeled_to"]) == (2, 100, 400)


def test_same_strategy_with_other_seeds_merges_and_other_settings_split(tmp_path):
  write_run(str(tmp_path / "r0"), "random", seed=0, trials=2)
  write_run(str(tmp_path / "r1"), "random", seed=1, trials=2)
  write_run(str(tmp_path / "ll"), "tavaal", trials=1, ranker="ll",
            config=_config("tavaal", ranker__loss="ll"))
  write_run(str(tmp_path / "llv2"), "tavaal", trials=1, ranker="llv2")
  out = tmp_path / "report"
  make_report([str(tmp_path / d) for d in ("r0", "r1", "ll", "llv2")], str(out))
  trials = {(r["strategy"], int(r["num_labeled"])): int(r["trials"])
            for r in read_csv(out / "summary.csv")}
  assert trials[("random", 20)] == 4
  assert trials[("tavaal (ranker.loss=ll)", 20)] == 1
  assert trials[("tavaal (ranker.loss=llv2)", 20)] == 1
  assert (out / "picks_random_seed1_trial1.png").exists()
  assert list(read_csv(out / "picks_random_stage_0.csv")[0]) == [
      "seed", "trial", "index", "file", "label", "score"]


def test_duplicate_rows_across_dirs_name_both_dirs(tmp_path):
  write_run(str(tmp_path / "a"), "random")
  write_run(str(tmp_path / "b"), "random")   # same strategy, seed, trials and stages
  with pytest.raises(ReportError, match=r"seed 0 trial 0 stage 0 appears in .*a and .*b"):
    make_report([str(tmp_path / "a"), str(tmp_path / "b")], str(tmp_path / "report"))


def test_picks_csv_has_one_row_per_pick_with_the_source_file_names(tmp_path):
  _, picks = write_run(str(tmp_path / "lloss"), "lloss", trials=2)
  out = tmp_path / "report"
  make_report([str(tmp_path / "lloss")], str(out))
  dataset = load_dataset(ml_collections.ConfigDict(_config("lloss")["dataset"]))
  for stage in range(3):
    rows = read_csv(out / f"picks_stage_{stage}.csv")
    assert list(rows[0]) == ["trial", "index", "file", "label", "score"]
    expected = [p for p in picks if p["stage"] == stage]
    indices = [i for p in expected for i in p["indices"]]
    assert [int(r["index"]) for r in rows] == indices
    assert [int(r["trial"]) for r in rows] == [p["trial"] for p in expected for _ in p["indices"]]
    assert [r["file"] for r in rows] == list(dataset.train.names(np.asarray(indices)))
    assert all(r["file"].startswith("load_digits[") for r in rows)
    assert [int(r["label"]) for r in rows] == dataset.train.labels()[indices].tolist()
    if stage == 0:
      assert all(r["score"] == "" for r in rows)
    else:
      assert [float(r["score"]) for r in rows] == [s for p in expected for s in p["scores"]]


def test_unloadable_dataset_skips_grids_but_writes_everything_else(tmp_path, caplog):
  config = _config("random", dataset__name="npz", dataset__path=str(tmp_path / "gone.npz"))
  _, picks = write_run(str(tmp_path / "run"), "random", trials=1, config=config)
  rows = [json.loads(line) for line in open(tmp_path / "run" / "picks.jsonl")]
  for row in rows:   # the driver's npz picks rows carry the names too
    row["names"] = [f"x_train[{i}]" for i in row["indices"]]
  with open(tmp_path / "run" / "picks.jsonl", "w") as f:
    f.writelines(json.dumps(r) + "\n" for r in rows)
  out = tmp_path / "report"
  with caplog.at_level("WARNING"):
    make_report([str(tmp_path / "run")], str(out))
  assert "cannot open dataset 'npz'" in caplog.text
  assert not list(out.glob("picks_*.png"))
  assert (out / "learning_curves.png").exists() and (out / "summary.csv").exists()
  stage1 = read_csv(out / "picks_stage_1.csv")
  assert [r["file"] for r in stage1] == [f"x_train[{i}]" for i in picks[1]["indices"]]
  assert all(r["label"] == "" for r in stage1)


def test_independent_accuracy_gets_its_own_table_and_no_random_skips_improvement(tmp_path):
  extra = {(t, s): {"independent_accuracy": 0.2 + 0.1 * s + 0.01 * t}
           for t in range(3) for s in range(3)}
  write_run(str(tmp_path / "tavaal"), "tavaal", ranker="llv2", extra=extra, picks=False)
  out = tmp_path / "report"
  make_report([str(tmp_path / "tavaal")], str(out))
  independent = read_csv(out / "summary_independent.csv")
  assert [float(r["mean"]) for r in independent] == pytest.approx([0.21, 0.31, 0.41])
  assert [float(r["std"]) for r in independent] == pytest.approx([0.01] * 3)
  assert {r["metric"] for r in read_csv(out / "auc.csv")} == {
      "test_accuracy", "independent_accuracy"}
  assert "Independent learner" in (out / "summary.md").read_text()
  assert (out / "learning_curves_independent.png").exists()
  assert not (out / "improvement_over_random.png").exists()
  assert not list(out.glob("picks_*"))


def test_one_trial_has_zero_std_and_runs_of_two_datasets_are_refused(tmp_path):
  write_run(str(tmp_path / "one"), "random", trials=1)
  make_report([str(tmp_path / "one")], str(tmp_path / "report"))
  assert {r["std"] for r in read_csv(tmp_path / "report" / "summary.csv")} == {"0.0"}
  write_run(str(tmp_path / "c10"), "tavaal", trials=1, config=_config(
      "tavaal", dataset__name="cifar10"))
  rows = [json.loads(line) for line in open(tmp_path / "c10" / "results.jsonl")]
  with open(tmp_path / "c10" / "results.jsonl", "w") as f:
    f.writelines(json.dumps(dict(r, dataset="cifar10")) + "\n" for r in rows)
  with pytest.raises(ReportError, match="different datasets"):
    make_report([str(tmp_path / "one"), str(tmp_path / "c10")], str(tmp_path / "r2"))


def _cli(*args):
  return subprocess.run([sys.executable, "-m", "tavaal_jax.report", *args], cwd=ROOT,
                        capture_output=True, text=True, timeout=120)


def test_cli_run_dir_without_results_is_one_line_and_exit_code_2(tmp_path):
  write_run(str(tmp_path / "good"), "random", trials=1, picks=False)
  (tmp_path / "empty").mkdir()
  result = _cli(str(tmp_path / "good"), str(tmp_path / "empty"), "--out", str(tmp_path / "r"))
  assert result.returncode == 2
  errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
  assert errors == [f"error: {tmp_path / 'empty'} has no results.jsonl; is it a run's "
                    "--workdir?"]
  assert not (tmp_path / "r").exists()


def test_cli_writes_the_report(tmp_path):
  write_run(str(tmp_path / "random"), "random", trials=2, picks=False)
  result = _cli(str(tmp_path / "random"), "--out", str(tmp_path / "r"))
  assert result.returncode == 0, result.stderr
  assert (tmp_path / "r" / "summary.csv").exists()
