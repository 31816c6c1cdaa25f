"""The VGG16 perceptual loss: the official weight layout, the random init, the loss itself."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from i2ijax import losses
from i2ijax.metrics.torch_weights import save_npz_state_dict
from i2ijax.perceptual import (VGG16_LAYERS, Vgg16, load_vgg16, make_perceptual_loss,
                               perceptual_loss, vgg16_params, vgg_preprocess)
from tests.helpers import random_vgg16_state_dict


def _torch_layout_vgg(sd, x_nchw):
  """The official Vgg16 forward in PyTorch's layout (NCHW input, OIHW kernels) -> relu5_3, NCHW."""
  h = x_nchw
  for layer in VGG16_LAYERS:
    if layer == "pool":
      h = jax.lax.reduce_window(h, -jnp.inf, jax.lax.max, (1, 1, 2, 2), (1, 1, 2, 2), "VALID")
      continue
    name, _ = layer
    h = jax.lax.conv_general_dilated(h, sd[f"{name}.weight"], (1, 1), ((1, 1), (1, 1)),
                                     dimension_numbers=("NCHW", "OIHW", "NCHW"),
                                     precision=jax.lax.Precision.HIGHEST)
    h = jax.nn.relu(h + sd[f"{name}.bias"][None, :, None, None])
  return h


def test_load_vgg16_reads_the_official_weight_layout(tmp_path):
  sd = random_vgg16_state_dict()
  path = str(tmp_path / "vgg16.npz")
  save_npz_state_dict(path, sd)
  params = load_vgg16(path)
  assert vgg16_params(path).keys() == params.keys()
  x = jax.random.uniform(jax.random.key(0), (2, 16, 24, 3), minval=-1, maxval=1)
  feats = jax.jit(lambda x: Vgg16().apply({"params": params}, vgg_preprocess(x)))(x)
  assert feats.shape == (2, 2, 3, 512) and feats.dtype == jnp.float32
  # vgg_preprocess: BGR, 0..255, minus the Caffe mean; then the network in PyTorch's layout.
  bgr = (x[..., ::-1] + 1) * 127.5 - jnp.array([103.939, 116.779, 123.680])
  ref = _torch_layout_vgg(sd, bgr.transpose(0, 3, 1, 2)).transpose(0, 2, 3, 1)
  np.testing.assert_allclose(feats, ref, rtol=2e-3, atol=2e-3 * float(jnp.abs(ref).max()))


def test_load_vgg16_errors(tmp_path):
  with pytest.raises(FileNotFoundError, match="vgg16.weight"):
    load_vgg16(str(tmp_path / "missing.pth"))
  with pytest.raises(FileNotFoundError):
    make_perceptual_loss("")  # an unset config path is not a random init
  sd = random_vgg16_state_dict()
  path = str(tmp_path / "vgg16.npz")
  del sd["conv5_3.bias"]
  save_npz_state_dict(path, sd)
  with pytest.raises(ValueError, match="conv5_3.bias is missing"):
    load_vgg16(path)
  sd = random_vgg16_state_dict()
  sd["conv2_1.weight"] = sd["conv2_1.weight"][:, :, :2]
  save_npz_state_dict(path, sd)
  with pytest.raises(ValueError, match="conv2_1.weight has shape"):
    load_vgg16(path)


def test_random_init_loss_and_gradient():
  params = vgg16_params(key=jax.random.key(3))
  channels = 3
  for layer in VGG16_LAYERS:  # the loaded files' tree: He-normal kernels, zero biases
    if layer != "pool":
      name, features = layer
      assert params[name]["kernel"].shape == (3, 3, channels, features)
      assert not np.any(params[name]["bias"])
      std = float(jnp.std(params[name]["kernel"]))
      assert std == pytest.approx(np.sqrt(2 / (9 * channels)), rel=0.2)
      channels = features
  k1, k2 = jax.random.split(jax.random.key(0))
  x = jax.random.uniform(k1, (2, 16, 16, 3), minval=-1, maxval=1)
  y = jax.random.uniform(k2, (2, 16, 16, 3), minval=-1, maxval=1)
  loss = jax.jit(make_perceptual_loss(key=jax.random.key(3)))
  assert float(loss(x, x)) == pytest.approx(0.0, abs=1e-6)
  value = float(loss(x, y))
  assert value > 0 and np.isfinite(value)
  assert value == pytest.approx(float(jax.jit(perceptual_loss)(params, x, y)), rel=1e-5)
  g_image, g_target = jax.jit(jax.grad(loss, argnums=(0, 1)))(x, y)
  assert np.all(np.isfinite(g_image)) and float(jnp.abs(g_image).max()) > 0
  assert not np.any(g_target)  # the target's features are fixed


def test_loss_is_the_instance_normalised_feature_distance(tmp_path):
  """make_perceptual_loss(path) = E[(IN(vgg(image)) - IN(vgg(target)))^2] with the file's weights."""
  path = str(tmp_path / "vgg16.npz")
  save_npz_state_dict(path, random_vgg16_state_dict(1))
  params = load_vgg16(path)
  k1, k2 = jax.random.split(jax.random.key(1))
  x = jax.random.uniform(k1, (1, 16, 16, 3), minval=-1, maxval=1)
  y = jax.random.uniform(k2, (1, 16, 16, 3), minval=-1, maxval=1)
  feats = lambda v: Vgg16().apply({"params": params}, vgg_preprocess(v))
  expect = losses.instance_normalized_feature_loss(feats(x), feats(y))
  np.testing.assert_allclose(jax.jit(make_perceptual_loss(path))(x, y), expect, rtol=1e-4)
