"""Starting JAX's distributed runtime for runs over several processes (hosts).

One process per host (or per GPU), all running the same command. Each process trains on
its shard of every batch; JAX's collectives keep parameters identical everywhere.
"""

import json
import logging
import os
from typing import Any, Callable, Dict, Optional

import jax
import numpy as np
from jax.experimental import multihost_utils

from tavaal_jax.errors import ConfigError, UserError

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



# ----------------------------------------------------------------------------- process 0 decides
# A run's workdir may be one shared file system (SLURM, a gs:// bucket) or each host's own
# disk (a TPU VM's workers): only process 0 reads and writes it, and what it finds there
# (the rows to resume from, a bad config) reaches every process through these.


def broadcast_json(value: Any) -> Any:
  """Process 0's JSON-serialisable `value` on every process (`value` elsewhere is ignored)."""
  if jax.process_count() == 1:
    return value
  data = json.dumps(value).encode() if jax.process_index() == 0 else b""
  size = int(multihost_utils.broadcast_one_to_all(np.int64(len(data))))
  buffer = np.zeros(size, np.uint8)
  if jax.process_index() == 0:
    buffer[:] = np.frombuffer(data, np.uint8)
  return json.loads(np.asarray(multihost_utils.broadcast_one_to_all(buffer)).tobytes())


def from_process_zero(compute: Callable[[], Any]) -> Any:
  """Runs `compute()` on process 0 only and returns its (JSON-serialisable) result on every
  process. A UserError raised there is raised on every process, with the same message, so
  all of them stop with the same one line instead of waiting for each other."""
  if jax.process_count() == 1:
    return compute()
  outcome, failure = None, None
  if jax.process_index() == 0:
    try:
      outcome = {"value": compute()}
    except UserError as error:
      outcome = {"user_error": str(error)}
    except BaseException as error:  # pylint: disable=broad-except
      outcome, failure = {"failed": f"{type(error).__name__}: {error}"}, error
  outcome = broadcast_json(outcome)
  if failure is not None:
    raise failure
  if "user_error" in outcome:
    raise ConfigError(outcome["user_error"])
  if "failed" in outcome:
    raise RuntimeError(f"process 0 failed: {outcome['failed']}")
  return outcome["value"]


def check_same_config(config_json: Dict) -> None:
  """ConfigError on every process unless all processes run with the same config (JSON).

  Each process compares its config with process 0's and names the fields it differs in."""
  if jax.process_count() == 1:
    return
  from tavaal_jax.outputs import differing_fields   # outputs imports nothing of ours
  differing = differing_fields(broadcast_json(config_json), config_json)
  disagree = np.asarray(multihost_utils.process_allgather(np.int32(bool(differing))))
  if disagree.any():
    processes = ", ".join(str(i) for i in np.flatnonzero(disagree))
    here = (f"; this process (process {jax.process_index()}) differs in "
            f"{', '.join(differing[:8])} (process 0's value -> this one's)" if differing else "")
    raise ConfigError(f"the processes disagree on the config: process(es) {processes} run "
                      f"another config than process 0{here}; run the same command and "
                      "config file on every host")
