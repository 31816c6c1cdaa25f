"""The history buffer of generated images (Shrivastava et al. 2017; CycleGAN sec. 4).

A functional twin of the official `util/image_pool.py`, kept inside the train
state so the step stays jittable and the pool survives checkpoint/resume.
Each image of a batch is queried in turn:
- while the pool holds fewer than `size` images, the new image is stored and
  returned;
- afterwards, with probability 0.5 a uniformly chosen stored image is returned
  and the new image takes its slot; otherwise the new image is returned.
"""

import flax.struct
import jax
import jax.numpy as jnp


@flax.struct.dataclass
class ImagePool:
  images: jax.Array  # [size, H, W, C]
  count: jax.Array  # int32 scalar: number of filled slots

  @property
  def size(self) -> int:
    return self.images.shape[0]


def init_pool(size: int, image_shape, dtype=jnp.float32) -> ImagePool:
  """An empty pool of `size` images of shape `image_shape` (H, W, C)."""
  return ImagePool(jnp.zeros((size, *image_shape), dtype), jnp.zeros((), jnp.int32))


def query_pool(pool: ImagePool, images: jax.Array, key) -> tuple[ImagePool, jax.Array]:
  """Returns (new pool, images for the discriminator); `images` is [N, H, W, C]."""
  if pool.size == 0:
    return pool, images
  images = jax.lax.stop_gradient(images)

  def one(carry, inputs):
    stored, count = carry
    image, k = inputs
    k_swap, k_idx = jax.random.split(k)
    full = count >= pool.size
    swap = jax.random.uniform(k_swap) > 0.5
    idx = jnp.where(full, jax.random.randint(k_idx, (), 0, pool.size), count)
    old = stored[idx]
    store = jnp.logical_or(~full, swap)
    out = jnp.where(full & swap, old, image)
    stored = stored.at[idx].set(jnp.where(store, image, old).astype(stored.dtype))
    return (stored, jnp.minimum(count + 1, pool.size)), out

  keys = jax.random.split(key, images.shape[0])
  (stored, count), out = jax.lax.scan(one, (pool.images, pool.count), (images, keys))
  return ImagePool(stored, count), out.astype(images.dtype)
