r"""Runs an active-learning experiment from a config file.

  python -m tavaal_jax.main --config=configs/digits.py
  python -m tavaal_jax.main --config=configs/cifar10.py --workdir=runs/c10 \
      --config.strategy.name=random --config.al.budget=500

Rerunning the same command with the same --workdir resumes after the last completed stage
(its Orbax checkpoint); --force starts over, moving the old workdir aside to
<workdir>.old-<timestamp>. TensorBoard events go to <workdir>/tensorboard.
"""

import functools
import logging as python_logging
import os
import sys
from typing import Sequence

from absl import app, flags, logging
from ml_collections import config_flags

from tavaal_jax import (compile_cache, cpu_tuning, distributed, experiment,
                        metrics_writer)
from tavaal_jax.errors import UserError

_CONFIG = config_flags.DEFINE_config_file("config", None, "Path to a config file.",
                                          lock_config=True)
_WORKDIR = flags.DEFINE_string(
    "workdir", None, "Where results, picks and checkpoints go (default: runs/<config name>).")
# Several processes (hosts): see README "Scaling out" and launch/.
_COORDINATOR = flags.DEFINE_string(
    "coordinator_address", None, "host:port of process 0, for a run over several processes.")
_NUM_PROCESSES = flags.DEFINE_integer("num_processes", None, "Processes in the run.")
_PROCESS_ID = flags.DEFINE_integer("process_id", None, "This process's index, 0-based.")
_DISTRIBUTED_AUTO = flags.DEFINE_bool(
    "distributed_auto", False, "Let JAX find the other processes (Cloud TPU, SLURM, MPI).")
_FORCE = flags.DEFINE_bool(
    "force", False, "Start over: move an existing --workdir aside to "
    "<workdir>.old-<timestamp> (never deleted) instead of resuming it.")
# Compile once per machine, not once per run (tavaal_jax/compile_cache.py).
_COMPILATION_CACHE = flags.DEFINE_bool(
    "compilation_cache", True, "Keep compiled XLA programs on disk for later runs "
    "(--nocompilation_cache: off, also for JAX_COMPILATION_CACHE_DIR).")
_COMPILATION_CACHE_DIR = flags.DEFINE_string(
    "compilation_cache_dir", None, "Folder of the compilation cache (default: "
    "JAX_COMPILATION_CACHE_DIR, else $XDG_CACHE_HOME/tavaal_jax/jax_cache, ~/.cache/...).")


def default_workdir(config_path: str) -> str:
  """runs/<config file name without .py>, e.g. runs/digits for configs/digits.py."""
  name = os.path.splitext(os.path.basename(config_path.split(":")[0]))[0]
  return os.path.join("runs", name)


class _QuietOrbax:
  """Drops Orbax's per-save INFO lines (tens per checkpoint); its warnings still show."""

  def filter(self, record) -> bool:
    return record.levelno > python_logging.INFO or "orbax" not in record.pathname


def prepare_process() -> None:
  """What must precede JAX's backend and first compilation: the CPU tuning (on a CPU
  backend only) and the compilation cache of the flags."""
  cpu_tuning.apply()
  if _COMPILATION_CACHE.value:
    compile_cache.enable(_COMPILATION_CACHE_DIR.value)
  else:
    compile_cache.disable()


def main(argv, hooks: Sequence[experiment.Hook] = ()):
  """The driver; `hooks` go to `experiment.run` (see `run_cli`)."""
  if len(argv) > 1:
    raise app.UsageError(f"unexpected arguments: {' '.join(argv[1:])}")
  prepare_process()
  logging.get_absl_handler().addFilter(_QuietOrbax())
  workdir = _WORKDIR.value or default_workdir(flags.FLAGS["config"].config_filename)
  logging.info("workdir: %s", workdir)
  # Event files appear on the first write, so a refused run leaves none behind.
  writer = metrics_writer.create_default_writer(
      os.path.join(workdir, experiment.TENSORBOARD_DIR))
  try:
    distributed.initialize(_COORDINATOR.value, _NUM_PROCESSES.value, _PROCESS_ID.value,
                           auto=_DISTRIBUTED_AUTO.value)
    experiment.run(_CONFIG.value, workdir, force=_FORCE.value, writer=writer, hooks=hooks)
  except UserError as error:
    # One clear line and a non-zero exit instead of a traceback: the input needs fixing.
    print(f"error: {error}", file=sys.stderr)
    sys.exit(2)
  finally:
    writer.close()


def run_cli(hooks: Sequence[experiment.Hook] = ()) -> None:
  """Parses the command line and runs `main`; a program that wraps the driver (e.g. the
  tests' kill-and-resume runs) passes its hooks here."""
  flags.mark_flags_as_required(["config"])
  app.run(functools.partial(main, hooks=hooks))


if __name__ == "__main__":
  run_cli()
