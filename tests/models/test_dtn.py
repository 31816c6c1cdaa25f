"""DTN's networks: the paper's digits architecture with its parameter counts, f's conv / max
pool / ReLU order against a lax reference, the ternary D, TF 'SAME' strided convs, the
Glorot initialisation.

There is no official code (the paper, Taigman et al. 2017, sec. 5.1, and the TF
reimplementation yunjey/domain-transfer-network, which does not run here), so the counts are
derived by hand from the layer lists in `i2ijax.models.dtn`'s docstring.
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from i2ijax.models import dtn as nets_lib
from i2ijax.models.layers import count_params
from i2ijax.train import dtn
from tests.helpers import load_config

# Parameter counts at the paper's digit widths (32x32, RGB source, grey target). Every conv
# and transposed conv has a bias; each batch norm a scale and an offset per channel (params)
# and a running mean and variance (batch_stats).
# f (conv 3x3 -> max pool -> ReLU, x4; 3 -> 64 -> 128 -> 256 -> 128):
#   conv1 3*3*3*64 + 64       =   1,792
#   conv2 3*3*64*128 + 128    =  73,856
#   conv3 3*3*128*256 + 256   = 295,168
#   conv4 3*3*256*128 + 128   = 295,040
#   total                     = 665,856   (128-D output)
# softmax head: 128*10 + 10 = 1,290; f + head = 667,146.
# g (128-D -> 32x32x1):
#   deconv1 4*4*128*512 + 512 = 1,049,088; bn1 2*512 = 1,024
#   deconv2 3*3*512*256 + 256 = 1,179,904; bn2 2*256 =   512
#   deconv3 3*3*256*128 + 128 =   295,040; bn3 2*128 =   256
#   deconv4 3*3*128*1 + 1     =     1,153
#   total                     = 2,526,977 params (+ 2*(512+256+128) = 1,792 batch_stats)
# D (32x32x1 -> 3 logits):
#   conv1 3*3*1*128 + 128     =     1,280; bn1 2*128 =   256
#   conv2 3*3*128*256 + 256   =   295,168; bn2 2*256 =   512
#   conv3 3*3*256*512 + 512   = 1,180,160; bn3 2*512 = 1,024
#   conv4 4*4*512*3 + 3       =    24,579
#   total                     = 1,502,979 params (+ 2*(128+256+512) = 1,792 batch_stats)
PAPER_F = 665_856
PAPER_HEAD = 1_290
PAPER_G = 2_526_977
PAPER_D = 1_502_979
BN_STATS = 1_792


def _variables(module, x):
  return jax.eval_shape(lambda: module.init(jax.random.key(0), x, train=True))


def test_paper_parameter_counts_at_full_size():
  nets = dtn.build_models(load_config("dtn"))
  x, t, z = jnp.zeros((2, 32, 32, 3)), jnp.zeros((2, 32, 32, 1)), jnp.zeros((2, 1, 1, 128))
  cls = _variables(nets["classifier"], x)["params"]
  assert count_params(cls["f"]) == PAPER_F
  assert count_params(cls["head"]) == PAPER_HEAD
  assert count_params(_variables(nets["f"], x)["params"]) == PAPER_F
  g = _variables(nets["g"], z)
  assert (count_params(g["params"]), count_params(g["batch_stats"])) == (PAPER_G, BN_STATS)
  d = _variables(nets["D"], t)
  assert (count_params(d["params"]), count_params(d["batch_stats"])) == (PAPER_D, BN_STATS)
  # The state holds exactly these (f and its head, g, D) and nothing else.
  state = jax.eval_shape(lambda: dtn.create_state(load_config("dtn"), jax.random.key(0),
                                                  dtn.image_shapes(load_config("dtn")), 10))
  assert sorted(state.params) == ["D", "f", "g", "head"]
  assert count_params(state.params) == PAPER_F + PAPER_HEAD + PAPER_G + PAPER_D


def test_shapes_128d_features_grey_images_and_three_logits():
  nets = dtn.build_models(load_config("dtn"))
  x = jnp.zeros((2, 32, 32, 3))
  assert jax.eval_shape(lambda: nets["f"].init_with_output(
      jax.random.key(0), x)[0]).shape == (2, 1, 1, 128)
  z = jnp.zeros((2, 1, 1, 128))
  out = jax.eval_shape(lambda: nets["g"].init_with_output(jax.random.key(0), z, train=False)[0])
  assert out.shape == (2, 32, 32, 1)
  t = jnp.zeros((2, 32, 32, 1))
  out = jax.eval_shape(lambda: nets["D"].init_with_output(jax.random.key(0), t, train=False)[0])
  assert out.shape == (2, len(nets_lib.D_CLASSES)) == (2, 3)
  assert nets_lib.D_CLASSES == ("fake_source", "fake_target", "real_target")


def _lax_conv(x, w, b, stride, padding):
  return jax.lax.conv_general_dilated(x, w, (stride, stride), padding,
                                      dimension_numbers=("NHWC", "HWIO", "NHWC")) + b


def test_f_is_conv_then_max_pool_then_relu_down_to_one_feature_vector():
  f = nets_lib.FeatureExtractor((3, 4, 5, 6))
  x = jax.random.normal(jax.random.key(1), (2, 16, 16, 3))  # 16 -> 8 -> 4 -> 2 -> 1
  p = f.init(jax.random.key(2), x)["params"]
  p = jax.tree_util.tree_map(lambda a: a + 0.1 * jax.random.normal(jax.random.key(3), a.shape),
                             p)  # nonzero biases

  @jax.jit
  def reference(p, x):
    h = x
    for i in range(4):
      layer = p[f"conv{i + 1}"]
      h = _lax_conv(h, layer["kernel"], layer["bias"], 1, "SAME")
      w = 2 if i < 3 else h.shape[1]  # the last pool covers the whole remaining map
      h = jax.lax.reduce_window(h, -jnp.inf, jax.lax.max, (1, w, w, 1), (1, w, w, 1), "VALID")
      h = jnp.maximum(h, 0.0)
    return h

  apply = jax.jit(lambda p, x: f.apply({"params": p}, x))
  out = apply(p, x)
  assert out.shape == (2, 1, 1, 6)
  np.testing.assert_allclose(out, reference(p, x), rtol=1e-5, atol=1e-5)
  assert float(out.min()) >= 0.0  # the paper's ReLU after the pool
  # A grey image is f's RGB image of three equal channels (f is trained on colour sources).
  grey = x[..., :1]
  np.testing.assert_allclose(apply(p, grey), apply(p, jnp.repeat(grey, 3, -1)), rtol=0, atol=0)


def test_discriminator_strided_convs_pad_as_tf_same():
  d = nets_lib.TernaryDiscriminator((2, 3, 4))
  x = jax.random.normal(jax.random.key(0), (2, 32, 32, 1))
  v = d.init(jax.random.key(1), x, train=True)
  c1 = v["params"]["conv1"]
  ref = _lax_conv(x, c1["kernel"], c1["bias"], 2, "SAME")
  got = nets_lib.Conv2d(2, 3, 2, ((0, 1), (0, 1))).apply({"params": c1}, x)
  np.testing.assert_allclose(got, ref, rtol=1e-5, atol=1e-5)
  assert d.apply(v, x, train=False).shape == (2, 3)


def test_decoder_ends_in_tanh_and_uses_batch_statistics_in_training():
  g = nets_lib.Decoder(1, (6, 5, 4))
  z = jax.random.normal(jax.random.key(0), (4, 1, 1, 8))

  @jax.jit
  def run(z):
    v = g.init(jax.random.key(1), z, train=True)
    v = {"params": nets_lib.glorot_params(v["params"], jax.random.key(2)),
         "batch_stats": v["batch_stats"]}
    y, upd = g.apply(v, z, train=True, mutable=["batch_stats"])
    h = nets_lib.ConvTranspose(6, 4, 1, 0, 0).apply(
        {"params": {"conv": v["params"]["deconv1"]["conv"]}}, z)
    return y, upd["batch_stats"]["bn1"]["bn"]["mean"], h.mean(axis=(0, 1, 2)), g.apply(
        v, z, train=False)

  y, running_mean, batch_mean, y_eval = run(z)
  assert y.shape == (4, 32, 32, 1) and float(jnp.abs(y).max()) < 1.0
  # TF-slim batch norm: running mean <- 0.95 mean + 0.05 batch mean.
  np.testing.assert_allclose(running_mean, 0.05 * batch_mean, rtol=1e-5, atol=1e-6)
  assert float(jnp.abs(y_eval - y).max()) > 1e-3


def test_glorot_initialisation_of_every_kernel():
  c = load_config("dtn", "quickstart")
  state = jax.jit(lambda k: dtn.create_state(c, k, dtn.image_shapes(c), 10))(jax.random.key(0))
  d = state.params["D"]
  k = np.asarray(d["conv2"]["kernel"])  # 3x3 x in x out
  limit = np.sqrt(6.0 / (9 * k.shape[2] + 9 * k.shape[3]))
  assert k.size >= 4000
  assert np.abs(k).max() <= limit and np.abs(k).max() > 0.95 * limit
  assert np.std(k) == pytest.approx(limit / np.sqrt(3.0), rel=0.05)
  head = np.asarray(state.params["head"]["kernel"])  # 64x10
  assert head.shape == (64, 10) and np.abs(head).max() <= np.sqrt(6.0 / 74)
  for tree in (state.params["f"], state.params["g"], d):
    for path, leaf in jax.tree_util.tree_leaves_with_path(tree):
      name = jax.tree_util.keystr(path)
      if name.endswith("['bias']") and "bn" not in name:
        assert float(jnp.abs(leaf).max()) == 0.0, name
      if name.endswith("['scale']"):
        assert float(jnp.abs(leaf - 1).max()) == 0.0, name
