r"""Runs one config for several strategies into sibling workdirs, then writes their report.

  python launch/sweep.py --config=configs/digits.py --strategies=random,lloss,tavaal \
      --trials=3 --workdir=runs/digits_sweep --set al.budget=40 --set seed=1

runs, one after the other,
  python -m tavaal_jax.main --config=CONFIG --workdir=WORKDIR/<strategy> \
      --config.strategy.name=<strategy> --config.trials=TRIALS --config.<field>=<value> ...
(`--config.<field>=<value>` may also be given to this script directly), then
  python -m tavaal_jax.report WORKDIR/<strategy> ... --out WORKDIR/report
Each run is its own `tavaal_jax.main` process, so it gets the driver's CPU tuning and its
compilation cache (README, "Compilation cache"): runs after the first load the steps they
share instead of compiling them again.

Rerunning the same command resumes: each run continues from its own workdir, and runs that
this sweep saw finish (recorded in WORKDIR/sweep.json with their command and a hash of the
config files) are skipped without starting the driver. A failing run stops the sweep with
that run's exit code. A strategy registered with dropout=True (mc_dropout) gets
--config.model.dropout_rate=0.3 unless it is set.
"""

import argparse
import hashlib
import json
import logging
import os
import shlex
import subprocess
import sys
from typing import Dict, List, Optional, Sequence

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RECORD_FILE = "sweep.json"
REPORT_DIR = "report"
MC_DROPOUT_RATE = "0.3"   # for the strategies registered with dropout=True
# Set by the sweep itself, not through --set.
_OWN_FIELDS = ("strategy.name", "trials")


class SweepError(Exception):
  """Bad sweep arguments; the message says what to change."""


def parse_args(argv: Sequence[str]) -> argparse.Namespace:
  parser = argparse.ArgumentParser(
      prog="python launch/sweep.py", allow_abbrev=False,
      description="Run a config for several strategies (sibling workdirs), then the report.")
  parser.add_argument("--config", required=True, help="config file, e.g. configs/digits.py")
  parser.add_argument("--strategies", required=True,
                      help="comma-separated strategy names, e.g. random,lloss,tavaal")
  parser.add_argument("--trials", type=int, default=None,
                      help="trials per strategy (default: the config's)")
  parser.add_argument("--workdir", required=True,
                      help="sweep folder: WORKDIR/<strategy> per run, WORKDIR/report")
  parser.add_argument("--set", action="append", default=[], metavar="FIELD=VALUE",
                      help="config override for every run, e.g. --set al.budget=500 "
                           "(repeatable)")
  parser.add_argument("--dry_run", action="store_true",
                      help="log the commands without running them")
  args, unknown = parser.parse_known_args(argv)
  stray = [a for a in unknown if not a.startswith("--config.")]
  if stray:
    parser.error(f"unrecognized arguments: {' '.join(stray)} (config overrides are "
                 "--set FIELD=VALUE or --config.FIELD=VALUE)")
  # --set and --config.* in the order given: a later value of a field wins, as in the driver.
  args.overrides = []
  tokens = iter(argv)
  for token in tokens:
    if token == "--set":
      args.overrides.append(next(tokens, ""))
    elif token.startswith("--set="):
      args.overrides.append(token[len("--set="):])
    elif token.startswith("--config."):
      if "=" not in token:
        parser.error(f"{token} must be --config.FIELD=VALUE (with '=')")
      args.overrides.append(token)
  return args


def overrides(args: argparse.Namespace) -> List[str]:
  """--set FIELD=VALUE and --config.FIELD=VALUE as driver flags, in the order given."""
  flags = []
  for item in args.overrides:
    field, sep, value = item.partition("=")
    field = field.strip().removeprefix("--").removeprefix("config.")
    if not sep or not field:
      raise SweepError(f"--set {item!r} must be FIELD=VALUE, e.g. --set al.budget=500")
    flags.append(f"--config.{field}={value}")
  for flag in flags:
    field = flag.split("=", 1)[0].removeprefix("--config.")
    if field in _OWN_FIELDS:
      raise SweepError(f"{field} is set by the sweep: use --strategies / --trials instead")
  return flags


def strategies(args: argparse.Namespace) -> List[str]:
  names = [s.strip() for s in args.strategies.split(",") if s.strip()]
  if not names:
    raise SweepError("--strategies is empty; e.g. --strategies=random,tavaal")
  duplicates = sorted({s for s in names if names.count(s) > 1})
  if duplicates:
    raise SweepError(f"--strategies names {', '.join(duplicates)} twice")
  if args.trials is not None and args.trials < 1:
    raise SweepError(f"--trials={args.trials} must be positive")
  from tavaal_jax.strategies import STRATEGIES  # here: it imports jax
  unknown = [s for s in names if s not in STRATEGIES]
  if unknown:
    raise SweepError(f"unknown strategy {', '.join(map(repr, unknown))} in --strategies; "
                     f"valid names: {', '.join(STRATEGIES.names())}")
  return names


def driver_command(args: argparse.Namespace, strategy: str, flags: List[str]) -> List[str]:
  """The tavaal_jax.main arguments of one run (without the interpreter)."""
  command = ["-m", "tavaal_jax.main", f"--config={args.config}",
             f"--workdir={os.path.join(args.workdir, strategy)}",
             f"--config.strategy.name={strategy}"]
  if args.trials is not None:
    command.append(f"--config.trials={args.trials}")
  command += flags
  from tavaal_jax.strategies import STRATEGIES  # here: it imports jax
  if STRATEGIES.trait(strategy, "dropout") and not any(
      f.startswith("--config.model.dropout_rate=") for f in flags):
    # MC dropout needs a dropout layer to sample; the config default has none.
    command.append(f"--config.model.dropout_rate={MC_DROPOUT_RATE}")
  return command


def config_hash(config_path: str) -> str:
  """sha256 of the config file and the .py files beside it (configs import each other)."""
  path = config_path.split(":")[0]
  folder = os.path.dirname(os.path.abspath(path))
  digest = hashlib.sha256()
  names = [os.path.join(folder, n) for n in sorted(os.listdir(folder)) if n.endswith(".py")]
  for name in [os.path.abspath(path)] + names:
    if os.path.isfile(name):
      with open(name, "rb") as f:
        digest.update(name.encode() + b"\0" + f.read())
  return digest.hexdigest()


def _results_rows(run_dir: str) -> int:
  path = os.path.join(run_dir, "results.jsonl")
  if not os.path.exists(path):
    return -1
  with open(path, "rb") as f:
    return sum(1 for line in f if line.strip())


def _read_record(workdir: str) -> Dict:
  path = os.path.join(workdir, RECORD_FILE)
  if not os.path.exists(path):
    return {}
  try:
    with open(path) as f:
      return json.load(f).get("finished", {})
  except (OSError, ValueError, AttributeError):
    logging.warning("%s is unreadable; every run is started again (each resumes)", path)
    return {}


def _write_record(workdir: str, finished: Dict) -> None:
  path = os.path.join(workdir, RECORD_FILE)
  with open(path + ".tmp", "w") as f:
    json.dump({"finished": finished}, f, indent=2, sort_keys=True)
  os.replace(path + ".tmp", path)


def _env() -> Dict[str, str]:
  """The environment of the runs: this checkout importable (tavaal_jax and configs)."""
  env = dict(os.environ)
  if os.path.isdir(os.path.join(ROOT, "tavaal_jax")):
    env["PYTHONPATH"] = os.pathsep.join(p for p in (ROOT, env.get("PYTHONPATH")) if p)
  return env


def _exit_code(returncode: int) -> int:
  return 128 - returncode if returncode < 0 else returncode  # killed by a signal


def sweep(argv: Sequence[str]) -> int:
  """Runs the sweep; returns the process exit code."""
  args = parse_args(argv)
  try:
    flags = overrides(args)
    names = strategies(args)
  except SweepError as error:
    print(f"error: {error}", file=sys.stderr)
    return 2
  if not os.path.isfile(args.config.split(":")[0]):
    print(f"error: --config={args.config} is not a file", file=sys.stderr)
    return 2
  os.makedirs(args.workdir, exist_ok=True)
  finished = _read_record(args.workdir)
  fingerprint = config_hash(args.config)
  for k, strategy in enumerate(names):
    run_dir = os.path.join(args.workdir, strategy)
    command = driver_command(args, strategy, flags)
    shown = "python " + shlex.join(command)
    done = finished.get(strategy)
    if (done and done.get("command") == command and done.get("config_hash") == fingerprint
        and done.get("results_rows") == _results_rows(run_dir)):
      logging.info("[%d/%d] %s finished earlier (%s); skipping", k + 1, len(names), strategy,
                   RECORD_FILE)
      continue
    logging.info("[%d/%d] %s: %s", k + 1, len(names), strategy, shown)
    if args.dry_run:
      continue
    returncode = subprocess.call([sys.executable] + command, env=_env())
    if returncode != 0:
      logging.error("run %r failed with exit code %d: %s\nits workdir is %s; fix the cause "
                    "and rerun this sweep to resume (finished runs are skipped)",
                    strategy, returncode, shown, run_dir)
      return _exit_code(returncode)
    finished[strategy] = {"command": command, "config_hash": fingerprint,
                          "results_rows": _results_rows(run_dir)}
    _write_record(args.workdir, finished)
  report = ["-m", "tavaal_jax.report", *(os.path.join(args.workdir, s) for s in names),
            "--out", os.path.join(args.workdir, REPORT_DIR)]
  logging.info("report: python %s", shlex.join(report))
  if args.dry_run:
    return 0
  returncode = subprocess.call([sys.executable] + report, env=_env())
  if returncode != 0:
    logging.error("the report failed with exit code %d", returncode)
    return _exit_code(returncode)
  logging.info("done: %s", os.path.join(args.workdir, REPORT_DIR))
  return 0


def main(argv: Optional[Sequence[str]] = None) -> int:
  logging.basicConfig(level=logging.INFO, format="sweep: %(message)s")
  if ROOT not in sys.path:
    sys.path.insert(0, ROOT)
  return sweep(sys.argv[1:] if argv is None else argv)


if __name__ == "__main__":
  sys.exit(main())
