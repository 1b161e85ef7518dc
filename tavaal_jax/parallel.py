"""The device mesh: batches sharded on a `data` axis, model state replicated.

`jax.jit` over arrays placed with these shardings is the modern form of `pmap`: one code
path serves one device, N devices and N hosts, and XLA inserts the cross-device reductions
(e.g. BatchNorm statistics over the global batch).
"""

from typing import Optional

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
  """Every device must get the same number of rows of a batch."""
  n = mesh.devices.size
  if batch_size % n:
    raise ConfigError(
        f"{field}={batch_size} is not divisible by the {n} devices in use; "
        f"set it to a multiple of {n}")


def is_writer() -> bool:
  """Only process 0 writes files (results, picks, plots, logs) when several hosts run."""
  return jax.process_index() == 0
