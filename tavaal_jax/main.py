r"""Runs an active-learning experiment from a config file.

  python -m tavaal_jax.main --config=configs/digits.py
  python -m tavaal_jax.main --config=configs/cifar10.py --workdir=runs/c10 \
      --config.strategy.name=random --config.al.budget=500

Rerunning the same command with the same --workdir resumes where it stopped.
"""

import os
import sys

from absl import app, flags, logging
from ml_collections import config_flags

from tavaal_jax import experiment
from tavaal_jax.errors import UserError

_CONFIG = config_flags.DEFINE_config_file("config", None, "Path to a config file.",
                                          lock_config=True)
_WORKDIR = flags.DEFINE_string(
    "workdir", None, "Where results, picks and checkpoints go (default: runs/<config name>).")


def default_workdir(config_path: str) -> str:
  """runs/<config file name without .py>, e.g. runs/digits for configs/digits.py."""
  name = os.path.splitext(os.path.basename(config_path.split(":")[0]))[0]
  return os.path.join("runs", name)


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f"unexpected arguments: {' '.join(argv[1:])}")
  workdir = _WORKDIR.value or default_workdir(flags.FLAGS["config"].config_filename)
  logging.info("workdir: %s", workdir)
  try:
    experiment.run(_CONFIG.value, workdir)
  except UserError as error:
    # One clear line and a non-zero exit instead of a traceback: the input needs fixing.
    print(f"error: {error}", file=sys.stderr)
    sys.exit(2)


if __name__ == "__main__":
  flags.mark_flags_as_required(["config"])
  app.run(main)
