"""The device mesh: batches sharded on a `data` axis, model state replicated.

`jax.jit` over arrays placed with these shardings is the modern form of `pmap`: one code
path serves one device, N devices and N hosts, and XLA inserts the cross-device reductions
(e.g. BatchNorm statistics over the global batch).
"""

import logging
from typing import Optional, Set, Tuple

import jax
import numpy as np
from jax.experimental import multihost_utils
from jax.sharding import Mesh, NamedSharding, PartitionSpec

from tavaal_jax.errors import ConfigError

DATA_AXIS = "data"


def make_mesh(devices=None) -> Mesh:
  """A 1-D mesh over all (or the given) devices."""
  devices = np.asarray(jax.devices() if devices is None else devices)
  return Mesh(devices.reshape(-1), (DATA_AXIS,))


def batch_sharding(mesh: Mesh) -> NamedSharding:
  """Leading (batch) axis split over devices."""
  return NamedSharding(mesh, PartitionSpec(DATA_AXIS))


def replicated(mesh: Mesh) -> NamedSharding:
  """A full copy on every device (parameters, optimizer state)."""
  return NamedSharding(mesh, PartitionSpec())


def local_rows(mesh: Mesh, global_batch: int) -> slice:
  """The rows [start, stop) of a batch of `global_batch` that this process's devices hold.

  With one process: all of them. With several hosts each process reads and places only
  these rows of every batch (its devices' shards are contiguous on the 1-D mesh).
  """
  if jax.process_count() == 1:
    return slice(0, global_batch)
  index_map = batch_sharding(mesh).addressable_devices_indices_map((global_batch,))
  starts = sorted(index[0].start or 0 for index in index_map.values())
  stops = sorted(global_batch if index[0].stop is None else index[0].stop
                 for index in index_map.values())
  rows = slice(starts[0], stops[-1])
  if stops[-1] - starts[0] != sum(b - a for a, b in zip(starts, stops)):
    raise RuntimeError(f"this process's shards of the batch are not contiguous: {index_map}")
  return rows


def shard_batch(mesh: Mesh, tree, global_batch: Optional[int] = None, axis: int = 0):
  """Places this process's rows of a batch on the mesh, split along the batch axis.

  tree: host arrays whose axis `axis` holds this process's `local_rows` of a batch of
  `global_batch` rows (with one process: the whole batch, and global_batch may be None).
  """
  spec = PartitionSpec(*([None] * axis + [DATA_AXIS]))
  sharding = NamedSharding(mesh, spec)
  if jax.process_count() == 1:
    return jax.device_put(tree, sharding)

  def place(local):
    shape = list(local.shape)
    shape[axis] = global_batch
    return jax.make_array_from_process_local_data(sharding, local, tuple(shape))

  return jax.tree_util.tree_map(place, tree)


def to_host(tree):
  """Device arrays -> numpy on every process (gathered across hosts when several run)."""
  if jax.process_count() == 1:
    return jax.device_get(tree)
  return multihost_utils.process_allgather(tree, tiled=True)


def assert_same_on_all_hosts(value: np.ndarray, what: str) -> None:
  """Fails loudly if the processes disagree (e.g. on the picks of a stage)."""
  if jax.process_count() > 1:
    multihost_utils.assert_equal(value, f"processes disagree on {what}")


def replicate(mesh: Mesh, tree):
  return jax.device_put(tree, replicated(mesh))


def check_batch_size(batch_size: int, mesh: Mesh, field: str) -> None:
  """Every device must get the same number of rows of a training batch.

  For batches whose size changes the optimisation (train.batch_size, vae.batch_size), so
  they are never changed silently; evaluation and scoring use `device_multiple` instead.
  """
  n = mesh.devices.size
  if batch_size % n:
    raise ConfigError(
        f"{field}={batch_size} is not divisible by the {n} devices in use; set it to a "
        f"multiple of {n} (e.g. {max(1, batch_size // n) * n})")


# (field, configured size, devices) already logged by `device_multiple`.
_ROUNDING_LOGGED: Set[Tuple[str, int, int]] = set()


def device_multiple(batch_size: int, mesh: Mesh, field: str) -> int:
  """`batch_size` rounded up to a multiple of the mesh's devices: the rows to place.

  For evaluation and scoring batches, whose per-sample results do not depend on how a
  pool is cut into batches (the extra rows are padding, masked out), so their sizes are an
  implementation detail and run unchanged on any device count. Logs once per process for
  each (field, size, device count) it rounds, not once per batch.
  """
  n = mesh.devices.size
  rounded = -(-int(batch_size) // n) * n
  if rounded != batch_size and (field, int(batch_size), n) not in _ROUNDING_LOGGED:
    _ROUNDING_LOGGED.add((field, int(batch_size), n))
    logging.info("%s=%d is not a multiple of the %d devices in use: batches of %d rows "
                 "are placed instead (per-sample results are unchanged)", field, batch_size,
                 n, rounded)
  return rounded


def is_writer() -> bool:
  """Only process 0 writes files (results, picks, plots, logs) when several hosts run."""
  return jax.process_index() == 0
