"""IcGAN networks: the official parameter counts (hand-derived from Guim3/IcGAN's Lua code),
shapes, where the label enters D, the encoders' Torch7 initialisation and flatten order.

The official code is Lua Torch7 and cannot run here, so there is no forward parity; the
counts are derived below layer by layer from `trainGAN.lua` and `trainEncoder.lua`.
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from i2ijax.models import icgan
from i2ijax.models.layers import count_params


def _init(module, *args):
  def init(k, *a):
    try:
      return module.init(k, *a, train=False)
    except TypeError:  # a layer without a train flag
      return module.init(k, *a)
  return jax.jit(init)(jax.random.key(0), *args)


def _count(module, *args):
  variables = jax.eval_shape(lambda: module.init(jax.random.key(0), *args, train=False))
  return count_params(variables["params"])


def test_official_parameter_counts_at_64px_celeba():
  """CelebA, 64 px, nz 100, ny 18 (the 40 attributes minus the official 22), ngf = ndf =
  64; encoders nf 32, 4 convs, E_z's fc = 4,096 (FCsz nil), E_y's 512."""
  z, y, x = jnp.zeros((2, 100)), jnp.zeros((2, 18)), jnp.zeros((2, 64, 64, 3))
  # G: ConvT(118 -> 512, 4x4) + BN, ConvT 512 -> 256 -> 128 -> 64 (4x4) + BN, ConvT 64 -> 3.
  g = ((118 * 512 * 16 + 512) + 2 * 512 + (512 * 256 * 16 + 256) + 2 * 256
       + (256 * 128 * 16 + 128) + 2 * 128 + (128 * 64 * 16 + 64) + 2 * 64 + (64 * 3 * 16 + 3))
  assert g == 3_725_123
  assert _count(icgan.Generator(64, 64), z, y) == g
  # D: conv 3 -> 64; y joins (64 + 18 = 82 channels); conv 82 -> 128, 128 -> 256,
  # 256 -> 512 (each + BN); conv 512 -> 1 (4x4).
  d = ((3 * 64 * 16 + 64) + (82 * 128 * 16 + 128) + 2 * 128 + (128 * 256 * 16 + 256) + 2 * 256
       + (256 * 512 * 16 + 512) + 2 * 512 + (512 * 16 + 1))
  assert d == 2_803_393
  assert _count(icgan.Discriminator(64, 64), x, y) == d
  # Encoders: conv 5x5 3 -> 32 -> 64 -> 128 -> 256 (each + BN), 64 / 2^4 = 4: 4 * 4 * 256
  # = 4,096 features.
  convs = ((3 * 32 * 25 + 32) + 2 * 32 + (32 * 64 * 25 + 64) + 2 * 64 + (64 * 128 * 25 + 128)
           + 2 * 128 + (128 * 256 * 25 + 256) + 2 * 256)
  assert convs == 1_079_040
  e_z = convs + (4096 * 4096 + 4096) + 2 * 4096 + (4096 * 100 + 100)
  e_y = convs + (4096 * 512 + 512) + 2 * 512 + (512 * 18 + 18)
  assert (e_z, e_y) == (18_278_244, 3_186_962)
  assert _count(icgan.Encoder(100, 32, 4, 0), x) == e_z
  assert _count(icgan.Encoder(18, 32, 4, 512), x) == e_y


def test_shapes_ranges_and_where_the_label_enters_d():
  k = jax.random.key(0)
  z, y = jax.random.normal(k, (2, 6)), jnp.asarray([[1.0, -1, 1], [-1, 1, 1]])
  g = icgan.Generator(16, 4)
  gv = _init(g, z, y)
  out = jax.jit(lambda v, z, y: g.apply(v, z, y, train=False))(gv, z, y)
  assert out.shape == (2, 16, 16, 3) and float(jnp.max(jnp.abs(out))) <= 1.0
  # The first transposed conv takes the 1 x 1 concat(z, y): 9 channels to ngf * 16 / 8 = 8.
  assert gv["params"]["deconv0"]["conv"]["kernel"].shape == (4, 4, 8, 9)
  d = icgan.Discriminator(16, 4)
  dv = _init(d, out, y)
  d_apply = jax.jit(lambda v, x, y: d.apply(v, x, y, train=False))
  p = d_apply(dv, out, y)
  assert p.shape == (2,) and bool(jnp.all((p > 0) & (p < 1)))
  # Only the first conv sees x alone (3 channels); the second takes ndf + ny channels.
  assert dv["params"]["conv0"]["conv"]["kernel"].shape == (4, 4, 3, 4)
  assert dv["params"]["conv1"]["conv"]["kernel"].shape == (4, 4, 4 + 3, 8)
  assert not np.allclose(p, d_apply(dv, out, -y))
  # The label acts only through the second conv: zeroing the label part of its kernel
  # makes D blind to y.
  blind = jax.tree_util.tree_map(lambda a: a, dv)
  kern = blind["params"]["conv1"]["conv"]["kernel"]
  blind["params"]["conv1"]["conv"]["kernel"] = kern.at[:, :, 4:, :].set(0.0)
  np.testing.assert_allclose(d_apply(blind, out, y), d_apply(blind, out, -y), rtol=1e-6)
  with pytest.raises(ValueError, match="power of 2"):
    icgan.Generator(24, 4).init(k, z, y, train=False)


def test_first_generator_layer_is_the_transposed_conv_of_a_single_pixel():
  """`LatentConvTranspose` (a product) equals the library's `ConvTranspose(out, 4, stride 1,
  padding 0)` on the 1 x 1 input, with the same parameters."""
  from i2ijax.models.layers import ConvTranspose
  v = jax.random.normal(jax.random.key(2), (3, 7))
  lat = icgan.LatentConvTranspose(5, 4)
  params = _init(lat, v)
  conv = ConvTranspose(5, 4, stride=1, padding=0, output_padding=0)
  want = jax.jit(lambda p, x: conv.apply(p, x))(params, v[:, None, None, :])
  got = jax.jit(lambda p, x: lat.apply(p, x))(params, v)
  assert got.shape == (3, 4, 4, 5)
  np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)


def test_encoder_flattens_in_torch_channel_height_width_order():
  """The fc layer reads the last conv's features as Torch's View: channel-major (C, H, W)."""
  e = icgan.Encoder(3, 2, 2, 5)
  x = jax.random.normal(jax.random.key(1), (2, 16, 16, 3))
  v = _init(e, x)
  _, inter = jax.jit(lambda v, x: e.apply(v, x, train=False, capture_intermediates=True,
                                          mutable=["intermediates"]))(v, x)
  inter = inter["intermediates"]
  h = jax.nn.relu(inter["bn1"]["__call__"][0])  # [2, 4, 4, 4] NHWC, the last conv block
  fc = inter["fc"]["__call__"][0]
  kernel, bias = v["params"]["fc"]["kernel"], v["params"]["fc"]["bias"]
  chw = np.transpose(h, (0, 3, 1, 2)).reshape(2, -1)
  np.testing.assert_allclose(fc, chw @ kernel + bias, rtol=1e-5, atol=1e-6)
  assert not np.allclose(fc, np.reshape(h, (2, -1)) @ kernel + bias, atol=1e-3)


def test_initialisations_g_d_weights_init_encoders_torch7_defaults():
  g = icgan.Generator(16, 8)
  gp = _init(g, jnp.zeros((2, 6)), jnp.zeros((2, 3)))["params"]
  assert float(jnp.abs(gp["deconv1"]["conv"]["bias"]).max()) == 0.0
  assert abs(float(jnp.std(gp["deconv1"]["conv"]["kernel"])) - 0.02) < 0.003
  assert abs(float(jnp.mean(gp["bn1"]["scale"])) - 1.0) < 0.02  # N(1, 0.02)
  e = icgan.Encoder(3, 8, 2, 16)
  ep = _init(e, jnp.zeros((2, 16, 16, 3)))["params"]
  tp = jax.jit(icgan.torch7_default_params)(ep, jax.random.key(1))
  b = 1 / np.sqrt(5 * 5 * 8)  # conv1: 5x5, 8 input channels
  w = np.asarray(tp["conv1"]["conv"]["kernel"])
  assert np.abs(w).max() <= b and np.abs(w).max() > 0.9 * b
  assert np.abs(np.asarray(tp["conv1"]["conv"]["bias"])).max() > 0  # biases drawn too
  fc_b = 1 / np.sqrt(16 * 4 * 4)
  assert np.abs(np.asarray(tp["fc"]["kernel"])).max() <= fc_b
  scale = np.concatenate([np.asarray(tp[n]["scale"]) for n in ("bn0", "bn1", "bn_fc")])
  assert scale.min() >= 0 and scale.max() < 1 and scale.std() > 0.15  # U(0, 1), not ones
  assert float(np.abs(np.asarray(tp["bn_fc"]["bias"])).max()) == 0.0
