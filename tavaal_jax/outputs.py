"""The files a run leaves in its workdir, written so that a kill never leaves half a row.

config.json   the full config of the run.
results.jsonl one row per (trial, stage): accuracy, sizes, timings.
picks.jsonl   one row per (trial, stage): the training-set indices added at that stage
              (stage 0: the initial pool), so the labeled set of stage s is the union of
              rows 0..s of its trial.
"""

import json
import logging
import os
from typing import Dict, List

import ml_collections

from tavaal_jax.errors import ConfigError

CONFIG_FILE = "config.json"
RESULTS_FILE = "results.jsonl"
PICKS_FILE = "picks.jsonl"


def append_jsonl(path: str, row: Dict) -> None:
  """Appends one JSON line with a single write() and fsyncs it."""
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


def rewrite_jsonl(path: str, rows: List[Dict]) -> None:
  """Replaces a JSONL file atomically (temporary file, fsync, rename)."""
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


def write_or_check_config(workdir: str, config: ml_collections.ConfigDict) -> None:
  """Writes config.json, or checks that a workdir being resumed was made with this config."""
  path = os.path.join(workdir, CONFIG_FILE)
  current = json.loads(config.to_json_best_effort(sort_keys=True))
  if os.path.exists(path):
    with open(path) as f:
      previous = json.load(f)
    old, new = _flatten(previous), _flatten(current)
    differing = sorted(k for k in set(old) | set(new) if old.get(k) != new.get(k))
    if differing:
      details = ", ".join(f"{k}: {old.get(k)!r} -> {new.get(k)!r}" for k in differing[:8])
      raise ConfigError(
          f"{workdir} holds a run made with a different config ({details}); "
          "use a new --workdir, or the same config to resume")
    return
  tmp = path + ".tmp"
  with open(tmp, "w") as f:
    json.dump(current, f, indent=2, sort_keys=True)
  os.replace(tmp, path)
