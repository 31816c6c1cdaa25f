"""DualGAN's networks: official parameter counts, TF 'SAME' convs, the TF instance norm, the
degenerate innermost level, dropout as TF1's keep probability, initialisers.

The official code is TensorFlow 1 (duxingren14/DualGAN), which does not run here: the
counts are derived from its layer definitions by hand, and the TF layer semantics are
checked against their definitions written with lax ops (`tf.nn.conv2d` 'SAME' is
`lax.conv_general_dilated(..., 'SAME')`; `tf.nn.conv2d_transpose` is its input gradient).
"""

import functools

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from i2ijax.models.dualgan import (DualGANDiscriminator, DualGANGenerator, TFConv,
                                   TFConvTranspose, TFInstanceNorm, same_pads)
from i2ijax.models.layers import count_params
from i2ijax.ops import conv_transpose
from i2ijax.train import dualgan
from tests.helpers import load_config

# Official counts at the defaults (gcn = dcn = 64, 3 channels, 256 px), from model.py / ops.py:
# conv2d and deconv2d have a bias; the norm ("batch_norm") a scale and a center per channel;
# kernels are 3x3 except e1, d8 and h0 (5x5).
# Generator:
#   e1 5*5*3*64 + 64                  =     4,864
#   e2 3*3*64*128 + 128 + 2*128       =    74,112
#   e3 3*3*128*256 + 256 + 2*256      =   295,680
#   e4 3*3*256*512 + 512 + 2*512      = 1,181,184
#   e5..e8 4 * (3*3*512*512 + 512 + 2*512) = 4 * 2,360,832 = 9,443,328
#   d1 3*3*512*512 + 512 + 2*512      = 2,360,832   (input e8: 512)
#   d2..d4 3 * (3*3*1024*512 + 512 + 2*512) = 3 * 4,720,128 = 14,160,384  (inputs [d, e]: 1024)
#   d5 3*3*1024*256 + 256 + 2*256     = 2,360,064
#   d6 3*3*512*128 + 128 + 2*128      =   590,208
#   d7 3*3*256*64 + 64 + 2*64         =   147,648
#   d8 5*5*128*3 + 3                  =     9,603
#   total                             = 30,627,907
# Discriminator (globalgan):
#   h0 5*5*3*64 + 64 = 4,864; h1 73,856 + 256 = 74,112; h2 295,168 + 512 = 295,680;
#   h3 1,180,160 + 1,024 = 1,181,184; h3_1 2,359,808 + 1,024 = 2,360,832;
#   linear (256/32)^2 * 512 + 1 = 32,769; total 3,949,441.
# patchgan: h4 3*3*512*1 + 1 = 4,609 instead of the linear layer: 3,921,281.
OFFICIAL_G = 30_627_907
OFFICIAL_D_GLOBAL = 3_949_441
OFFICIAL_D_PATCH = 3_921_281


def _shapes(config):
  nets = dualgan.build_models(config)
  x = jnp.zeros((1, 256, 256, 3))
  return {name: jax.eval_shape(lambda m=m: m.init({"params": jax.random.key(0)}, x))["params"]
          for name, m in nets.items()}


def test_official_parameter_counts_at_256px():
  c = load_config("dualgan")
  shapes = _shapes(c)
  assert count_params(shapes["G_A"]) == count_params(shapes["G_B"]) == OFFICIAL_G
  assert count_params(shapes["D_A"]) == count_params(shapes["D_B"]) == OFFICIAL_D_GLOBAL
  c.model.disc_type = "patchgan"
  assert count_params(_shapes(c)["D_A"]) == OFFICIAL_D_PATCH


def test_kernel_sizes_and_outputs_at_256px():
  """5x5 outer kernels, 3x3 elsewhere; D scores [N, 1] (globalgan) or [N, 4, 4, 1] (patchgan)."""
  c = load_config("dualgan")
  g, d = (_shapes(c)[k] for k in ("G_A", "D_A"))
  assert g["e1_conv"]["conv"]["kernel"].shape == (5, 5, 3, 64)
  assert g["e2_conv"]["conv"]["kernel"].shape == (3, 3, 64, 128)
  assert g["e8_conv"]["conv"]["kernel"].shape == (3, 3, 512, 512)
  assert g["d1"]["kernel"].shape == (3, 3, 512, 512)  # [k, k, out, in]
  assert g["d2"]["kernel"].shape == (3, 3, 512, 1024)
  assert g["d7"]["kernel"].shape == (3, 3, 64, 256)
  assert g["d8"]["kernel"].shape == (5, 5, 3, 128)
  assert d["h0_conv"]["conv"]["kernel"].shape == (5, 5, 3, 64)
  assert d["h3_1_conv"]["conv"]["kernel"].shape == (3, 3, 512, 512)
  assert d["d_h3_lin"]["kernel"].shape == (8 * 8 * 512, 1)
  x = jnp.zeros((2, 256, 256, 3))
  for disc_type, shape in (("globalgan", (2, 1)), ("patchgan", (2, 4, 4, 1))):
    net = DualGANDiscriminator(disc_type=disc_type)
    out = jax.eval_shape(lambda net=net: net.apply(net.init(jax.random.key(0), x), x))
    assert out.shape == shape
  net = DualGANGenerator()
  assert jax.eval_shape(lambda: net.apply(net.init(jax.random.key(0), x), x)).shape == x.shape


@pytest.mark.parametrize("kernel", [3, 5])
def test_convs_are_tf_same_conv_and_its_transpose(kernel):
  """TFConv = tf.nn.conv2d(stride 2, 'SAME') + bias (pads (k - 2) // 2 before, the rest
  after); TFConvTranspose = tf.nn.conv2d_transpose to twice the size: the input gradient
  of that conv, with the kernel read [k, k, out, in]."""
  assert same_pads(8, 3, 2) == (0, 1) and same_pads(8, 5, 2) == (1, 2)
  rng = np.random.default_rng(kernel)
  x = jnp.asarray(rng.normal(size=(2, 8, 8, 3)))
  conv = TFConv(4, kernel)
  p = conv.init(jax.random.key(0), x)
  p = jax.tree_util.tree_map(lambda a: jnp.asarray(rng.normal(size=a.shape)), p)
  w, b = p["params"]["conv"]["kernel"], p["params"]["conv"]["bias"]
  lax_conv = lambda v: jax.lax.conv_general_dilated(v, w, (2, 2), "SAME",
                                                    dimension_numbers=("NHWC", "HWIO", "NHWC"))
  np.testing.assert_allclose(conv.apply(p, x), lax_conv(x) + b, atol=1e-5)

  y = jnp.asarray(rng.normal(size=(2, 4, 4, 4)))
  deconv = TFConvTranspose(3, kernel)
  q = deconv.init(jax.random.key(1), y)
  q = jax.tree_util.tree_map(lambda a: jnp.asarray(rng.normal(size=a.shape)), q)
  wt, bt = q["params"]["kernel"], q["params"]["bias"]  # [k, k, 3 (out), 4 (in)]
  forward = lambda v: jax.lax.conv_general_dilated(v, wt, (2, 2), "SAME",
                                                   dimension_numbers=("NHWC", "HWIO", "NHWC"))
  _, vjp = jax.vjp(forward, jnp.zeros((2, 8, 8, 3)))
  np.testing.assert_allclose(deconv.apply(q, y), vjp(y)[0] + bt, atol=1e-5)
  # PyTorch-style symmetric padding would shift the map: the TF result is not that.
  # (PyTorch's ConvTranspose2d(k, 2, padding=(k - 1) // 2, output_padding=1), same size).
  pad = (kernel - 1) // 2
  sym = conv_transpose(y, wt, 2, (pad, pad), (8, 8))
  assert float(jnp.max(jnp.abs(sym + bt - deconv.apply(q, y)))) > 1e-2


def test_norm_is_a_tf_instance_norm_with_eps_1e6():
  """ops.batch_norm: moments over H, W of each sample (biased), eps 1e-6, scale and center."""
  rng = np.random.default_rng(0)
  x = jnp.asarray(rng.normal(size=(3, 2, 2, 5)) * 1e-3)  # variance ~1e-6: eps matters
  norm = TFInstanceNorm()
  p = norm.init(jax.random.key(0), x)
  assert set(p) == {"params"}  # no running statistics
  scale, center = rng.normal(size=5), rng.normal(size=5)
  p = {"params": {"scale": jnp.asarray(scale), "bias": jnp.asarray(center)}}
  xn = np.asarray(x, np.float64)
  mean = xn.mean(axis=(1, 2), keepdims=True)
  var = ((xn - mean) ** 2).mean(axis=(1, 2), keepdims=True)
  expected = (xn - mean) / np.sqrt(var + 1e-6) * scale + center
  np.testing.assert_allclose(norm.apply(p, x), expected, rtol=1e-4, atol=1e-5)
  # Each sample alone: the batch does not change a sample's output.
  np.testing.assert_allclose(norm.apply(p, x[:1]), expected[:1], rtol=1e-4, atol=1e-5)


def test_innermost_level_and_one_by_one_critic_maps_are_constant():
  """At 1x1 the instance norm returns its center: the innermost encoder conv (e5 at 32 px,
  e8 at 256 px) has no effect on the output (the official network)."""
  net = DualGANGenerator(gcn=2, num_downs=5)
  rng = np.random.default_rng(0)
  x = jnp.asarray(rng.uniform(-1, 1, (2, 32, 32, 3)), jnp.float32)
  p = jax.jit(net.init)(jax.random.key(0), x)["params"]
  apply = jax.jit(lambda q: net.apply({"params": q}, x))
  out = apply(p)
  changed = jax.tree_util.tree_map(lambda a: a + 1.0, p["e5_conv"])
  np.testing.assert_array_equal(apply({**p, "e5_conv": changed}), out)
  # (so it gets no gradient); the level above it does act.
  changed = jax.tree_util.tree_map(lambda a: a + 1.0, p["e4_conv"])
  assert float(jnp.max(jnp.abs(apply({**p, "e4_conv": changed}) - out))) > 1e-3
  # A critic whose last map is 1x1 scores every image alike.
  d = DualGANDiscriminator(dcn=2, n_layers=4)
  q = jax.jit(d.init)(jax.random.key(1), x)
  score = jax.jit(lambda v: d.apply(q, v))
  np.testing.assert_array_equal(score(x), score(-x))


def test_dropout_keeps_units_with_the_official_rate_as_keep_probability():
  """`tf.nn.dropout(x, dropout_rate)`: TF1's second argument is keep_prob, so a unit is kept
  with probability dropout_rate and scaled by 1 / dropout_rate. Dropout follows the norms of
  d1-d3 only; 1.0 keeps everything; 0 builds no dropout; eval mode (`train=False`) has none.

  Checked on d2: d1 is zero at init (its input is relu of the constant innermost level, 0),
  so d2's input is the same with and without dropout.
  """
  x = jnp.asarray(np.random.default_rng(0).uniform(-1, 1, (4, 32, 32, 3)), jnp.float32)
  keep = 0.75
  net = DualGANGenerator(gcn=8, num_downs=5, dropout_rate=keep)
  p = jax.jit(functools.partial(net.init, train=False))({"params": jax.random.key(0)}, x)

  @functools.partial(jax.jit, static_argnums=0)
  def run(train, key):
    out, inter = net.apply(p, x, train=train, rngs={"dropout": key},
                           capture_intermediates=lambda m, _: isinstance(m, nn.Dropout),
                           mutable=["intermediates"])
    drops = [inter["intermediates"][f"Dropout_{i}"]["__call__"][0] for i in range(3)]
    return out, drops

  out_train, drops = run(True, jax.random.key(1))
  out_eval, inputs = run(False, jax.random.key(1))
  assert "Dropout_3" not in jax.eval_shape(
      lambda: net.apply(p, x, rngs={"dropout": jax.random.key(1)},
                        capture_intermediates=lambda m, _: isinstance(m, nn.Dropout),
                        mutable=["intermediates"]))[1]["intermediates"]
  assert float(jnp.max(jnp.abs(inputs[0]))) == 0.0  # d1
  d2_in, d2_out = np.asarray(inputs[1]), np.asarray(drops[1])
  kept = d2_out != 0
  assert abs(kept.mean() - keep) < 0.03, kept.mean()
  np.testing.assert_allclose(d2_out[kept], d2_in[kept] / keep, rtol=1e-4, atol=1e-6)
  assert float(jnp.mean(jnp.abs(out_train - out_eval))) > 1e-4
  off = DualGANGenerator(gcn=8, num_downs=5, dropout_rate=0.0)
  full = DualGANGenerator(gcn=8, num_downs=5, dropout_rate=1.0)
  expected = jax.jit(lambda: off.apply(p, x))()
  np.testing.assert_allclose(out_eval, expected, atol=1e-6)
  np.testing.assert_allclose(jax.jit(lambda: full.apply(p, x, rngs={"dropout": jax.random.key(2)}))(),
                             expected, atol=1e-6)


def test_initialisers_are_the_official_ones():
  """conv2d: truncated N(0, 0.02) (within 2 std); deconv2d and linear: N(0, 0.02); norm
  scale N(1, 0.02), center 0; biases 0."""
  net = DualGANGenerator(gcn=16, num_downs=5)
  p = jax.jit(net.init)(jax.random.key(0), jnp.zeros((1, 32, 32, 3)))["params"]
  conv = np.concatenate([np.ravel(p[f"e{i}_conv"]["conv"]["kernel"]) for i in range(1, 6)])
  assert np.max(np.abs(conv)) <= 0.04
  assert 0.015 < np.std(conv) < 0.019  # 0.02 * 0.88, the std of a 2-std truncated normal
  deconv = np.concatenate([np.ravel(p[f"d{i}"]["kernel"]) for i in range(1, 6)])
  assert np.max(np.abs(deconv)) > 0.04 and abs(np.std(deconv) - 0.02) < 0.001
  scales = np.concatenate([np.ravel(p[k]["scale"]) for k in p if k.startswith("bn_")])
  assert abs(np.mean(scales) - 1) < 0.005 and 0.01 < np.std(scales) < 0.03
  biases = [p[k]["bias"] for k in p if k.startswith("bn_") or k.startswith("d")]
  biases += [p[k]["conv"]["bias"] for k in p if k.endswith("_conv")]
  assert all(float(jnp.max(jnp.abs(b))) == 0.0 for b in biases)
