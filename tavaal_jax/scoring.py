"""One batched scoring pass over a pool of images.

`score_pool` maps a per-batch function over the images at `indices` of a source. The host
reads `scan_steps` batches at a time (one chunk), the device maps the function over the
chunk's batches with `jax.lax.map` in one dispatch, and only the per-sample outputs are
kept, so memory does not grow with the pool beyond them. The last chunk holds only the
batches it needs (fewer steps, a second compiled shape) and its last batch is padded and
masked: a padded row never reaches the result, and at most batch_size - 1 rows are padded.

A batch of `batch_size` samples that does not split evenly over the devices is placed as
`parallel.device_multiple(batch_size)` rows, the extra rows masked padding. The batches
(which samples, which key) are thus those of one device whatever the device count, so
even a per-batch random function (MC dropout) gives the same per-sample outputs.
"""

import functools
from typing import Any, Callable, Dict, Optional

import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import Mesh

from tavaal_jax import parallel, xla_cpu
from tavaal_jax.data.base import ImageSource
from tavaal_jax.data.batching import padded_batches

# batch_fn(state, images uint8 [B, H, W, C], extras {name: [B, ...]}, key) -> {name: [B, ...]}
BatchFn = Callable[[Any, jax.Array, Dict[str, jax.Array], jax.Array], Dict[str, jax.Array]]


# Forward passes only: faster without YNNPACK fusions on XLA:CPU (xla_cpu.py).
@functools.partial(xla_cpu.jit_without_ynn, static_argnums=(0,))
def _map_chunk(batch_fn: BatchFn, state, images, extras, keys):
  """images [S, B, ...], extras {name: [S, B, ...]}, keys [S] -> {name: [S, B, ...]}."""
  return jax.lax.map(lambda args: batch_fn(state, *args), (images, extras, keys))


def score_pool(batch_fn: BatchFn, state: Any, source: ImageSource, indices: np.ndarray, *,
               batch_size: int, mesh: Mesh, key: Optional[jax.Array] = None,
               extras: Optional[Dict[str, np.ndarray]] = None,
               scan_steps: int = 8, field: str = "scoring batch size"
               ) -> Dict[str, np.ndarray]:
  """Applies `batch_fn` to every image of `source` at `indices` [n], exactly once.

  batch_fn must be a pure function (it is jitted with `jax.lax.map` over batches); pass it
  as the same Python object across calls to reuse the compilation. `extras` are per-sample
  arrays aligned with `indices` ([n, ...]) handed to batch_fn batch by batch. `key` is
  folded with the batch number, so every batch draws different randomness. Pools smaller
  than `scan_steps` batches, and the last chunk of a pool, are mapped in fewer steps (one
  compilation per such step count, at most `scan_steps` over all calls).
  `field` names the config field of `batch_size` in the log line of `device_multiple`.
  Returns {name: np.ndarray [n, ...]} in the order of `indices`.
  """
  batch_size = int(batch_size)
  placed = parallel.device_multiple(batch_size, mesh, field)  # rows per placed batch
  indices = np.asarray(indices, np.int64)
  extras = {k: np.asarray(v) for k, v in (extras or {}).items()}
  key = jax.random.key(0) if key is None else key
  # Batches on axis 1 are split over devices; axis 0 is the lax.map axis. Each process
  # reads only its rows of every batch.
  rows = parallel.local_rows(mesh, placed)
  outputs = []
  scan_steps = max(1, scan_steps)
  chunk_size = batch_size * scan_steps
  for chunk_number, start in enumerate(range(0, len(indices), chunk_size)):
    real = np.arange(start, min(start + chunk_size, len(indices)))
    # A short (last) chunk maps only the batches it needs instead of padding to a full
    # chunk: 10,000 images at 500 x 8 process 10,000 rows, not 12,000.
    steps = -(-len(real) // batch_size)
    chunk_positions, mask = _placed_batches(real, steps, batch_size, placed)
    local_positions = chunk_positions[:, rows]
    images, _ = source.get(indices[local_positions.ravel()])
    images = images.reshape(local_positions.shape + images.shape[1:])
    chunk_extras = {k: v[local_positions] for k, v in extras.items()}
    # Batch numbers count from the pool's start, so a batch's key does not depend on
    # how the pool was cut into chunks.
    first = chunk_number * scan_steps
    keys = jax.vmap(lambda i: jax.random.fold_in(key, i))(jnp.arange(first, first + steps))
    images, chunk_extras = parallel.shard_batch(mesh, (images, chunk_extras), placed,
                                                axis=1)
    out = parallel.to_host(_map_chunk(batch_fn, state, images, chunk_extras, keys))
    outputs.append({k: v.reshape((steps * placed,) + v.shape[2:])[mask.ravel()]
                    for k, v in out.items()})
  if not outputs:
    return {}
  return {k: np.concatenate([o[k] for o in outputs]) for k in outputs[0]}


def _placed_batches(positions: np.ndarray, steps: int, batch_size: int, placed: int):
  """positions [n] (n <= steps * batch_size) -> (positions [steps, placed], mask [steps, placed]).

  Batch i holds positions[i * batch_size:(i + 1) * batch_size] in its first columns; the
  rest of its `placed` columns (and of the last batch) repeat positions[0], masked out.
  """
  padded, valid = next(padded_batches(positions, steps * batch_size))
  grid = np.full((steps, placed), positions[0], padded.dtype)
  mask = np.zeros((steps, placed), bool)
  grid[:, :batch_size] = padded.reshape(steps, batch_size)
  mask[:, :batch_size] = valid.reshape(steps, batch_size)
  return grid, mask
