"""GeneGAN's networks: official parameter counts, the split into background and attribute
parts, the [0, 255] pixel range in and out, TF 'SAME' convs and their transposes, TF 1.0's
batch norm.

The official code is TensorFlow 1.0 (Prinsphield/GeneGAN), which does not run here: the
counts are derived from its layer definitions by hand, and each layer is checked against
its TF definition written with lax ops (`tf.nn.conv2d` 'SAME' is
`lax.conv_general_dilated(..., 'SAME')`; `tf.nn.conv2d_transpose` is its input gradient).
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from i2ijax.models.genegan import Critic, Joiner, Splitter, TFBatchNorm, TFDeconv, TFSameConv
from i2ijax.models.layers import count_params
from i2ijax.train import genegan
from tests.helpers import load_config

# Official counts at 64 px (model.py): make_conv / make_deconv have a kernel 'W' and no bias;
# tf.layers.batch_normalization has gamma and beta (2 per channel; the moving averages are
# not trainable); make_fc has W and b.
# Splitter:  conv1 4*4*3*128 = 6,144; conv2 4*4*128*256 + 2*256 = 524,800;
#            conv3 4*4*256*512 + 2*512 = 2,098,176;             total 2,629,120.
# Joiner:    deconv1 4*4*512*512 + 2*512 = 4,195,328; deconv2 4*4*256*512 + 2*256 = 2,097,664;
#            deconv3 4*4*3*256 = 12,288; b 3;                   total 6,305,283.
# Critic:    conv1 6,144; conv2 524,800; conv3 2,098,176; conv4 4*4*512*512 + 2*512 =
#            4,195,328; fct (64/16)^2*512 + 1 = 8,193;          total 6,832,641.
OFFICIAL_SPLITTER = 2_629_120
OFFICIAL_JOINER = 6_305_283
OFFICIAL_CRITIC = 6_832_641


def _lax_same_conv(x, w):
  return jax.lax.conv_general_dilated(x, w, (2, 2), "SAME",
                                      dimension_numbers=("NHWC", "HWIO", "NHWC"))


def test_official_parameter_counts_and_split_widths_at_64px():
  c = load_config("genegan")
  state = jax.eval_shape(lambda: genegan.create_state(c, jax.random.key(0),
                                                      genegan.image_shapes(c), 100))
  counts = {k: count_params(v) for k, v in state.params.items()}
  assert counts == {"splitter": OFFICIAL_SPLITTER, "joiner": OFFICIAL_JOINER,
                    "D_Ax": OFFICIAL_CRITIC, "D_Be": OFFICIAL_CRITIC}
  assert counts["splitter"] + counts["joiner"] == 8_934_403
  image = jnp.zeros((2, 64, 64, 3))
  split = Splitter()
  a, x = jax.eval_shape(lambda: split.apply(split.init(jax.random.key(0), image), image))
  assert a.shape == (2, 8, 8, 384) and x.shape == (2, 8, 8, 128)  # second_ratio 0.25
  p = state.params
  assert p["joiner"]["deconv1"]["kernel"].shape == (4, 4, 512, 512)  # [k, k, out, in]
  assert p["joiner"]["deconv3"]["kernel"].shape == (4, 4, 3, 256)
  assert p["joiner"]["b"].shape == (3,)
  assert p["D_Ax"]["fct"]["kernel"].shape == (4 * 4 * 512, 1)
  assert "bn1" not in p["splitter"] and "bn1" not in p["D_Ax"]  # no norm on the first conv


def test_convs_are_tf_same_conv_and_its_transpose_without_bias():
  rng = np.random.default_rng(0)
  x = jnp.asarray(rng.normal(size=(2, 8, 8, 3)))
  conv = TFSameConv(4)
  p = jax.jit(conv.init)(jax.random.key(0), x)
  assert set(p["params"]["conv"]) == {"kernel"}
  np.testing.assert_allclose(conv.apply(p, x), _lax_same_conv(x, p["params"]["conv"]["kernel"]),
                             atol=1e-6)
  y = jnp.asarray(rng.normal(size=(2, 4, 4, 4)))
  deconv = TFDeconv(3)
  q = jax.jit(deconv.init)(jax.random.key(1), y)
  w = q["params"]["kernel"]  # [4, 4, 3 (out), 4 (in)]
  assert set(q["params"]) == {"kernel"}
  _, vjp = jax.vjp(lambda v: _lax_same_conv(v, w), jnp.zeros((2, 8, 8, 3)))
  np.testing.assert_allclose(deconv.apply(q, y), vjp(y)[0], atol=1e-6)


@pytest.fixture
def x64():
  with jax.enable_x64(True):
    yield


def test_tf_batch_norm_training_and_eval(x64):
  """tf.layers.batch_normalization (TF 1.0): batch mean and biased variance, eps 1e-3, gamma
  1 and beta 0 at init; running averages with momentum 0.99 of the mean and the *biased*
  variance; eval normalises by them."""
  rng = np.random.default_rng(1)
  x = jnp.asarray(rng.normal(2.0, 3.0, size=(4, 3, 3, 2)))
  bn = TFBatchNorm(param_dtype=jnp.float64)
  v = jax.jit(bn.init)(jax.random.key(0), x)
  np.testing.assert_array_equal(v["params"]["scale"], 1.0)
  y, upd = bn.apply(v, x, mutable=["batch_stats"])
  mean = np.mean(np.asarray(x), axis=(0, 1, 2))
  var = np.var(np.asarray(x), axis=(0, 1, 2))  # biased
  np.testing.assert_allclose(y, (np.asarray(x) - mean) / np.sqrt(var + 1e-3), atol=1e-10)
  np.testing.assert_allclose(upd["batch_stats"]["mean"], 0.01 * mean, atol=1e-12)
  np.testing.assert_allclose(upd["batch_stats"]["var"], 0.99 + 0.01 * var, atol=1e-12)
  stats = {"mean": jnp.asarray([1.0, -1.0]), "var": jnp.asarray([4.0, 0.25])}
  y_eval = bn.apply({**v, "batch_stats": stats}, x, use_running_average=True)
  np.testing.assert_allclose(y_eval, (np.asarray(x) - np.asarray(stats["mean"]))
                             / np.sqrt(np.asarray(stats["var"]) + 1e-3), atol=1e-10)


def test_splitter_joiner_and_critic_against_their_tf_definitions(x64):
  """Images in [0, 255], divided by 255 first (splitter, critic); the attribute part is the
  last int(C * 0.25) channels; the joiner is (tanh(deconv3(...) + b) + 1) * 255 / 2, so its
  outputs lie in [0, 255]; the critic flattens row-major into its dense layer."""
  rng = np.random.default_rng(2)
  img = jnp.asarray(rng.uniform(0, 255, size=(3, 16, 16, 3)))
  nets = {"split": Splitter(ch=2, param_dtype=jnp.float64),
          "join": Joiner(ch=2, param_dtype=jnp.float64),
          "critic": Critic(ch=2, param_dtype=jnp.float64)}
  z = jnp.zeros((3, 2, 2, 6)), jnp.zeros((3, 2, 2, 2))
  inits = jax.jit(lambda: {"split": nets["split"].init(jax.random.key(0), img),
                           "join": nets["join"].init(jax.random.key(1), *z),
                           "critic": nets["critic"].init(jax.random.key(2), img)})()
  params = {k: jax.tree_util.tree_map(lambda a: jnp.asarray(rng.normal(size=a.shape)),
                                      v["params"]) for k, v in inits.items()}
  stats = {k: v["batch_stats"] for k, v in inits.items()}

  def ours(params):
    run = lambda k, *args: nets[k].apply({"params": params[k], "batch_stats": stats[k]}, *args,
                                         mutable=["batch_stats"])[0]
    a, x = run("split", img)
    return a, x, run("join", a, x), run("critic", img)

  def tf_graph(params):
    sp, jp, cp = params["split"], params["join"], params["critic"]
    lrelu = lambda t: jnp.maximum(0.2 * t, t)

    def bn(t, p):  # training mode
      m, v = jnp.mean(t, axis=(0, 1, 2)), jnp.var(t, axis=(0, 1, 2))
      return (t - m) / jnp.sqrt(v + 1e-3) * p["scale"] + p["bias"]

    def deconv(t, w, size):
      _, vjp = jax.vjp(lambda v: _lax_same_conv(v, w), jnp.zeros((3, size, size, w.shape[2])))
      return vjp(t)[0]

    h = lrelu(_lax_same_conv(img / 255.0, sp["conv1"]["conv"]["kernel"]))
    h = lrelu(bn(_lax_same_conv(h, sp["conv2"]["conv"]["kernel"]), sp["bn2"]))
    h = lrelu(bn(_lax_same_conv(h, sp["conv3"]["conv"]["kernel"]), sp["bn3"]))
    a, x = h[..., :6], h[..., 6:]
    g = jax.nn.relu(bn(deconv(h, jp["deconv1"]["kernel"], 4), jp["bn1"]))
    g = jax.nn.relu(bn(deconv(g, jp["deconv2"]["kernel"], 8), jp["bn2"]))
    g = deconv(g, jp["deconv3"]["kernel"], 16) + jp["b"]
    c = lrelu(_lax_same_conv(img / 255.0, cp["conv1"]["conv"]["kernel"]))
    for i in (2, 3, 4):
      c = lrelu(bn(_lax_same_conv(c, cp[f"conv{i}"]["conv"]["kernel"]), cp[f"bn{i}"]))
    score = c.reshape(3, -1) @ cp["fct"]["kernel"] + cp["fct"]["bias"]
    return a, x, (jnp.tanh(g) + 1.0) * 127.5, score

  got, want = jax.jit(lambda p: (ours(p), tf_graph(p)))(params)
  assert got[0].shape == (3, 2, 2, 6) and got[1].shape == (3, 2, 2, 2) and got[3].shape == (3, 1)
  for g, w in zip(got, want):
    np.testing.assert_allclose(g, w, atol=1e-8)
  out = got[2]
  assert float(out.min()) >= 0.0 and float(out.max()) <= 255.0 and float(out.max()) > 128.0


@pytest.mark.parametrize("ratio,parts", [(0.25, (6, 2)), (0.5, (4, 4))])
def test_second_ratio_takes_the_last_channels(ratio, parts):
  img = jnp.zeros((2, 16, 16, 3))
  split = Splitter(ch=2, second_ratio=ratio)
  a, x = jax.eval_shape(lambda: split.apply(split.init(jax.random.key(0), img), img))
  assert (a.shape[-1], x.shape[-1]) == parts
