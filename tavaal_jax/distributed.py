"""Starting JAX's distributed runtime for runs over several processes (hosts).

One process per host (or per GPU), all running the same command. Each process trains on
its shard of every batch; JAX's collectives keep parameters identical everywhere.
"""

import logging
import os
from typing import Optional

import jax

from tavaal_jax.errors import ConfigError

# Environments where `jax.distributed.initialize()` finds the coordinator by itself.
_AUTO_DETECTED = ("TPU_WORKER_HOSTNAMES", "SLURM_JOB_ID", "OMPI_COMM_WORLD_SIZE")


def initialize(coordinator_address: Optional[str] = None,
               num_processes: Optional[int] = None,
               process_id: Optional[int] = None,
               auto: bool = False) -> None:
  """Joins the processes of a multi-host run; does nothing for a single-process run.

  Explicit arguments (flags) win; `auto` lets JAX detect the cluster (Cloud TPU, SLURM,
  Open MPI). On CPU the cross-process collectives use gloo.
  """
  explicit = coordinator_address is not None or num_processes is not None
  if not explicit and not auto:
    return
  if explicit and (coordinator_address is None or num_processes is None
                   or process_id is None):
    raise ConfigError("--coordinator_address, --num_processes and --process_id go together; "
                      "give all three (or --distributed_auto on TPU / SLURM)")
  if explicit and not 0 <= process_id < num_processes:
    raise ConfigError(f"--process_id={process_id} must be in [0, {num_processes})")
  # Cross-process collectives of the CPU backend (harmless where GPUs or TPUs compute).
  jax.config.update("jax_cpu_collectives_implementation", "gloo")
  if explicit:
    jax.distributed.initialize(coordinator_address=coordinator_address,
                               num_processes=num_processes, process_id=process_id)
  else:
    if not any(name in os.environ for name in _AUTO_DETECTED):
      logging.warning("--distributed_auto: no TPU / SLURM / MPI environment found; "
                      "jax.distributed.initialize() may fail")
    jax.distributed.initialize()
  logging.info("process %d of %d, %d local of %d devices", jax.process_index(),
               jax.process_count(), jax.local_device_count(), jax.device_count())

