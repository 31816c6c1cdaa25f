"""The 50% history pool: fill phase, swap phase, size 0."""

import jax
import jax.numpy as jnp
import numpy as np

from i2ijax.train.image_pool import init_pool, query_pool


def _images(start, n):
  return jnp.arange(start, start + n, dtype=jnp.float32).reshape(n, 1, 1, 1) * jnp.ones((n, 2, 2, 1))


def test_fill_phase_returns_inputs_and_stores_them():
  pool = init_pool(5, (2, 2, 1))
  pool, out = query_pool(pool, _images(1, 3), jax.random.key(0))
  np.testing.assert_array_equal(out, _images(1, 3))
  assert int(pool.count) == 3
  np.testing.assert_array_equal(pool.images[:3], _images(1, 3))


def test_full_pool_swaps_half_the_time():
  size = 10
  pool = init_pool(size, (2, 2, 1))
  pool, _ = query_pool(pool, _images(0, size), jax.random.key(0))
  assert int(pool.count) == size
  n = 4000
  new = _images(1000, n)
  pool2, out = query_pool(pool, new, jax.random.key(1))
  returned_new = np.asarray(out[:, 0, 0, 0] == new[:, 0, 0, 0])
  # Each query returns the new image with probability 0.5.
  assert 0.45 < returned_new.mean() < 0.55
  # Whatever came back from the pool had been stored before that query.
  old_values = np.asarray(out[~returned_new, 0, 0, 0])
  assert np.all((old_values < size) | ((old_values >= 1000) & (old_values < 1000 + n)))
  # Every value in the pool now is an original or a new image, each at most once.
  vals = np.asarray(pool2.images[:, 0, 0, 0])
  assert len(set(vals.tolist())) == size


def test_swapped_out_image_is_the_replaced_one():
  pool = init_pool(1, (2, 2, 1))
  pool, _ = query_pool(pool, _images(7, 1), jax.random.key(0))
  # With one slot, a swap returns 7 and stores the new image.
  for seed in range(20):
    p2, out = query_pool(pool, _images(9, 1), jax.random.key(seed))
    v = float(out[0, 0, 0, 0])
    stored = float(p2.images[0, 0, 0, 0])
    assert (v, stored) in ((7.0, 9.0), (9.0, 7.0))


def test_size_zero_is_identity():
  pool = init_pool(0, (2, 2, 1))
  x = _images(3, 2)
  pool2, out = query_pool(pool, x, jax.random.key(0))
  np.testing.assert_array_equal(out, x)
  assert pool2.images.shape[0] == 0
