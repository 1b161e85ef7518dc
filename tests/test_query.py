"""Query rounds on a pool of real images (scikit-learn's digits written out as PNG files):
rounds, their files and rows, Label Studio, idempotence, kills, bad input.

The rounds run in-process (`query.run`, the command's entry function), except the SIGKILL
test. Each round builds a fresh learner, whose steps would compile again: the session's
persistent compilation cache (tests/conftest.py) keeps every program, so that only the
first round of a kind compiles.
"""

import csv
import hashlib
import json
import logging
import os
import re
import shutil
import signal
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image
from sklearn.datasets import load_digits

from configs import own_images
from tavaal_jax import experiment, query
from tavaal_jax.errors import ConfigError
from tavaal_jax.labeling import label_studio, labels_file
from tavaal_jax.strategies import STRATEGIES
from tests.conftest import tiny
from tests.tiny_configs import tiny_selection

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BUDGET = 10
NUM_POOL, NUM_TEST, NUM_LABELED = 120, 30, 40


def _write_csv(path, labels):
  with open(path, "w") as f:
    f.write("file,label\n")
    for file, label in labels.items():
      f.write(f"{file},{label}\n")
  return str(path)


@pytest.fixture(scope="module")
def pool(tmp_path_factory):
  """POOL/{a,b/c}/digit_<i>.png (120 images, in nested folders) and POOL/test/ (30 held-out
  images); labels.csv (40 of the pool) and test.csv; `truth` holds every image's label."""
  base = tmp_path_factory.mktemp("pool")
  root = base / "POOL"
  digits = load_digits()
  truth = {}
  for i in range(NUM_POOL + NUM_TEST):
    folder = "test" if i >= NUM_POOL else ("a", "b/c")[i % 2]
    file = f"{folder}/digit_{i:03d}.png"
    os.makedirs(root / folder, exist_ok=True)
    Image.fromarray((digits.images[i] * 255 / 16).astype(np.uint8)).save(root / file)
    truth[file] = str(digits.target[i])
  pool_files = sorted(f for f in truth if not f.startswith("test/"))
  labeled = {f: truth[f] for f in pool_files[::3][:NUM_LABELED]}
  test = {f: label for f, label in truth.items() if f.startswith("test/")}
  return {"root": str(root), "truth": truth, "pool_files": pool_files, "labeled": labeled,
          "labels": _write_csv(base / "labels.csv", labeled),
          "test_labels": _write_csv(base / "test.csv", test), "base": base}


def _config(pool, strategy="tavaal"):
  """configs/own_images.py shrunk (tests/conftest.py, tiny_configs.py) on the pool, with its
  test labels: the same shapes in every round, so compiled programs are reused."""
  config = tiny_selection(tiny(own_images.get_config()), strategy)
  config.dataset.path = pool["root"]
  config.dataset.labels = pool["labels"]
  config.dataset.test_labels = pool["test_labels"]
  config.dataset.image_size = 16      # 8x8 digits upsampled: the VAE needs 16
  config.al.budget = BUDGET
  return config


def _to_label(folder):
  with open(os.path.join(folder, "to_label.csv"), newline="") as f:
    return list(csv.DictReader(f))


def _rounds(workdir):
  with open(os.path.join(workdir, "rounds.jsonl")) as f:
    return [json.loads(line) for line in f]


def _assert_csv_agrees_with_row(folder, row):
  """to_label.csv and the round's row of rounds.jsonl hold the same picks."""
  table = _to_label(folder)
  assert list(table[0]) == ["rank", "file", "score", "predicted_label", "confidence"]
  assert len(table) == len(row["picks"]) == row["budget"]
  for line, pick in zip(table, row["picks"]):
    assert int(line["rank"]) == pick["rank"]
    assert line["file"] == pick["file"]
    assert (line["score"] == "") if pick["score"] is None else (
        float(line["score"]) == pick["score"])
    assert line["predicted_label"] == pick["predicted_label"] in row["classes"]
    assert float(line["confidence"]) == pick["confidence"]
    assert 0 < pick["confidence"] <= 1


def _snapshot(workdir):
  """{path: sha256} of every file under workdir."""
  out = {}
  for folder, _, files in os.walk(workdir):
    for name in files:
      path = os.path.join(folder, name)
      with open(path, "rb") as f:
        out[os.path.relpath(path, workdir)] = hashlib.sha256(f.read()).hexdigest()
  return out


def _stable(row):
  """A row without its timings, the one thing two identical rounds may differ in."""
  return {k: v for k, v in row.items() if not k.endswith("_seconds")}


def _export(tasks, truth, cancelled=()):
  """A Label Studio JSON export of imported `tasks`, each annotated with its true label
  (tasks whose file is in `cancelled` get a cancelled annotation only)."""
  export = []
  for number, task in enumerate(tasks, start=1):
    file = task["data"]["file"]
    annotation = {"id": 100 + number, "completed_by": 1, "was_cancelled": file in cancelled,
                  "result": [] if file in cancelled else [{
                      "id": f"r{number}", "from_name": "choice", "to_name": "image",
                      "type": "choices", "origin": "manual",
                      "value": {"choices": [truth[file]]}}]}
    export.append({"id": number, "data": task["data"], "annotations": [annotation],
                   "predictions": task["predictions"], "project": 1})
  return export


def test_rounds_pick_unlabeled_images_and_come_back_labeled(pool, tmp_path, capsys, caplog):
  workdir = str(tmp_path / "W")
  config = _config(pool)
  first = query.run(config, workdir)
  out = capsys.readouterr().out
  assert "round 1" in out and f"{workdir}/round_1/to_label.csv" in out and "next:" in out
  row = first.row
  picked = [p["file"] for p in row["picks"]]
  assert row["round"] == 1 and len(set(picked)) == BUDGET
  assert not set(picked) & set(pool["labeled"])
  assert all(f in pool["pool_files"] for f in picked)          # never a test image
  assert row["score_name"] == "discriminator_probability"
  assert all(isinstance(p["score"], float) for p in row["picks"])
  assert row["num_labeled"] == NUM_LABELED
  assert row["num_unlabeled"] == NUM_POOL - NUM_LABELED and row["test_count"] == NUM_TEST
  _assert_csv_agrees_with_row(first.folder, row)
  assert _rounds(workdir) == [row]
  for name in ("picks.png", "label_studio_config.xml"):
    assert os.path.getsize(os.path.join(first.folder, name)) > 0
  assert os.path.getsize(os.path.join(workdir, "learning_curve.png")) > 0
  with open(os.path.join(first.folder, "label_studio_tasks.json")) as f:
    tasks = json.load(f)
  assert [t["data"]["file"] for t in tasks] == picked
  assert [t["predictions"][0]["result"][0]["value"]["choices"] for t in tasks] == [
      [p["predicted_label"] for p in row["picks"]][i:i + 1] for i in range(BUDGET)]

  # The same labels again: the same round, the same picks, its row replaced.
  again = query.run(config, workdir)
  assert again.redone and again.row["round"] == 1
  assert _stable(again.row) == _stable(row)
  assert [_stable(r) for r in _rounds(workdir)] == [_stable(row)]
  round_1 = _snapshot(first.folder)

  # The picks annotated in Label Studio: its export, beside the first labels, is round 2.
  export = str(tmp_path / "export.json")
  with open(export, "w") as f:
    json.dump(_export(tasks, pool["truth"]), f)
  config.dataset.labels = f"{pool['labels']},{export}"
  second = query.run(config, workdir)
  assert second.row["round"] == 2 and not second.redone
  assert second.row["num_labeled"] == NUM_LABELED + BUDGET
  labeled = set(pool["labeled"]) | set(picked)
  assert not {p["file"] for p in second.row["picks"]} & labeled
  _assert_csv_agrees_with_row(second.folder, second.row)
  assert [r["round"] for r in _rounds(workdir)] == [1, 2]
  assert _snapshot(first.folder) == round_1                    # round 1 left as it was

  # Half of round 2's picks labeled (in the CSV): round 3; the rest go back to the pool.
  more = dict(pool["labeled"])
  more.update({f: pool["truth"][f] for f in picked})
  waiting = [p["file"] for p in second.row["picks"]]
  more.update({f: pool["truth"][f] for f in waiting[:5]})
  config.dataset.labels = _write_csv(tmp_path / "more.csv", more)
  with caplog.at_level(logging.WARNING):
    third = query.run(config, workdir)
  assert third.row["round"] == 3 and third.unlabeled_picks == waiting[5:]
  assert "5 of the 10 images picked in round 2 still have no label" in caplog.text
  assert third.row["num_unlabeled"] == NUM_POOL - NUM_LABELED - BUDGET - 5
  assert [r["round"] for r in _rounds(workdir)] == [1, 2, 3]
  assert all(r["test_accuracy"] is not None for r in _rounds(workdir))


@pytest.mark.parametrize("strategy", STRATEGIES.names())
def test_every_strategy_runs_a_round(pool, tmp_path, strategy):
  result = query.run(_config(pool, strategy=strategy), str(tmp_path / "W"))
  row = result.row
  picked = [p["file"] for p in row["picks"]]
  assert len(set(picked)) == BUDGET and not set(picked) & set(pool["labeled"])
  _assert_csv_agrees_with_row(result.folder, row)
  assert _rounds(str(tmp_path / "W")) == [row]
  assert 0 <= row["test_accuracy"] <= 1
  if strategy == "random":
    assert row["score_name"] is None and all(p["score"] is None for p in row["picks"])
  else:
    assert isinstance(row["score_name"], str)
    assert all(isinstance(p["score"], float) for p in row["picks"]), row["picks"]


class _Crash(Exception):
  pass


def _crash_at(at):
  def hook(point, number):
    if point == at:
      raise _Crash(point)
  return hook


@pytest.mark.parametrize("point", ["select", "files"])
def test_a_round_stopped_midway_is_redone_with_the_same_picks(pool, done_round, tmp_path,
                                                              point):
  config = _config(pool, strategy="random")
  reference = _rounds(done_round)[0]      # the same round, uninterrupted
  workdir = str(tmp_path / "W")
  with pytest.raises(_Crash):
    query.run(config, workdir, hooks=[_crash_at(point)])
  assert not os.path.exists(os.path.join(workdir, "rounds.jsonl"))
  assert os.path.isdir(os.path.join(workdir, "round_1")) == (point == "files")
  result = query.run(config, workdir)
  assert result.row["round"] == 1 and not result.redone
  assert _stable(result.row)["picks"] == reference["picks"]
  assert len(_rounds(workdir)) == 1
  assert not [n for n in os.listdir(workdir) if n.startswith(".")]


def _query_process(workdir, pool, *flags, kill_at=None):
  env = dict(os.environ, JAX_DISABLE_MOST_OPTIMIZATIONS="1",
             JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS="0")
  command = (["tavaal_jax.query"] if kill_at is None
             else ["tests.kill_query", f"--kill_at={kill_at}"])
  return subprocess.run(
      [sys.executable, "-m", *command, "--config=configs/own_images.py",
       f"--config.dataset.path={pool['root']}", f"--config.dataset.labels={pool['labels']}",
       "--config.dataset.image_size=16", "--config.model.width=4", "--config.train.epochs=2",
       "--config.train.batch_size=8", f"--config.al.budget={BUDGET}",
       "--config.strategy.name=lloss", "--config.strategy.batch_size=16",
       f"--workdir={workdir}", *flags],
      cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)


def test_sigkill_during_training_then_rerun_gives_the_same_picks(pool, tmp_path):
  reference = _query_process(tmp_path / "reference", pool)
  assert reference.returncode == 0, reference.stderr[-3000:]
  assert "to_label.csv" in reference.stdout
  workdir = tmp_path / "W"
  killed = _query_process(workdir, pool, kill_at="train@1")
  assert killed.returncode == -signal.SIGKILL, killed.stderr[-3000:]
  assert not (workdir / "rounds.jsonl").exists() and not (workdir / "round_1").exists()
  rerun = _query_process(workdir, pool)
  assert rerun.returncode == 0, rerun.stderr[-3000:]
  rows, expected = _rounds(str(workdir)), _rounds(str(tmp_path / "reference"))
  assert [_stable(r) for r in rows] == [_stable(r) for r in expected]
  assert _to_label(workdir / "round_1") == _to_label(tmp_path / "reference" / "round_1")


def test_label_studio_tasks_come_back_as_labels(pool, tmp_path):
  files = pool["pool_files"][:6]
  picks = [{"rank": k + 1, "file": f, "score": 0.5, "predicted_label": "3",
            "confidence": 0.4} for k, f in enumerate(files)]
  tasks = label_studio.tasks(picks, round_number=1, model_version="m")
  assert [t["data"]["image"] for t in tasks] == [
      "/data/local-files/?d=" + f for f in files]
  export = _export(tasks, pool["truth"], cancelled=files[4:5])
  export[5]["annotations"] = []                       # not annotated yet
  # Tasks made in Label Studio itself have no data.file: local files under a document
  # root above the pool, and an uploaded copy (an 8-hex-digit prefix on its name).
  del export[0]["data"]["file"]
  export[0]["data"]["image"] = "/data/local-files/?d=photos/POOL/" + files[0]
  del export[1]["data"]["file"]
  export[1]["data"]["image"] = "/data/upload/1/1a2b3c4d-" + files[1].rsplit("/", 1)[-1]
  path = str(tmp_path / "export.json")
  with open(path, "w") as f:
    json.dump(export, f)
  labels = labels_file.read_labels(path, set(pool["pool_files"]), pool["root"],
                                   "dataset.labels")
  assert labels == {f: pool["truth"][f] for f in files[:4]}
  with open(tmp_path / "config.xml", "w") as f:
    f.write(label_studio.labeling_config(["0", "1"]))
  assert '<Choices name="choice" toName="image"' in open(tmp_path / "config.xml").read()


def test_unreadable_images_are_listed_and_left_out(pool, tmp_path):
  root = tmp_path / "POOL"
  shutil.copytree(pool["root"], root)
  (root / "a" / "broken.png").write_bytes(b"not a png at all")
  jpeg = root / "b" / "truncated.jpg"
  Image.fromarray(np.zeros((32, 32, 3), np.uint8) + 90).save(jpeg)
  jpeg.write_bytes(jpeg.read_bytes()[:200])
  config = _config(pool, strategy="random")
  config.dataset.path = str(root)
  config.dataset.test_labels = ""       # and no test labels: test/ is pool, no accuracy
  result = query.run(config, str(tmp_path / "W"))
  with open(os.path.join(result.folder, "unreadable.txt")) as f:
    listed = dict(line.rstrip("\n").split("\t") for line in f)
  assert sorted(listed) == ["a/broken.png", "b/truncated.jpg"]
  assert all(reason for reason in listed.values())
  assert result.row["num_unreadable"] == 2
  assert result.row["num_unlabeled"] == NUM_POOL + NUM_TEST - NUM_LABELED
  assert not set(listed) & {p["file"] for p in result.row["picks"]}
  assert "test_accuracy" not in result.row
  assert not (tmp_path / "W" / "learning_curve.png").exists()


@pytest.fixture(scope="module")
def done_round(pool, tmp_path_factory):
  """A workdir with round 1 done (random picks)."""
  workdir = str(tmp_path_factory.mktemp("done") / "W")
  query.run(_config(pool, strategy="random"), workdir)
  return workdir


def _labels_with(pool, path, *extra_rows, base=True):
  rows = dict(pool["labeled"]) if base else {}
  with open(path, "w") as f:
    f.write("file,label\n")
    for file, label in rows.items():
      f.write(f"{file},{label}\n")
    for line in extra_rows:
      f.write(line + "\n")
  return str(path)


def _bad_inputs(pool, tmp_path):
  """{case: (config changes, the one-line error)}; a case's labels file is written when
  its changes are made."""
  labeled = next(iter(pool["labeled"]))
  unlabeled = next(f for f in pool["pool_files"] if f not in pool["labeled"])
  labels = pool["labels"]
  number = NUM_LABELED + 2   # the line of the first extra row
  return {
      "file not in the pool": (
          lambda: {"labels": _labels_with(pool, tmp_path / "l.csv", "a/nope.png,3")},
          rf"error: .*l\.csv line {number} names 'a/nope\.png', which is not an image of the "
          r"pool .*POOL; fix the path \(relative to dataset\.path"),
      "empty label": (
          lambda: {"labels": _labels_with(pool, tmp_path / "l.csv", f"{unlabeled},")},
          rf"error: .*l\.csv line {number} gives '{unlabeled}' an empty label; write its "
          r"class name or delete the row"),
      "two labels": (
          lambda: {"labels": _labels_with(pool, tmp_path / "l.csv", f"{labeled},not_{labeled}")},
          rf"error: .*l\.csv line {number} labels '{labeled}' 'not_{labeled}' but .*l\.csv "
          rf"line 2 labels it '{pool['labeled'][labeled]}'; keep one of the two rows"),
      "test image in the labels": (
          lambda: {"labels": _labels_with(pool, tmp_path / "l.csv", "test/digit_149.png,9")},
          r"error: dataset\.test_labels .*test\.csv and dataset\.labels both hold 1 "
          r"image\(s\), e.g\. 'test/digit_149\.png'; .*delete it from one of the two files"),
      "one class": (
          lambda: {"labels": _labels_with(pool, tmp_path / "l.csv", "a/digit_000.png,0",
                                  "b/c/digit_001.png,0", base=False)},
          r"error: dataset\.labels .*l\.csv labels 1 class\(es\) \['0'\] among the readable "
          r"images; label images of at least two classes"),
      "budget over the unlabeled images": (
          lambda: {"labels": labels, "budget": NUM_POOL - NUM_LABELED + 1},
          rf"error: al\.budget={NUM_POOL - NUM_LABELED + 1} is larger than the "
          rf"{NUM_POOL - NUM_LABELED} unlabeled images of the pool .*; lower "
          r"--config\.al\.budget or add images to the pool"),
      "no pool folder": (
          lambda: {"labels": labels, "path": str(tmp_path / "nowhere")},
          r"error: dataset\.path '.*nowhere' is not a folder; set --config\.dataset\.path=POOL"),
  }


@pytest.mark.parametrize("case", ["file not in the pool", "empty label", "two labels",
                                  "test image in the labels", "one class",
                                  "budget over the unlabeled images", "no pool folder"])
def test_bad_input_is_one_line_exit_2_and_leaves_the_rounds_alone(
    pool, done_round, tmp_path, capsys, case):
  make_changes, message = _bad_inputs(pool, tmp_path)[case]
  changes = make_changes()
  config = _config(pool, strategy="random")
  config.dataset.labels = changes["labels"]
  config.dataset.path = changes.get("path", pool["root"])
  config.al.budget = changes.get("budget", BUDGET)
  before = _snapshot(done_round)
  capsys.readouterr()
  with pytest.raises(SystemExit) as exit_info:
    query.run(config, done_round)
  assert exit_info.value.code == 2
  errors = [line for line in capsys.readouterr().err.splitlines()
            if line.startswith("error:")]
  assert len(errors) == 1 and re.fullmatch(message + ".*", errors[0]), errors
  assert _snapshot(done_round) == before


def test_the_simulation_refuses_a_partly_labeled_pool(pool, tmp_path):
  with pytest.raises(ConfigError, match=r"holds images without labels.*tavaal_jax\.query"):
    experiment.run(_config(pool), str(tmp_path / "run"))
  assert not (tmp_path / "run").exists()
