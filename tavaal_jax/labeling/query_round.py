"""One query round on the user's images: check the input, train a fresh task learner on the
labeled images, pick al.budget of the unlabeled ones with strategy.name, predict their
classes, and write the round's folder and row.

The stage is the simulation's (stage.train_and_pick) with trial 0 and the round number as
its stage, so its draws come from the streams of (seed, round): the same labels give the
same picks, whether the round is run again or was killed and restarted.

All input is checked before anything is written: bad input is a UserError and leaves the
workdir as it was. Hooks: `run_round(..., hooks=[h])` calls h(point, round) at HOOK_POINTS.
"""

import dataclasses
import json
import logging
import os
from typing import Callable, Dict, List, Optional, Sequence

import ml_collections
import numpy as np

from tavaal_jax import config_checks, outputs, parallel, stage
from tavaal_jax.data import load_dataset
from tavaal_jax.data.image_pool import PoolSource
from tavaal_jax.errors import ConfigError
from tavaal_jax.labeling import figures, label_studio, labels_file, round_outputs, rounds
from tavaal_jax.learner import Learner
from tavaal_jax.scoring import score_pool
from tavaal_jax.strategies import STRATEGIES

POOL_DATASET = "image_pool"
LEARNING_CURVE = "learning_curve.png"
# Where `run_round` calls its hooks: 'train' (after each training epoch), 'select' (the
# picks known, nothing written), 'files' (the round's folder written, its row not).
HOOK_POINTS = ("train", "select", "files")
Hook = Callable[[str, int], None]   # hook(point, round number)


@dataclasses.dataclass
class RoundResult:
  row: Dict          # the round's row of rounds.jsonl
  folder: str        # <workdir>/round_<k>
  redone: bool       # the labels were the last round's: it was done again
  unlabeled_picks: List[str]  # files the round before picked that are still unlabeled


def _call(hooks: Sequence[Hook], point: str, number: int) -> None:
  for hook in hooks:
    hook(point, number)


def _check_workdir(workdir: str) -> None:
  if not outputs.is_local(workdir):
    raise ConfigError(f"--workdir={workdir}: the query rounds write a local folder; give a "
                      "path on this machine")
  if os.path.exists(os.path.join(workdir, outputs.RESULTS_FILE)):
    raise ConfigError(f"--workdir={workdir} holds a simulation run (results.jsonl); give "
                      "the query rounds a workdir of their own")


def predictions(learner: Learner, state, dataset, indices: np.ndarray,
                batch_size: int) -> Dict[str, np.ndarray]:
  """The trained learner's class and softmax confidence for the images `indices` [k]:
  {'class_id': int [k], 'confidence': float [k]}."""
  logits = score_pool(learner.scoring_fn(("logits",)), state, dataset.train, indices,
                      batch_size=batch_size, mesh=learner.mesh,
                      field="strategy.batch_size")["logits"].astype(np.float64)
  logits -= logits.max(-1, keepdims=True)
  probabilities = np.exp(logits)
  probabilities /= probabilities.sum(-1, keepdims=True)
  return {"class_id": probabilities.argmax(-1), "confidence": probabilities.max(-1)}


def _picks(selection, dataset, predicted: Dict[str, np.ndarray]) -> List[Dict]:
  """The rows of to_label.csv (and of the round's row), in pick order."""
  files = dataset.train.names(selection.indices)
  scores = selection.scores_json()
  return [{"rank": rank, "file": file, "score": score,
           "predicted_label": str(dataset.class_names[int(class_id)]),
           "confidence": round(float(confidence), 6)}
          for rank, (file, score, class_id, confidence)
          in enumerate(zip(files, scores, predicted["class_id"], predicted["confidence"]),
                       start=1)]


def run_round(config: ml_collections.ConfigDict, workdir: str,
              hooks: Sequence[Hook] = ()) -> RoundResult:
  """Runs (or redoes) the query round that the labels make (rounds.py); see the module
  docstring. Returns what it wrote."""
  config_checks.check_config(config)
  if config.dataset.name != POOL_DATASET:
    raise ConfigError(f"dataset.name={config.dataset.name!r}: the query rounds run on the "
                      f"user's images; set --config.dataset.name={POOL_DATASET} (as "
                      "configs/own_images.py does)")
  _check_workdir(workdir)
  dataset = load_dataset(config.dataset)
  train: PoolSource = dataset.train
  config_checks.check_image_fit(config, dataset.image_shape)
  labeled_idx, unlabeled_idx = train.labeled_idx(), train.unlabeled_idx()
  if config.al.budget > len(unlabeled_idx):
    raise ConfigError(f"al.budget={config.al.budget} is larger than the {len(unlabeled_idx)} "
                      f"unlabeled images of the pool {config.dataset.path}; lower "
                      "--config.al.budget or add images to the pool")
  rows = rounds.read_rounds(workdir)
  digest = labels_file.labels_digest(train.given_labels)
  plan = rounds.plan_round(rows, digest)
  number = plan.number

  waiting = rounds.still_unlabeled(plan.previous, train.given_labels)
  if waiting and not plan.redo:
    logging.warning("%d of the %d images picked in round %d still have no label in %s; "
                    "they go back to the pool", len(waiting), len(plan.previous["picks"]),
                    plan.previous["round"], config.dataset.labels)
  unreadable_labeled = [f for f, _ in train.unreadable if f in train.given_labels]
  if train.unreadable:
    logging.warning("%d image(s) cannot be read and are left out (%d of them labeled), "
                    "e.g. %s: %s; see round_%d/%s", len(train.unreadable),
                    len(unreadable_labeled), *train.unreadable[0], number,
                    round_outputs.UNREADABLE)
  if plan.redo:
    logging.info("the labels are those of round %d: doing round %d again", number, number)
    _warn_on_config_change(workdir, number, config)

  os.makedirs(workdir, exist_ok=True)
  round_outputs.remove_leftovers(workdir, number)
  learner = Learner(dataset, config, parallel.make_mesh())
  select = STRATEGIES.get(config.strategy.name)
  test_source = dataset.test if len(dataset.test) else None
  out = stage.train_and_pick(
      config, dataset, learner, select, labeled_idx, unlabeled_idx, trial=0, stage=number,
      test_source=test_source, description=f"round {number}",
      after_epoch=lambda epoch: _call(hooks, "train", number),
      after_select=lambda selection: _call(hooks, "select", number))
  selection = out.selection
  predicted = predictions(learner, out.fit.state, dataset, selection.indices,
                          config.strategy.batch_size)
  picks = _picks(selection, dataset, predicted)
  row = _row(config, number, digest, dataset, labeled_idx, unlabeled_idx, out, learner, picks,
             selection.score_name)

  def write(folder: str) -> None:
    round_outputs.write_to_label(os.path.join(folder, round_outputs.TO_LABEL), picks)
    labeling = config.get("labeling") or {}
    names = {"choices_name": labeling.get("choices_name", label_studio.DEFAULT_CHOICES_NAME),
             "image_name": labeling.get("image_name", label_studio.DEFAULT_IMAGE_NAME)}
    round_outputs.write_json(os.path.join(folder, round_outputs.TASKS), label_studio.tasks(
        picks, round_number=number,
        model_version=f"tavaal_jax round {number} {config.strategy.name}",
        image_url_prefix=labeling.get("image_url_prefix",
                                      label_studio.DEFAULT_IMAGE_URL_PREFIX), **names))
    with open(os.path.join(folder, round_outputs.LABELING_CONFIG), "w") as f:
      f.write(label_studio.labeling_config(dataset.class_names, **names))
    if train.unreadable:
      round_outputs.write_unreadable(os.path.join(folder, round_outputs.UNREADABLE),
                                     train.unreadable)
    round_outputs.write_json(os.path.join(folder, round_outputs.CONFIG),
                             outputs.config_json(config))
    figures.pick_grid(train.get(selection.indices)[0], picks,
                      os.path.join(folder, round_outputs.PICKS_PICTURE),
                      f"round {number}: the {len(picks)} images {config.strategy.name} picked "
                      f"from {len(out.candidate_idx)} unlabeled, in pick order, with the "
                      "model's guess")

  folder = round_outputs.write_round(workdir, number, write)
  _call(hooks, "files", number)
  rows = rounds.record_round(workdir, rows, row, plan.redo)
  if any(r.get("test_accuracy") is not None for r in rows):
    partial = os.path.join(workdir, "." + LEARNING_CURVE)
    figures.learning_curve(rows, partial)
    os.replace(partial, os.path.join(workdir, LEARNING_CURVE))
  return RoundResult(row, folder, plan.redo, waiting)


def _warn_on_config_change(workdir: str, number: int, config) -> None:
  """A round redone with another config picks other images: say which fields changed."""
  path = os.path.join(round_outputs.round_folder(workdir, number), round_outputs.CONFIG)
  if not os.path.isfile(path):
    return
  with open(path) as f:
    differing = outputs.differing_fields(json.load(f), outputs.config_json(config))
  if differing:
    logging.warning("round %d is redone with a different config (%s): its picks may change",
                    number, ", ".join(differing[:8]))


def _paths(value: str) -> List[str]:
  """The absolute paths of a labels field (one path, or several separated by commas)."""
  return [os.path.abspath(p.strip()) for p in value.split(",") if p.strip()]


def _row(config, number: int, digest: str, dataset, labeled_idx: np.ndarray,
         unlabeled_idx: np.ndarray, out: stage.StageResult, learner: Learner,
         picks: List[Dict], score_name: Optional[str]) -> Dict:
  train: PoolSource = dataset.train
  fit = out.fit
  row = {
      "round": number, "strategy": config.strategy.name, "seed": config.seed,
      "budget": config.al.budget, "labels_files": _paths(config.dataset.labels),
      "labels_digest": digest, "classes": list(dataset.class_names),
      "num_labeled": int(len(labeled_idx)), "num_unlabeled": int(len(unlabeled_idx)),
      "num_candidates": int(len(out.candidate_idx)), "num_unreadable": len(train.unreadable),
      "score_name": score_name, "picks": picks,
      "train_loss": fit.epoch_loss[-1], "train_loss_per_epoch": fit.epoch_loss,
      "train_seconds": out.train_seconds, "select_seconds": out.select_seconds,
  }
  if train.given_test_labels:
    row.update(test_labels_files=_paths(config.dataset.test_labels),
               test_labels_digest=labels_file.labels_digest(train.given_test_labels))
  if out.test is not None:
    row.update(test_accuracy=float(out.test["accuracy"]), test_loss=float(out.test["loss"]),
               test_count=int(out.test["count"]))
  if learner.has_ranker:
    row.update(ranker_loss_name=config.ranker.loss, ranking_loss=fit.epoch_ranking_loss[-1])
    if out.test is not None:
      row["ranker_spearman"] = stage.json_float(out.test["ranker_spearman"])
  row.update(out.diagnostics)
  return row
