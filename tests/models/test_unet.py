"""U-Net generator: official parameter counts, shapes, dropout placement."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from i2ijax.models.layers import count_params
from i2ijax.models.resnet import make_generator
from i2ijax.models.unet import unet_channels


@pytest.mark.parametrize("name,norm,size,expected", [
    # Official define_G(3, 3, 64, name, norm, use_dropout=True), counted with PyTorch.
    ("unet_256", "batch", 256, 54_413_955),
    ("unet_256", "instance", 256, 54_409_603),
    ("unet_128", "batch", 128, 41_828_995),
    ("unet_128", "instance", 128, 41_825_667),
])
def test_unet_param_count(name, norm, size, expected):
  g = make_generator(name, norm=norm, use_dropout=True)
  x = jax.ShapeDtypeStruct((1, size, size, 3), jnp.float32)
  variables = jax.eval_shape(lambda k, x: g.init({"params": k, "dropout": k}, x),
                             jax.random.key(0), x)
  assert count_params(variables["params"]) == expected
  out = jax.eval_shape(
      lambda v, x: g.apply(v, x, rngs={"dropout": jax.random.key(0)}, mutable=["batch_stats"])[0],
      variables, x)
  assert out.shape == (1, size, size, 3)


def test_unet_channels_table():
  assert unet_channels(3, 64, 8) == [(3, 64), (64, 128), (128, 256), (256, 512)] + [(512, 512)] * 4
  with pytest.raises(ValueError, match="num_downs must be >= 5"):
    unet_channels(3, 64, 4)


def test_dropout_only_when_enabled_and_output_in_range():
  x = jax.random.uniform(jax.random.key(0), (2, 64, 64, 3), minval=-1, maxval=1)
  for use_dropout in (True, False):
    g = make_generator("unet_128", ngf=4, norm="instance", use_dropout=use_dropout)
    g = g.clone(num_downs=6)  # 64 px down to 1 px; num_downs - 5 = 1 dropout level
    v = g.init({"params": jax.random.key(0), "dropout": jax.random.key(0)}, x)
    y1 = g.apply(v, x, rngs={"dropout": jax.random.key(1)})
    y2 = g.apply(v, x, rngs={"dropout": jax.random.key(2)})
    assert y1.shape == x.shape and float(jnp.abs(y1).max()) <= 1
    assert (not np.allclose(y1, y2)) == use_dropout
    # Deterministic at eval time.
    np.testing.assert_array_equal(g.apply(v, x, train=False), g.apply(v, x, train=False))
