"""Index batching that never drops or duplicates a sample of a pool.

Training streams consecutive random permutations of the labeled pool and cuts the stream
into equal batches, so every batch has the same shape (one compilation) and every sample
is seen at least once per epoch. Evaluation and scoring pad the last batch and carry a
validity mask, so every sample is seen exactly once.
"""

import math
from typing import Iterator, Tuple

import numpy as np


def steps_per_epoch(num_samples: int, batch_size: int) -> int:
  return max(1, math.ceil(num_samples / batch_size))


def train_index_batches(num_samples: int, batch_size: int, epochs: int,
                        rng: np.random.Generator) -> Iterator[np.ndarray]:
  """Yields epochs x steps_per_epoch batches of positions in [0, num_samples), each [batch_size].

  The positions come from a stream of fresh permutations, so a short last batch of one
  epoch is filled from the next permutation instead of being dropped or padded (padding
  would bias BatchNorm statistics).
  """
  total = epochs * steps_per_epoch(num_samples, batch_size) * batch_size
  buffer = np.empty(0, np.int64)
  produced = 0
  while produced < total:
    while len(buffer) < batch_size:
      buffer = np.concatenate([buffer, rng.permutation(num_samples)])
    yield buffer[:batch_size]
    buffer = buffer[batch_size:]
    produced += batch_size


def padded_batches(indices: np.ndarray, batch_size: int
                   ) -> Iterator[Tuple[np.ndarray, np.ndarray]]:
  """Splits `indices` [n] into ([batch_size] indices, [batch_size] bool mask) pairs.

  The last batch is padded by repeating its first index, with mask False on the padding.
  """
  indices = np.asarray(indices)
  for start in range(0, len(indices), batch_size):
    chunk = indices[start:start + batch_size]
    mask = np.zeros(batch_size, bool)
    mask[:len(chunk)] = True
    if len(chunk) < batch_size:
      chunk = np.concatenate([chunk, np.full(batch_size - len(chunk), chunk[0])])
    yield chunk, mask
