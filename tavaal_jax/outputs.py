"""The files a run leaves in its workdir, written so that a kill never leaves half a row.

config.json   the full config of the run.
results.jsonl one row per (trial, stage): accuracy, sizes, timings.
picks.jsonl   one row per (trial, stage): the training-set indices added at that stage
              (stage 0: the initial pool), so the labeled set of stage s is the union of
              rows 0..s of its trial; for `npz` / `folder` datasets also their `names`.
checkpoints/  Orbax checkpoints, one per completed (trial, stage) (see checkpoint.py).
tensorboard/  TensorBoard event files (see metrics_writer.py).

Paths go through `etils.epath` (as Orbax's do), so a workdir may be local or a `gs://`
bucket. Only process 0 touches the workdir: it writes these files, and it alone reads them
when a run resumes (run_files.py hands its view to the other processes), so a workdir on
each host's own disk works as well as a shared one.
"""

import datetime
import json
import logging
import os
from typing import Dict, List, Optional, Union

import ml_collections
from etils import epath

from tavaal_jax.errors import ConfigError

CONFIG_FILE = "config.json"
RESULTS_FILE = "results.jsonl"
PICKS_FILE = "picks.jsonl"

PathLike = Union[str, os.PathLike]


def is_local(path: PathLike) -> bool:
  """A path of this machine's file system (not `gs://...` and the like)."""
  return "://" not in os.fspath(path)


def workdir_path(workdir: PathLike) -> epath.Path:
  """`workdir` as an epath.Path whose file system is reachable; a ConfigError naming the
  missing library otherwise (e.g. gs:// without gcsfs)."""
  path = epath.Path(workdir)
  try:
    path.exists()
  except ImportError as error:
    raise ConfigError(f"--workdir={workdir} cannot be reached: {error}; install the "
                      "library it names (for gs://: pip install gcsfs) or use a local "
                      "--workdir") from None
  return path


def append_jsonl(path: PathLike, row: Dict) -> None:
  """Appends one JSON line: locally with a single write() and an fsync; on object stores
  (which cannot append) by rewriting the file."""
  line = json.dumps(row, sort_keys=True) + "\n"
  if not is_local(path):
    path = epath.Path(path)
    old = path.read_text() if path.exists() else ""
    path.write_text(old + line)
    return
  fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
  try:
    os.write(fd, line.encode())
    os.fsync(fd)
  finally:
    os.close(fd)


def read_jsonl(path: PathLike) -> List[Dict]:
  """Rows of a JSONL file; a torn last line (a kill mid-write) is dropped with a warning."""
  path = epath.Path(path)
  if not path.exists():
    return []
  rows = []
  lines = path.read_text().splitlines()
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


def is_clean_jsonl(path: PathLike) -> bool:
  """True when `path` is absent, empty, or whole JSON lines ending in a newline: appending
  to it cannot glue a new row to a torn one."""
  path = epath.Path(path)
  if not path.exists():
    return True
  data = path.read_bytes()
  if not data:
    return True
  if not data.endswith(b"\n"):
    return False
  try:
    for line in data.splitlines():
      if line.strip():
        json.loads(line)
  except ValueError:
    return False
  return True


def _write_atomically(path: PathLike, text: str) -> None:
  """Temporary file, fsync (locally), rename over `path`."""
  path = epath.Path(path)
  tmp = path.with_name(path.name + ".tmp")
  if is_local(path):
    with open(tmp, "w") as f:
      f.write(text)
      f.flush()
      os.fsync(f.fileno())
  else:
    tmp.write_text(text)
  tmp.replace(path)


def rewrite_jsonl(path: PathLike, rows: List[Dict]) -> None:
  """Replaces a JSONL file atomically."""
  _write_atomically(path, "".join(json.dumps(row, sort_keys=True) + "\n" for row in rows))


def _flatten(tree, prefix=""):
  flat = {}
  for key, value in tree.items():
    name = f"{prefix}{key}"
    if isinstance(value, dict):
      flat.update(_flatten(value, name + "."))
    else:
      flat[name] = value
  return flat


def config_json(config: ml_collections.ConfigDict) -> Dict:
  """The config as the JSON object config.json holds."""
  return json.loads(config.to_json_best_effort(sort_keys=True))


def differing_fields(old: Dict, new: Dict) -> List[str]:
  """'field: old -> new' for each field where two config JSON objects differ, sorted."""
  old, new = _flatten(old), _flatten(new)
  return [f"{k}: {old.get(k)!r} -> {new.get(k)!r}"
          for k in sorted(set(old) | set(new)) if old.get(k) != new.get(k)]


def check_config_matches(workdir: PathLike, config: ml_collections.ConfigDict) -> None:
  """ConfigError naming the differing fields when `workdir` holds a run of another config
  (nothing to check when it holds none)."""
  path = workdir_path(workdir) / CONFIG_FILE
  if not path.exists():
    return
  differing = differing_fields(json.loads(path.read_text()), config_json(config))
  if differing:
    raise ConfigError(
        f"{workdir} holds a run made with a different config ({', '.join(differing[:8])}); "
        "use a new --workdir, the same config to resume, or --force to start over "
        "(the old workdir is moved aside)")


def write_or_check_config(workdir: PathLike, config: ml_collections.ConfigDict) -> None:
  """Writes config.json (creating the workdir), or checks that a workdir being resumed was
  made with this config. A workdir that cannot be written is a ConfigError."""
  path = workdir_path(workdir) / CONFIG_FILE
  if path.exists():
    check_config_matches(workdir, config)
    return
  try:
    path.parent.mkdir(parents=True, exist_ok=True)
    _write_atomically(path, json.dumps(config_json(config), indent=2, sort_keys=True))
  except OSError as error:
    raise ConfigError(f"--workdir={workdir} cannot be written ({error.strerror or error}); "
                      "choose a writable --workdir or fix its permissions") from None


def move_aside(workdir: PathLike) -> Optional[str]:
  """Renames an existing `workdir` to `<workdir>.old-<timestamp>` (never deletes it);
  returns the new name, or None when there was nothing to move."""
  workdir = os.path.normpath(workdir) if is_local(workdir) else os.fspath(workdir).rstrip("/")
  path = workdir_path(workdir)
  if not path.exists():
    return None
  stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
  target, n = f"{workdir}.old-{stamp}", 1
  while epath.Path(target).exists():
    n += 1
    target = f"{workdir}.old-{stamp}-{n}"
  try:
    path.rename(target)
  except OSError as error:
    raise ConfigError(f"--force cannot move {workdir} aside to {target} "
                      f"({error.strerror or error}); fix its permissions or choose "
                      "another --workdir") from None
  logging.warning("--force: moved the old %s aside to %s", workdir, target)
  return target
