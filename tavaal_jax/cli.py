"""What the command-line drivers (main.py, query.py) share: the --config, --workdir and
compilation-cache flags, the process setup that must precede JAX's backend, and bad input
turned into one `error: ...` line and exit code 2.

Importing this module defines those absl flags (as any absl program's flag module does);
`import tavaal_jax` does not import it.
"""

import contextlib
import logging as python_logging
import os
import sys

from absl import flags
from ml_collections import config_flags

from tavaal_jax import compile_cache, cpu_tuning
from tavaal_jax.errors import UserError

CONFIG = config_flags.DEFINE_config_file("config", None, "Path to a config file.",
                                         lock_config=True)
WORKDIR = flags.DEFINE_string(
    "workdir", None, "Where the run's files go (default: runs/<config name>).")
# Compile once per machine, not once per run (tavaal_jax/compile_cache.py).
COMPILATION_CACHE = flags.DEFINE_bool(
    "compilation_cache", True, "Keep compiled XLA programs on disk for later runs "
    "(--nocompilation_cache: off, also for JAX_COMPILATION_CACHE_DIR).")
COMPILATION_CACHE_DIR = flags.DEFINE_string(
    "compilation_cache_dir", None, "Folder of the compilation cache (default: "
    "JAX_COMPILATION_CACHE_DIR, else $XDG_CACHE_HOME/tavaal_jax/jax_cache, ~/.cache/...).")


def default_workdir(config_path: str) -> str:
  """runs/<config file name without .py>, e.g. runs/digits for configs/digits.py."""
  name = os.path.splitext(os.path.basename(config_path.split(":")[0]))[0]
  return os.path.join("runs", name)


def workdir() -> str:
  """--workdir, or `default_workdir` of --config."""
  return WORKDIR.value or default_workdir(flags.FLAGS["config"].config_filename)


class QuietOrbax:
  """Drops Orbax's per-save INFO lines (tens per checkpoint); its warnings still show."""

  def filter(self, record) -> bool:
    return record.levelno > python_logging.INFO or "orbax" not in record.pathname


def prepare_process() -> None:
  """What must precede JAX's backend and first compilation: the CPU tuning (on a CPU
  backend only) and the compilation cache of the flags."""
  cpu_tuning.apply()
  if COMPILATION_CACHE.value:
    compile_cache.enable(COMPILATION_CACHE_DIR.value)
  else:
    compile_cache.disable()


@contextlib.contextmanager
def exit_on_user_error():
  """A `UserError` inside becomes one line `error: <message>` on stderr and exit code 2,
  instead of a traceback: the input needs fixing, not the program."""
  try:
    yield
  except UserError as error:
    print(f"error: {error}", file=sys.stderr)
    sys.exit(2)
