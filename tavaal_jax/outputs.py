"""The files a run leaves in its workdir, written so that a kill never leaves half a row.

config.json   the full config of the run.
results.jsonl one row per (trial, stage): accuracy, sizes, timings.
picks.jsonl   one row per (trial, stage): the training-set indices added at that stage
              (stage 0: the initial pool), so the labeled set of stage s is the union of
              rows 0..s of its trial; for `npz` / `folder` datasets also their `names`.
checkpoints/  Orbax checkpoints, one per completed (trial, stage) (see checkpoint.py).
tensorboard/  TensorBoard event files (see metrics_writer.py).

Only process 0 writes (`parallel.is_writer()`); on the others every write here is a no-op.
"""

import datetime
import json
import logging
import os
from typing import Dict, List, Optional

import ml_collections

from tavaal_jax import parallel
from tavaal_jax.errors import ConfigError

CONFIG_FILE = "config.json"
RESULTS_FILE = "results.jsonl"
PICKS_FILE = "picks.jsonl"


def append_jsonl(path: str, row: Dict) -> None:
  """Appends one JSON line with a single write() and fsyncs it."""
  if not parallel.is_writer():
    return
  line = (json.dumps(row, sort_keys=True) + "\n").encode()
  fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
  try:
    os.write(fd, line)
    os.fsync(fd)
  finally:
    os.close(fd)


def read_jsonl(path: str) -> List[Dict]:
  """Rows of a JSONL file; a torn last line (a kill mid-write) is dropped with a warning."""
  if not os.path.exists(path):
    return []
  rows = []
  with open(path) as f:
    lines = f.read().splitlines()
  for number, line in enumerate(lines):
    if not line.strip():
      continue
    try:
      rows.append(json.loads(line))
    except json.JSONDecodeError:
      if number != len(lines) - 1:
        raise ConfigError(f"{path} line {number + 1} is not JSON; the file is corrupt: "
                          "restore it or start a new --workdir")
      logging.warning("%s: dropping a torn last line", path)
  return rows


def is_clean_jsonl(path: str) -> bool:
  """True when `path` is absent, empty, or whole JSON lines ending in a newline: appending
  to it cannot glue a new row to a torn one."""
  if not os.path.exists(path) or os.path.getsize(path) == 0:
    return True
  with open(path, "rb") as f:
    data = f.read()
  if not data.endswith(b"\n"):
    return False
  try:
    for line in data.splitlines():
      if line.strip():
        json.loads(line)
  except ValueError:
    return False
  return True


def rewrite_jsonl(path: str, rows: List[Dict]) -> None:
  """Replaces a JSONL file atomically (temporary file, fsync, rename)."""
  if not parallel.is_writer():
    return
  tmp = path + ".tmp"
  with open(tmp, "w") as f:
    for row in rows:
      f.write(json.dumps(row, sort_keys=True) + "\n")
    f.flush()
    os.fsync(f.fileno())
  os.replace(tmp, path)


def _flatten(tree, prefix=""):
  flat = {}
  for key, value in tree.items():
    name = f"{prefix}{key}"
    if isinstance(value, dict):
      flat.update(_flatten(value, name + "."))
    else:
      flat[name] = value
  return flat


def check_config_matches(workdir: str, config: ml_collections.ConfigDict) -> None:
  """ConfigError naming the differing fields when `workdir` holds a run of another config
  (nothing to check when it holds none)."""
  path = os.path.join(workdir, CONFIG_FILE)
  if not os.path.exists(path):
    return
  current = json.loads(config.to_json_best_effort(sort_keys=True))
  with open(path) as f:
    previous = json.load(f)
  old, new = _flatten(previous), _flatten(current)
  differing = sorted(k for k in set(old) | set(new) if old.get(k) != new.get(k))
  if differing:
    details = ", ".join(f"{k}: {old.get(k)!r} -> {new.get(k)!r}" for k in differing[:8])
    raise ConfigError(
        f"{workdir} holds a run made with a different config ({details}); "
        "use a new --workdir, the same config to resume, or --force to start over "
        "(the old workdir is moved aside)")


def write_or_check_config(workdir: str, config: ml_collections.ConfigDict) -> None:
  """Writes config.json, or checks that a workdir being resumed was made with this config."""
  path = os.path.join(workdir, CONFIG_FILE)
  if os.path.exists(path):
    check_config_matches(workdir, config)
    return
  if not parallel.is_writer():
    return
  current = json.loads(config.to_json_best_effort(sort_keys=True))
  os.makedirs(workdir, exist_ok=True)
  tmp = path + ".tmp"
  with open(tmp, "w") as f:
    json.dump(current, f, indent=2, sort_keys=True)
  os.replace(tmp, path)


def move_aside(workdir: str) -> Optional[str]:
  """Renames an existing `workdir` to `<workdir>.old-<timestamp>` (never deletes it);
  returns the new name, or None when there was nothing to move."""
  workdir = os.path.normpath(workdir)
  if not os.path.exists(workdir) or not parallel.is_writer():
    return None
  stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
  target, n = f"{workdir}.old-{stamp}", 1
  while os.path.exists(target):
    n += 1
    target = f"{workdir}.old-{stamp}-{n}"
  os.rename(workdir, target)
  logging.warning("--force: moved the old %s aside to %s", workdir, target)
  return target
