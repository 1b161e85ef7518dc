r"""Runs an active-learning experiment from a config file.

  python -m tavaal_jax.main --config=configs/digits.py
  python -m tavaal_jax.main --config=configs/cifar10.py --workdir=runs/c10 \
      --config.strategy.name=random --config.al.budget=500

Rerunning the same command with the same --workdir resumes after the last completed stage
(its Orbax checkpoint); --force starts over, moving the old workdir aside to
<workdir>.old-<timestamp>. TensorBoard events go to <workdir>/tensorboard.
"""

import functools
import os
from typing import Sequence

from absl import app, flags, logging

from tavaal_jax import cli, distributed, experiment, metrics_writer
from tavaal_jax.cli import QuietOrbax, exit_on_user_error, prepare_process

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


def main(argv, hooks: Sequence[experiment.Hook] = ()):
  """The driver; `hooks` go to `experiment.run` (see `run_cli`)."""
  if len(argv) > 1:
    raise app.UsageError(f"unexpected arguments: {' '.join(argv[1:])}")
  prepare_process()
  logging.get_absl_handler().addFilter(QuietOrbax())
  workdir = cli.workdir()
  logging.info("workdir: %s", workdir)
  # Event files appear on the first write, so a refused run leaves none behind.
  writer = metrics_writer.create_default_writer(
      os.path.join(workdir, experiment.TENSORBOARD_DIR))
  try:
    with exit_on_user_error():
      distributed.initialize(_COORDINATOR.value, _NUM_PROCESSES.value, _PROCESS_ID.value,
                             auto=_DISTRIBUTED_AUTO.value)
      experiment.run(cli.CONFIG.value, workdir, force=_FORCE.value, writer=writer,
                     hooks=hooks)
  finally:
    writer.close()


def run_cli(hooks: Sequence[experiment.Hook] = ()) -> None:
  """Parses the command line and runs `main`; a program that wraps the driver (e.g. the
  tests' kill-and-resume runs) passes its hooks here."""
  flags.mark_flags_as_required(["config"])
  app.run(functools.partial(main, hooks=hooks))


if __name__ == "__main__":
  run_cli()
