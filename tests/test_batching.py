"""Index batching and on-device augmentation."""

import jax
import jax.numpy as jnp
import numpy as np

from tavaal_jax.data import augment
from tavaal_jax.data.batching import padded_batches, steps_per_epoch, train_index_batches


def test_train_batches_see_every_sample_each_epoch_with_fixed_shapes():
  rng = np.random.default_rng(0)
  batches = list(train_index_batches(10, 4, epochs=3, rng=rng))
  assert len(batches) == 3 * steps_per_epoch(10, 4) == 9
  assert all(b.shape == (4,) for b in batches)
  stream = np.concatenate(batches)
  # The stream is consecutive permutations: each block of 10 holds every sample once.
  for start in range(0, 30, 10):
    assert sorted(stream[start:start + 10]) == list(range(10))


def test_train_batches_when_the_pool_is_smaller_than_a_batch():
  batches = list(train_index_batches(3, 8, epochs=2, rng=np.random.default_rng(0)))
  assert len(batches) == 2
  assert set(np.concatenate(batches)) == {0, 1, 2}


def test_padded_batches_cover_every_index_exactly_once():
  indices = np.arange(100, 111)
  seen = []
  for chunk, mask in padded_batches(indices, 4):
    assert chunk.shape == mask.shape == (4,)
    seen.extend(chunk[mask])
  assert seen == list(indices)
  assert mask.tolist() == [True, True, True, False]


def test_normalize_uses_per_channel_constants():
  images = jnp.full((1, 2, 2, 2), 255, jnp.uint8)
  out = augment.normalize(images, jnp.array([0.5, 0.0]), jnp.array([0.5, 2.0]))
  np.testing.assert_allclose(out[0, 0, 0], [1.0, 0.5])


def test_random_crop_shifts_content_and_pads_with_zeros():
  images = jnp.ones((64, 4, 4, 1))
  cropped = augment.random_crop(jax.random.key(0), images, padding=2)
  assert cropped.shape == images.shape
  # Some crops reach into the zero padding, none invents values other than 0 and 1.
  assert set(np.unique(np.asarray(cropped))) == {0.0, 1.0}
  assert (np.asarray(cropped).sum(axis=(1, 2, 3)) < 16).any()


def test_random_flip_mirrors_some_images_only():
  images = jnp.arange(2 * 3).reshape(1, 1, 6, 1).repeat(32, axis=0).astype(jnp.float32)
  flipped = np.asarray(augment.random_flip(jax.random.key(1), images))
  mirrored = (flipped == np.asarray(images)[:, :, ::-1]).all(axis=(1, 2, 3))
  unchanged = (flipped == np.asarray(images)).all(axis=(1, 2, 3))
  assert (mirrored | unchanged).all() and mirrored.any() and unchanged.any()
