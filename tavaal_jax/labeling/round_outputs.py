"""A round's files, written as one folder <workdir>/round_<k>/ that appears whole or not at
all: they are written into a hidden .round_<k>.partial/ first, which is then renamed.

  to_label.csv              rank,file,score,predicted_label,confidence; rank 1 = label first
  label_studio_tasks.json   the picks as Label Studio import tasks, the prediction as a
                            pre-annotation (label_studio.py)
  label_studio_config.xml   the labeling config those tasks fit (one choice per class)
  picks.png                 the picked images with their rank and prediction
  unreadable.txt            file<TAB>reason of each image left out (only when there are)
  config.json               the config of the round
"""

import csv
import json
import os
import shutil
from typing import Callable, Dict, Sequence, Tuple

PICK_COLUMNS = ("rank", "file", "score", "predicted_label", "confidence")
TO_LABEL = "to_label.csv"
TASKS = "label_studio_tasks.json"
LABELING_CONFIG = "label_studio_config.xml"
PICKS_PICTURE = "picks.png"
UNREADABLE = "unreadable.txt"
CONFIG = "config.json"


def round_folder(workdir: str, number: int) -> str:
  return os.path.join(workdir, f"round_{number}")


def _partial(workdir: str, number: int) -> str:
  return os.path.join(workdir, f".round_{number}.partial")


def _replaced(workdir: str, number: int) -> str:
  return os.path.join(workdir, f".round_{number}.replaced")


def remove_leftovers(workdir: str, number: int) -> None:
  """Removes what a round killed while writing its folder left behind (hidden folders only;
  round_<k>/ itself is replaced only by `write_round`)."""
  for path in (_partial(workdir, number), _replaced(workdir, number)):
    if os.path.isdir(path):
      shutil.rmtree(path)


def write_round(workdir: str, number: int, write: Callable[[str], None]) -> str:
  """Calls write(folder) on an empty hidden folder, then makes it round_<number>/ (replacing
  a folder of that round done before); returns the folder."""
  remove_leftovers(workdir, number)
  partial, final = _partial(workdir, number), round_folder(workdir, number)
  os.makedirs(partial)
  write(partial)
  if os.path.isdir(final):
    os.rename(final, _replaced(workdir, number))
  os.rename(partial, final)
  remove_leftovers(workdir, number)
  return final


def _csv_value(value):
  return "" if value is None else value


def write_to_label(path: str, picks: Sequence[Dict]) -> None:
  """to_label.csv: one row per pick in pick order (an empty score where there is none)."""
  with open(path, "w", newline="") as f:
    writer = csv.DictWriter(f, fieldnames=list(PICK_COLUMNS))
    writer.writeheader()
    for pick in picks:
      writer.writerow({k: _csv_value(pick[k]) for k in PICK_COLUMNS})


def write_unreadable(path: str, unreadable: Sequence[Tuple[str, str]]) -> None:
  with open(path, "w") as f:
    for file, reason in unreadable:
      f.write(f"{file}\t{' '.join(reason.split())}\n")


def write_json(path: str, value) -> None:
  with open(path, "w") as f:
    json.dump(value, f, indent=2, sort_keys=False)
    f.write("\n")
