"""The device mesh: batches sharded on a `data` axis, model state replicated.

`jax.jit` over arrays placed with these shardings is the modern form of `pmap`: one code
path serves one device, N devices and N hosts, and XLA inserts the cross-device reductions
(e.g. BatchNorm statistics over the global batch).
"""

import jax
import numpy as np
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


def shard_batch(mesh: Mesh, tree):
  """Places host arrays [B, ...] on the mesh, split along B."""
  return jax.device_put(tree, batch_sharding(mesh))


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
