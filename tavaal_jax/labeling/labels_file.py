"""The user's labels: which pool images have which class, read from a CSV or a Label Studio
JSON export, and checked row by row.

A CSV starts with the header `file,label` (later columns are ignored); each row names an
image by its path relative to the pool folder (dataset.path), folders separated by '/', and
its class name. A file ending in .json is read as a Label Studio export (label_studio.py).
Every problem is a DataError naming the file, the line (or task) and the fix.
"""

import csv
import dataclasses
import hashlib
import os
from typing import Collection, Dict, List

from tavaal_jax.errors import DataError

HEADER = ("file", "label")


@dataclasses.dataclass(frozen=True)
class LabelRow:
  """One label as read. file: relative to the pool, '/'-separated; where: e.g.
  'labels.csv line 7' or 'export.json task 12' (the path as given), for messages."""

  file: str
  label: str
  where: str


def normalise_file(name: str, pool_root: str) -> str:
  """A file as the labels name it -> its path relative to the pool with '/' separators
  (an absolute path inside the pool is made relative; './' and '\\' are tidied)."""
  name = name.strip()
  if os.path.isabs(name):
    relative = os.path.relpath(name, pool_root)
    if not relative.startswith(".."):
      name = relative
  name = name.replace("\\", "/")
  while name.startswith("./"):
    name = name[2:]
  return name


def read_csv_rows(path: str, pool_root: str) -> List[LabelRow]:
  """The rows of a `file,label` CSV, in file order (blank lines skipped)."""
  with open(path, newline="", encoding="utf-8-sig") as f:
    lines = list(csv.reader(f))
  if not lines or [c.strip().lower() for c in lines[0][:2]] != list(HEADER):
    raise DataError(f"{path} line 1 must be the header 'file,label' (then one row per "
                    "labeled image: its path relative to dataset.path, its class name)")
  rows = []
  for number, line in enumerate(lines[1:], start=2):
    if not any(cell.strip() for cell in line):
      continue
    file = normalise_file(line[0], pool_root)
    label = line[1].strip() if len(line) > 1 else ""
    rows.append(LabelRow(file, label, f"{path} line {number}"))
  return rows


def check_rows(rows: List[LabelRow], pool_files: Collection[str],
               pool_root: str) -> Dict[str, str]:
  """{file: label} of `rows`, after checking that each names an image of the pool, has a
  label, and agrees with every other row of the same file."""
  labels: Dict[str, str] = {}
  first: Dict[str, LabelRow] = {}
  for row in rows:
    if not row.file:
      raise DataError(f"{row.where} has no file name; write the image's path "
                      "relative to dataset.path or delete the row")
    if row.file not in pool_files:
      raise DataError(f"{row.where} names {row.file!r}, which is not an image of "
                      f"the pool {pool_root}; fix the path (relative to dataset.path, '/' "
                      "between folders) or delete the row")
    if not row.label:
      raise DataError(f"{row.where} gives {row.file!r} an empty label; write its "
                      "class name or delete the row")
    if row.file in labels and labels[row.file] != row.label:
      raise DataError(f"{row.where} labels {row.file!r} {row.label!r} but "
                      f"{first[row.file].where} labels it {labels[row.file]!r}; keep one "
                      "of the two rows")
    labels.setdefault(row.file, row.label)
    first.setdefault(row.file, row)
  return labels


def read_labels(paths: str, pool_files: Collection[str], pool_root: str,
                field: str) -> Dict[str, str]:
  """{file: class name} of the labels files `paths` (the value of config field `field`:
  one path, or several separated by commas, e.g. the first labels and a Label Studio export),
  each a CSV or a Label Studio JSON export (by its .json suffix), checked together against
  `pool_files`."""
  from tavaal_jax.labeling import label_studio
  names = [p.strip() for p in (paths or "").split(",") if p.strip()]
  if not names:
    raise DataError(f"{field} is not set; set --config.{field}=LABELS.csv (a header "
                    "'file,label', then one row per labeled image) or a Label Studio JSON "
                    "export")
  rows = []
  for path in names:
    if not os.path.isfile(path):
      raise DataError(f"{field} {path!r} is not a file; set --config.{field}=LABELS.csv (a "
                      "header 'file,label', then one row per labeled image) or a Label "
                      "Studio JSON export")
    if path.lower().endswith(".json"):
      rows += label_studio.read_export(path, pool_files, pool_root)
    else:
      rows += read_csv_rows(path, pool_root)
  return check_rows(rows, pool_files, pool_root)


def labels_digest(labels: Dict[str, str]) -> str:
  """'sha256:<hex>' of the labels themselves, whatever the file's format or row order:
  the same labels give the same digest."""
  digest = hashlib.sha256()
  for file in sorted(labels):
    digest.update(f"{file}\t{labels[file]}\n".encode())
  return "sha256:" + digest.hexdigest()

