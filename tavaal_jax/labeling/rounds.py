"""rounds.jsonl: one row per query round, and which round an invocation is.

A round is named by the labels it trained on (`labels_digest` of dataset.labels): an
invocation whose labels are those of the last row redoes that round (same streams, so the
same picks) and replaces its row; other labels make the next round. Rows of earlier rounds
are never rewritten. A round's row is written after its folder (round_outputs.py), so a
round killed before its row is written is simply done again.

A row: round, strategy, seed, budget, labels_files, labels_digest, (test_labels_files,
test_labels_digest), classes, num_labeled (images trained on), num_unlabeled,
num_candidates, num_unreadable, score_name, picks (rank, file, score, predicted_label,
confidence, as in to_label.csv), test_accuracy / test_loss / test_count with test labels,
train_loss, the strategy's diagnostics, train_seconds, select_seconds.
"""

import dataclasses
import os
from typing import Dict, List, Mapping, Optional

from tavaal_jax import outputs
from tavaal_jax.data.image_pool import WORKDIR_MARKER

ROUNDS_FILE = WORKDIR_MARKER


def rounds_path(workdir: str) -> str:
  return os.path.join(workdir, ROUNDS_FILE)


def read_rounds(workdir: str) -> List[Dict]:
  """The rows of <workdir>/rounds.jsonl (none when absent)."""
  return outputs.read_jsonl(rounds_path(workdir))


@dataclasses.dataclass(frozen=True)
class RoundPlan:
  """number: this round (1 first); redo: the labels are the last round's, which is done
  again; previous: the row of the round before this one (None in round 1)."""

  number: int
  redo: bool
  previous: Optional[Dict]


def plan_round(rows: List[Dict], labels_digest: str) -> RoundPlan:
  """Which round labels with `labels_digest` make, given the rows so far."""
  if not rows:
    return RoundPlan(1, False, None)
  last = rows[-1]
  if last["labels_digest"] == labels_digest:
    return RoundPlan(last["round"], True, rows[-2] if len(rows) > 1 else None)
  return RoundPlan(last["round"] + 1, False, last)


def still_unlabeled(previous: Optional[Dict], labels: Mapping[str, str]) -> List[str]:
  """The files `previous` picked that `labels` still lack, in pick order."""
  if previous is None:
    return []
  return [pick["file"] for pick in previous["picks"] if pick["file"] not in labels]


def record_round(workdir: str, rows: List[Dict], row: Dict, redo: bool) -> List[Dict]:
  """Appends `row`, or (redo) replaces the last row with it, atomically; returns all rows."""
  if redo:
    rows = rows[:-1] + [row]
    outputs.rewrite_jsonl(rounds_path(workdir), rows)
  else:
    if not outputs.is_clean_jsonl(rounds_path(workdir)):  # a torn last line: drop it
      outputs.rewrite_jsonl(rounds_path(workdir), rows)
    outputs.append_jsonl(rounds_path(workdir), row)
    rows = rows + [row]
  return rows
