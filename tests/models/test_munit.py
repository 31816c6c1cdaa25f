"""MUNIT / UNIT networks: parameter counts, forward parity with the official code, init.

Parameter counts are those of the official NVlabs/MUNIT `networks.py` (commit a82e222) at the
official edges2handbags settings (`configs/edges2handbags_folder.yaml`; UNIT:
`configs/unit_edges2handbags_folder.yaml` of mingyuliutw/UNIT): gen dim 64, style_dim 8, mlp_dim
256, n_downsample 2, n_res 4; dis dim 64, n_layer 4, num_scales 3. Counted here with
`jax.eval_shape` (no weights are made).

`tests/fixtures/official_munit_forward.npz` was made with that official `networks.py` by
`tests/fixtures/make/munit_forward.py` (with PyTorch and a checkout of the official code): an AdaINGen and a VAEGen with dim 8, style_dim 4,
mlp_dim 16, n_downsample 2, n_res 2, and an MsImageDis with dim 8, n_layer 3, num_scales 3, all
reflect-padded; weights Kaiming-normal with random biases, LayerNorm gammas U(0.5, 1.5) and
betas N(0, 0.1). Stored: every state_dict tensor ("G/<key>", "V/<key>", "D/<key>"), the inputs
(NCHW) and the outputs computed in float64 from the stored float32 weights: content and style
codes, the MLP output, decode(content, s) for a batch of 2 and of 1 (the LayerNorm's separate
batch-of-one path), the VAE's latent and decoding, each scale's logits and the LSGAN losses.
"""

import os

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from i2ijax import losses
from i2ijax.models.layers import count_params
from i2ijax.models.munit import (AdaINGen, Generators, LayerNorm, MsImageDis, VAEGen, flax_path,
                                 variables_from_torch)

FIXTURE = os.path.join(os.path.dirname(os.path.dirname(__file__)), "fixtures",
                       "official_munit_forward.npz")
S = jax.ShapeDtypeStruct


def _abstract(module, *args):
  return jax.eval_shape(lambda k, *a: module.init(k, *a), jax.random.key(0), *args)["params"]


def test_param_counts_match_official():
  x = S((1, 256, 256, 3), jnp.float32)
  munit = _abstract(Generators("munit"), x, x)
  gen = munit["gen_a"]
  assert {k: count_params(v) for k, v in gen.items()} == {
      "enc_content": 5_385_856, "enc_style": 2_764_936, "dec": 5_754_627, "mlp": 1_120_768}
  assert count_params(gen) == 15_026_187
  assert count_params(munit) == 2 * 15_026_187
  assert count_params(_abstract(MsImageDis(), x)) == 8_271_171  # 3 x 2,757,057
  # UNIT's VAEGen: the content encoder and a decoder with IN (no AdaIN, no MLP, no style).
  unit = _abstract(Generators("unit"), x, x)
  assert {k: count_params(v) for k, v in unit["gen_a"].items()} == {"enc": 5_385_856,
                                                                     "dec": 5_754_627}
  assert count_params(unit["gen_a"]) == 11_140_483
  # With the paper's weight sharing of the last / first residual block, it is stored once.
  shared = _abstract(Generators("unit", shared_blocks=1), x, x)
  assert count_params(shared["shared_enc"]) == count_params(shared["shared_dec"]) == 1_180_160
  assert count_params(shared) == 2 * 11_140_483 - 2 * 1_180_160


def test_flax_paths_of_official_keys():
  assert flax_path("enc_content.model.3.model.0.model.1.conv.weight") == (
      ("enc_content", "model_3", "model_0", "model_1", "Conv_0", "conv"), "weight")
  assert flax_path("dec.model.2.norm.gamma") == (("dec", "model_2", "norm"), "gamma")
  assert flax_path("cnns.2.4.bias") == (("cnns_2", "layers_4"), "bias")
  assert flax_path("mlp.model.0.fc.weight") == (("mlp", "model_0", "fc"), "weight")


@pytest.fixture(scope="module")
def fx():
  return np.load(FIXTURE)


def _load(fx, tag, module, *args):
  """The fixture's state_dict `tag` as our variables; checks it fills our tree exactly."""
  sd = {k[len(tag) + 1:]: fx[k] for k in fx.files if k.startswith(tag + "/")}
  params = variables_from_torch(sd)
  want = jax.tree_util.tree_map(lambda a: a.shape, _abstract(module, *args))
  assert jax.tree_util.tree_map(lambda a: a.shape, params) == want
  return {"params": jax.tree_util.tree_map(jnp.asarray, params)}


def _nhwc(a):
  return jnp.asarray(np.asarray(a).transpose(0, 2, 3, 1))


def _close(ours, ref, scale=None):
  ours, ref = np.asarray(ours), np.asarray(ref)
  assert ours.shape == ref.shape
  np.testing.assert_allclose(ours, ref, rtol=0, atol=2e-5 * max(1.0, float(np.abs(ref).max())))


SMALL = dict(dim=8, style_dim=4, n_downsample=2, n_res=2, mlp_dim=16)


def test_adain_generator_matches_official(fx):
  g = AdaINGen(**SMALL)
  x, s = _nhwc(fx["x"]), jnp.asarray(fx["s"][:, :, 0, 0])
  v = _load(fx, "G", g, x)
  content, style = jax.jit(lambda v, x: g.apply(v, x, method="encode"))(v, x)
  _close(content, fx["g_content"].transpose(0, 2, 3, 1))
  _close(style, fx["g_style"][:, :, 0, 0])
  _close(g.apply(v, s, method=lambda m, s: m.mlp(s)), fx["g_mlp"])
  decode = jax.jit(lambda v, c, s: g.apply(v, c, s, method="decode"))
  c = _nhwc(fx["g_content"])
  _close(decode(v, c, s), fx["g_decode"].transpose(0, 2, 3, 1))
  _close(decode(v, c[:1], s[:1]), fx["g_decode_single"].transpose(0, 2, 3, 1))
  _close(jax.jit(g.apply)(v, x), fx["g_recon"].transpose(0, 2, 3, 1))
  # Sensitivity: the AdaIN weight/bias order matters (swapping them changes the output).
  from i2ijax.models import munit
  orig = munit.split_adain_params
  munit.split_adain_params = lambda p, n, d: [(b, w) for w, b in orig(p, n, d)]
  try:
    wrong = g.apply(v, c, s, method="decode")
  finally:
    munit.split_adain_params = orig
  assert float(jnp.max(jnp.abs(wrong - fx["g_decode"].transpose(0, 2, 3, 1)))) > 0.1


def test_vae_generator_matches_official(fx):
  g = VAEGen(dim=8, n_downsample=2, n_res=2)
  x = _nhwc(fx["x"])
  v = _load(fx, "V", g, x)
  h = jax.jit(lambda v, x: g.apply(v, x, method="encode"))(v, x)
  _close(h, fx["v_hidden"].transpose(0, 2, 3, 1))
  _close(jax.jit(lambda v, h: g.apply(v, h, method="decode"))(v, h),
         fx["v_decode"].transpose(0, 2, 3, 1))


def test_multiscale_discriminator_and_lsgan_losses_match_official(fx):
  d = MsImageDis(dim=8, n_layer=3, num_scales=3)
  x, x2 = _nhwc(fx["x"]), _nhwc(fx["x2"])
  v = _load(fx, "D", d, x)
  outs = jax.jit(d.apply)(v, x)
  for i, o in enumerate(outs):
    _close(o, fx[f"d_out{i}"].transpose(0, 2, 3, 1))
  fake = d.apply(v, x2)
  assert float(losses.multiscale_d_loss(outs, fake)) == pytest.approx(float(fx["d_loss"]),
                                                                             rel=1e-5)
  assert float(losses.multiscale_g_loss(fake)) == pytest.approx(float(fx["g_loss"]),
                                                                       rel=1e-5)


def test_init_kaiming_generators_gaussian_discriminators_uniform_layernorm_gamma():
  x = jnp.zeros((1, 32, 32, 3))
  g = jax.jit(lambda k: Generators("munit", dim=32, n_res=1, mlp_dim=64).init(k, x, x))(
      jax.random.key(0))["params"]["gen_a"]
  d = jax.jit(lambda k: MsImageDis(dim=32, n_layer=2).init(k, x))(jax.random.key(1))["params"]
  w = np.asarray(g["enc_content"]["model_3"]["model_0"]["model_0"]["Conv_0"]["conv"]["kernel"])
  std = np.sqrt(2.0 / np.prod(w.shape[:-1]))
  assert abs(w.std() / std - 1) < 0.05  # 36,864 draws
  wd = np.asarray(d["cnns_0"]["layers_1"]["Conv_0"]["conv"]["kernel"])
  assert abs(wd.std() / 0.02 - 1) < 0.05
  gamma = np.asarray(g["dec"]["model_2"]["norm"]["gamma"])
  assert gamma.min() >= 0 and gamma.max() < 1 and gamma.std() > 0.2  # U[0, 1)
  for tree in (g, d):
    for path, leaf in jax.tree_util.tree_leaves_with_path(tree):
      name = jax.tree_util.keystr(path)
      if name.endswith("['bias']") or name.endswith("['beta']"):
        assert not np.asarray(leaf).any(), name


def test_layer_norm_uses_unbiased_std_over_chw():
  x = jax.random.normal(jax.random.key(0), (2, 3, 4, 5)) * 3 + 1
  ln = LayerNorm()
  v = {"params": {"gamma": jnp.ones(5), "beta": jnp.zeros(5)}}
  y = np.asarray(ln.apply(v, x))
  xs = np.asarray(x).reshape(2, -1)
  expect = (xs - xs.mean(1, keepdims=True)) / (xs.std(1, ddof=1, keepdims=True) + 1e-5)
  np.testing.assert_allclose(y.reshape(2, -1), expect, rtol=1e-5, atol=1e-5)
