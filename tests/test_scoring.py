"""The scoring pass equals a plain per-batch loop, pads and masks, and never drops a row."""

import logging
import types

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from tavaal_jax import parallel
from tavaal_jax.data.base import ArraySource
from tavaal_jax.scoring import _placed_batches, score_pool


def _batch_fn(state, images, extras, key):
  x = images.astype(jnp.float32).reshape(images.shape[0], -1)
  noise = jax.random.uniform(key, (images.shape[0],))
  return {"score": x @ state + extras["offset"], "noise": noise,
          "pair": jnp.stack([x.sum(1), x.max(1)], axis=1)}


@pytest.mark.parametrize("n, batch_size, scan_steps", [(37, 4, 3), (8, 4, 2), (1, 2, 8)])
def test_scoring_pass_matches_a_per_batch_loop(n, batch_size, scan_steps):
  rng = np.random.default_rng(0)
  images = rng.integers(0, 255, (50, 3, 3, 1), np.uint8)
  source = ArraySource(images, np.zeros(50))
  weights = jnp.asarray(rng.normal(size=9), jnp.float32)
  indices = rng.permutation(50)[:n]
  offset = rng.normal(size=n).astype(np.float32)
  out = score_pool(_batch_fn, weights, source, indices, batch_size=batch_size,
                   mesh=parallel.make_mesh(), extras={"offset": offset},
                   scan_steps=scan_steps, key=jax.random.key(3))
  assert set(out) == {"score", "noise", "pair"}
  assert out["score"].shape == (n,) and out["pair"].shape == (n, 2)
  for i, index in enumerate(indices):
    x = images[index].reshape(-1).astype(np.float32)
    expected = {"score": x @ np.asarray(weights) + offset[i]}
    np.testing.assert_allclose(out["score"][i], expected["score"], rtol=1e-5)
    np.testing.assert_allclose(out["pair"][i], [x.sum(), x.max()], rtol=1e-6)
  # Each batch gets its own randomness.
  assert len(np.unique(out["noise"])) == n


def test_empty_pool_gives_empty_result():
  source = ArraySource(np.zeros((4, 2, 2, 1), np.uint8), np.zeros(4))
  out = score_pool(_batch_fn, jnp.zeros(4), source, np.array([], np.int64), batch_size=2,
                   mesh=parallel.make_mesh(), extras={"offset": np.zeros(0)})
  assert out == {}


class _CountingSource(ArraySource):
  """An ArraySource that counts the rows it is asked for."""

  rows_read = 0

  def get(self, indices):
    self.rows_read += len(indices)
    return super().get(indices)


def test_last_chunk_is_short_and_keys_do_not_depend_on_chunking():
  """37 images in batches of 4, 3 per chunk: the last chunk maps one batch (40 rows read,
  not 48), and every batch draws the same randomness however the pool is chunked."""
  rng = np.random.default_rng(0)
  images = rng.integers(0, 255, (50, 3, 3, 1), np.uint8)
  indices = rng.permutation(50)[:37]
  runs = {}
  for scan_steps in (3, 1, 10):
    source = _CountingSource(images, np.zeros(50))
    runs[scan_steps] = score_pool(
        _batch_fn, jnp.ones(9), source, indices, batch_size=4, mesh=parallel.make_mesh(),
        extras={"offset": np.zeros(37, np.float32)}, scan_steps=scan_steps,
        key=jax.random.key(5))
    assert source.rows_read == 40
  for scan_steps in (1, 10):
    np.testing.assert_array_equal(runs[scan_steps]["noise"], runs[3]["noise"])
    np.testing.assert_array_equal(runs[scan_steps]["score"], runs[3]["score"])


def test_batches_that_the_devices_do_not_divide_are_padded_not_regrouped():
  """10 positions in batches of 4 placed as 8 rows (e.g. on 8 devices): each batch keeps
  the samples it has on one device, the extra rows masked."""
  grid, mask = _placed_batches(np.arange(20, 30), steps=3, batch_size=4, placed=8)
  assert grid.shape == mask.shape == (3, 8)
  assert grid[mask].tolist() == list(range(20, 30))
  assert grid[0, :4].tolist() == [20, 21, 22, 23] and grid[2, :2].tolist() == [28, 29]
  assert mask.sum(1).tolist() == [4, 4, 2] and not mask[:, 4:].any()


def test_device_multiple_rounds_up_and_logs_once(caplog):
  eight = types.SimpleNamespace(devices=np.zeros(8))
  with caplog.at_level(logging.INFO):
    assert parallel.device_multiple(500, eight, "test.batch_size") == 504
    assert parallel.device_multiple(500, eight, "test.batch_size") == 504
    assert parallel.device_multiple(16, eight, "test.batch_size") == 16
  logs = [r.getMessage() for r in caplog.records if "test.batch_size" in r.getMessage()]
  assert logs == ["test.batch_size=500 is not a multiple of the 8 devices in use: batches "
                  "of 504 rows are placed instead (per-sample results are unchanged)"]
