"""Shared layers: the transposed convolution against XLA's dilated-input formulation."""

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from i2ijax.models import layers
from i2ijax.models.layers import ConvTranspose, Norm


@pytest.mark.parametrize("k,s,p,op,h,w", [
    (3, 2, 1, 1, 5, 7),  # the ResNet generator's upsampling
    (4, 2, 1, 0, 6, 5),  # U-Net / DCGAN style
    (3, 1, 1, 0, 4, 4),
    (5, 3, 2, 2, 4, 6),
    (3, 2, 0, 0, 3, 3),
])
@pytest.mark.parametrize("max_matmul_pixels", [0, 10**6], ids=["phase_kernel", "matmul"])
def test_conv_transpose_equals_dilated_convolution(k, s, p, op, h, w, max_matmul_pixels,
                                                   monkeypatch):
  """Both CPU formulations (chosen by map size) equal the zero-inserting reference."""
  monkeypatch.setattr(layers, "MATMUL_CONV_TRANSPOSE_MAX_PIXELS", max_matmul_pixels)
  x = jax.random.normal(jax.random.key(0), (2, h, w, 3))
  ct = ConvTranspose(4, k, s, p, op)
  v = ct.init(jax.random.key(1), x)
  y = ct.apply(v, x)
  assert y.shape == (2, (h - 1) * s - 2 * p + k + op, (w - 1) * s - 2 * p + k + op, 4)
  lo = k - 1 - p
  ref = nn.ConvTranspose(4, (k, k), strides=(s, s), padding=((lo, lo + op), (lo, lo + op)),
                         transpose_kernel=True)
  y_ref = ref.apply({"params": v["params"]["conv"]}, x)
  np.testing.assert_allclose(y, y_ref, atol=1e-6)
  # Gradients agree as well.
  g = jax.grad(lambda x: jnp.sum(ct.apply(v, x) ** 2))(x)
  g_ref = jax.grad(lambda x: jnp.sum(ref.apply({"params": v["params"]["conv"]}, x) ** 2))(x)
  np.testing.assert_allclose(g, g_ref, atol=1e-5)


def test_instance_norm_is_per_sample_per_channel_biased_variance():
  x = jax.random.normal(jax.random.key(0), (2, 5, 6, 3)) * 3 + 1
  y = Norm("instance").apply({}, x)
  mean = x.mean(axis=(1, 2), keepdims=True)
  var = x.var(axis=(1, 2), keepdims=True)  # biased, as PyTorch's InstanceNorm2d
  np.testing.assert_allclose(y, (x - mean) / jnp.sqrt(var + 1e-5), atol=1e-5)
