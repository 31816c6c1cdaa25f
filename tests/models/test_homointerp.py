"""HomoInterpGAN networks: official parameter counts, the interpolator's algebra, VGG19 weights."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from i2ijax.models.homointerp import (Decoder, FeatureDiscriminator, Interpolator,
                                      KnowledgeTransform, Vgg19, VGG19_STAGES)
from i2ijax.models.layers import count_params
from i2ijax.train.homointerp import load_vgg19
from tests.helpers import random_vgg19_state_dict


def _count(module, *args):
  return count_params(jax.eval_shape(lambda: module.init(jax.random.key(0), *args))["params"])


def test_official_parameter_counts():
  # Official defaults: 128 px, VGG nChannel 64 (relu5_1 512 x 8 x 8), the five default groups
  # of run.py (sizes 2, 5, 4, 3, 1) + 1 residual branch. Counted with torch on the official
  # model.py / base_network.py: 12,944,960 / 42,476,544 / 6,201,603 / 2,562,575 / 262,656.
  x, f = jnp.zeros((1, 128, 128, 3)), jnp.zeros((1, 8, 8, 512))
  assert _count(Vgg19(), x) == 12_944_960
  assert _count(Interpolator(6), f, f, jnp.zeros((1, 6))) == 6 * 7_079_424 == 42_476_544
  assert _count(Decoder(), f) == 6_201_603
  assert _count(FeatureDiscriminator((2, 5, 4, 3, 1)), f) == 2_562_575
  assert _count(KnowledgeTransform(), f) == 262_656
  shapes = jax.eval_shape(lambda: Vgg19().init_with_output(jax.random.key(0), x)[0])
  assert [s.shape for s in shapes] == [(1, 32, 32, 256), (1, 16, 16, 512), (1, 8, 8, 512)]
  out = jax.eval_shape(lambda: Decoder().init_with_output(jax.random.key(0), f)[0])
  assert out.shape == (1, 128, 128, 3)


@pytest.mark.parametrize("stages,side,channels", [(1, 16, 4), (2, 8, 8), (3, 4, 8)])
def test_a_shallower_encoder_pairs_with_a_shorter_decoder(stages, side, channels, tmp_path):
  """encoder_stages 1 / 2 / 3: relu3_1 / relu4_1 / relu5_1 of a 64 px image, decoded back to
  64 px; the whole model builds, and a VGG19 file fills only the stages used."""
  from tests.helpers import tiny_homointerp_config
  from i2ijax.train import homointerp
  c = tiny_homointerp_config()
  c.model.encoder_stages = stages
  c.data.crop_size = c.data.load_size = 64
  c.model.d_downsamples = {1: 3, 2: 2, 3: 1}[stages]
  width = c.model.vgg_width
  assert homointerp.feature_side(c) == side and homointerp.feature_channels(c) == channels * width
  nets = homointerp.build_models(c)
  x = jnp.zeros((2, 64, 64, 3))
  feat = jax.eval_shape(lambda: nets["E"].init_with_output(jax.random.key(0), x)[0])[-1]
  assert feat.shape == (2, side, side, channels * width)
  out = jax.eval_shape(lambda: nets["Dec"].init_with_output(jax.random.key(0),
                                                            jnp.zeros(feat.shape))[0])
  assert out.shape == (2, 64, 64, 3)
  state = jax.eval_shape(lambda: homointerp.create_state(c, jax.random.key(0),
                                                         {"x": (64, 64, 3)}, 4))
  used = sorted(name for stage in VGG19_STAGES[:stages] for name in
                (layer[0] for layer in stage if layer != "pool"))
  assert sorted(state.params["E"]) == sorted(state.vgg) == used
  path = str(tmp_path / "vgg19.npz")
  np.savez(path, **random_vgg19_state_dict(width, "torchvision"))
  assert sorted(load_vgg19(path, width, jnp.float32, stages)) == used
  with pytest.raises(ValueError, match=r"config.data.crop_size=64: .* takes 128 px images"):
    c.model.d_downsamples += 1
    homointerp.validate_config(c)
  c.model.encoder_stages = 4
  with pytest.raises(ValueError, match=r"config.model.encoder_stages=4 must be 1"):
    homointerp.validate_config(c)


def _interp(seed=0, n=2, b=3, c=4):
  rng = np.random.default_rng(seed)
  f1, f2 = (jnp.asarray(rng.normal(size=(n, 3, 3, c))) for _ in range(2))
  net = Interpolator(b, c, param_dtype=jnp.float64)
  params = net.init(jax.random.key(seed), f1, f2, jnp.zeros((n, b)))["params"]
  return net, params, f1, f2


def test_zero_strengths_return_the_source_feature_exactly():
  with jax.enable_x64(True):
    net, params, f1, f2 = _interp()
    out = net.apply({"params": params}, f1, f2, jnp.zeros((2, 3)))
    assert np.array_equal(np.asarray(out), np.asarray(f1))


def test_output_is_affine_in_the_strengths():
  """F_out(v) = F1 + sum_i v_i T_i(F2 - F1): fixed branch outputs, linear in each v_i."""
  with jax.enable_x64(True):
    net, params, f1, f2 = _interp(1)
    apply = lambda v: np.asarray(net.apply({"params": params}, f1, f2, jnp.asarray(v)))
    base = apply(np.zeros((2, 3)))
    branch = [apply(np.eye(3)[[i, i]]) - base for i in range(3)]  # T_i(F2 - F1)
    assert all(np.abs(t).max() > 1e-3 for t in branch)
    rng = np.random.default_rng(2)
    for _ in range(3):
      v = rng.uniform(-0.5, 1.5, (2, 3))
      want = base + sum(v[:, i, None, None, None] * branch[i] for i in range(3))
      np.testing.assert_allclose(apply(v), want, rtol=1e-12, atol=1e-12)
    # Each sample uses its own strengths.
    v = np.array([[1.0, 0, 0], [0, 0, 1.0]])
    out = apply(v)
    np.testing.assert_allclose(out[0], (base + branch[0])[0], atol=1e-12)
    np.testing.assert_allclose(out[1], (base + branch[2])[1], atol=1e-12)


def test_discriminator_needs_the_feature_its_heads_reduce_to_one_pixel():
  d = FeatureDiscriminator((2, 1), conv_dim=4, downsamples=1)
  f = jnp.zeros((2, 4, 4, 8))
  variables = d.init(jax.random.key(0), f)
  real, attrs = d.apply(variables, f)
  assert real.shape == (2, 1, 1, 4) and [a.shape for a in attrs] == [(2, 2), (2, 1)]
  with pytest.raises(ValueError, match="takes 4 x 4 features"):
    d.apply(variables, jnp.zeros((2, 8, 8, 8)))


def _conv3_relu(x, w, b):
  """NCHW numpy reference of Conv2d(3x3, padding 1) + ReLU."""
  n, c, h, wd = x.shape
  xp = np.pad(x, ((0, 0), (0, 0), (1, 1), (1, 1)))
  out = np.zeros((n, w.shape[0], h, wd))
  for dy in range(3):
    for dx in range(3):
      out += np.einsum("nchw,oc->nohw", xp[:, :, dy:dy + h, dx:dx + wd], w[:, :, dy, dx])
  return np.maximum(out + b[None, :, None, None], 0)


@pytest.mark.parametrize("layout", ["torchvision", "official"])
def test_vgg19_weights_file_is_read(tmp_path, layout):
  sd = random_vgg19_state_dict(2, layout)
  path = str(tmp_path / "vgg19.npz")
  np.savez(path, **sd)
  params = load_vgg19(path, 2, jnp.float32)
  key = "features.28" if layout == "torchvision" else "features_3.conv5_1"
  np.testing.assert_array_equal(np.asarray(params["conv5_1"]["kernel"]),
                                sd[f"{key}.weight"].transpose(2, 3, 1, 0))
  np.testing.assert_array_equal(np.asarray(params["conv5_1"]["bias"]), sd[f"{key}.bias"])
  # The loaded VGG computes what the file's layers compute: relu3_1 against a numpy reference.
  x = np.random.default_rng(0).normal(size=(1, 3, 8, 8))
  first = "features." if layout == "torchvision" else "features_1."
  names = (("0", "2", "5", "7", "10") if layout == "torchvision"
           else ("conv1_1", "conv1_2", "conv2_1", "conv2_2", "conv3_1"))
  h = x
  for k, name in enumerate(names):
    h = _conv3_relu(h, sd[f"{first}{name}.weight"], sd[f"{first}{name}.bias"])
    if k in (1, 3):
      h = h.reshape(h.shape[0], h.shape[1], h.shape[2] // 2, 2, h.shape[3] // 2, 2).max((3, 5))
  got, = Vgg19(width=2, stages=1).apply({"params": params},
                                         jnp.asarray(x.transpose(0, 2, 3, 1), jnp.float32))
  np.testing.assert_allclose(np.asarray(got), h.transpose(0, 2, 3, 1), rtol=1e-4, atol=1e-3)


def test_vgg19_weights_errors_name_the_file_and_the_width(tmp_path):
  with pytest.raises(FileNotFoundError, match="config.model.vgg_path"):
    load_vgg19(str(tmp_path / "missing.npz"), 64, jnp.float32)
  path = str(tmp_path / "vgg19.npz")
  np.savez(path, **random_vgg19_state_dict(2, "torchvision"))
  with pytest.raises(ValueError, match="vgg_width=4"):
    load_vgg19(path, 4, jnp.float32)
  sd = random_vgg19_state_dict(2, "torchvision")
  del sd["features.28.bias"]
  np.savez(path, **sd)
  with pytest.raises(ValueError, match="conv5_1"):
    load_vgg19(path, 2, jnp.float32)
