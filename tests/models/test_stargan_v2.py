"""StarGAN v2 networks: parameter counts, forward parity with the official code, init, shapes.

Parameter counts are those of the official clovaai/stargan-v2 networks (`core/model.py`,
commit 875b70a) at the official settings (img_size 256, style_dim 64, latent_dim 16; AFHQ:
num_domains 3, w_hpf 0; CelebA-HQ: num_domains 2, w_hpf 1), counted in PyTorch and here with
`jax.eval_shape` (no weights are made).

`tests/fixtures/official_stargan_v2_forward.npz` was made with the official code of that commit
(script: tests/fixtures/make/stargan_v2_forward.py). The official module source
was patched only to make the networks small: the first width `2**14 // img_size` -> 8 and the
MappingNetwork hidden width 512 -> 64. Settings: num_domains 3, style_dim 16, latent_dim 16;
G: img_size 32, max_conv_dim 32, w_hpf 0; G2: img_size 64, max_conv_dim 16, w_hpf 1 (run with
two [N, 1, 64, 64] masks and without); E and D: img_size 32, max_conv_dim 32. Weights: the
official `he_init`, then random biases and random InstanceNorm affine scales/biases so every
tensor's mapping matters. Stored: every state_dict tensor ("G/<torch key>", "G2/...", "F/...",
"E/...", "D/..."), the inputs (NCHW, batch 2) and the outputs, computed in float64 from the
stored float32 weights. Loading those weights into our modules must give the same outputs.
"""

import os

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from i2ijax.models.layers import count_params
from i2ijax.models.stargan_v2 import (AdainResBlk, Discriminator, Generator, MappingNetwork, ResBlk,
                                      StyleEncoder, params_from_torch)

FIXTURE = os.path.join(os.path.dirname(os.path.dirname(__file__)), "fixtures",
                       "official_stargan_v2_forward.npz")
S = jax.ShapeDtypeStruct
F32, I32 = jnp.float32, jnp.int32


def _abstract_init(model, *args):
  return jax.eval_shape(lambda k, *a: model.init(k, *a), jax.random.key(0), *args)["params"]


def _official_nets(num_domains, w_hpf, img=256, style_dim=64, latent_dim=16):
  x, y = S((1, img, img, 3), F32), S((1,), I32)
  return {
      "G": (Generator(img, style_dim, w_hpf=w_hpf), (x, S((1, style_dim), F32))),
      "F": (MappingNetwork(num_domains, style_dim), (S((1, latent_dim), F32), y)),
      "E": (StyleEncoder(img, style_dim, num_domains), (x, y)),
      "D": (Discriminator(img, num_domains), (x, y)),
  }


# Counted with the official PyTorch classes: sum(p.numel() for p in net.parameters()).
@pytest.mark.parametrize("config,num_domains,w_hpf,expected", [
    ("afhq", 3, 0, dict(G=33_892_995, F=3_259_072, E=20_949_760, D=20_852_803)),
    ("celeba_hq", 2, 1, dict(G=43_467_395, F=2_438_272, E=20_916_928, D=20_852_290)),
])
def test_param_counts_match_official(config, num_domains, w_hpf, expected):
  nets = _official_nets(num_domains, w_hpf)
  counts = {k: count_params(_abstract_init(m, *a)) for k, (m, a) in nets.items()}
  assert counts == expected


# --- forward parity -----------------------------------------------------------------------

def _load(f, prefix, model, *args, n_blocks=0):
  """The fixture's state_dict under `prefix` ("G", "G2", "F", "E", "D") as our variables;
  checks that it fills ours exactly."""
  state_dict = {k[len(prefix) + 1:]: f[k] for k in f.files if k.startswith(prefix + "/")}
  params = params_from_torch(prefix[0], state_dict, n_blocks)
  params = jax.tree_util.tree_map(jnp.asarray, params)
  want = jax.tree_util.tree_map(lambda a: a.shape, _abstract_init(model, *args))
  assert jax.tree_util.tree_map(lambda a: a.shape, params) == want
  return {"params": params}


@pytest.fixture(scope="module")
def fx():
  return np.load(FIXTURE)


def _nhwc(a):
  return jnp.asarray(a.transpose(0, 2, 3, 1))


def _close(ours, ref):
  ours = np.asarray(ours)
  assert ours.shape == ref.shape
  np.testing.assert_allclose(ours, ref, rtol=0, atol=1e-4 * max(1.0, float(np.abs(ref).max())))


def test_generator_matches_official(fx):
  g = Generator(img_size=32, style_dim=16, max_conv_dim=32, w_hpf=0, dim_in=8)
  x, s = _nhwc(fx["x"]), jnp.asarray(fx["s"])
  out = jax.jit(g.apply)(_load(fx, "G", g, x, s), x, s)
  _close(out, fx["g_out"].transpose(0, 2, 3, 1))


def test_generator_hpf_masks_matches_official(fx):
  np.testing.assert_array_equal(fx["G2/hpf.filter"], np.array([[-1, -1, -1], [-1, 8, -1],
                                                               [-1, -1, -1]], np.float32))
  g = Generator(img_size=64, style_dim=16, max_conv_dim=16, w_hpf=1, dim_in=8)
  x, s = _nhwc(fx["x2"]), jnp.asarray(fx["s"])
  variables = _load(fx, "G2", g, x, s)
  masks = (_nhwc(fx["mask0"]), _nhwc(fx["mask1"]))
  _close(jax.jit(g.apply)(variables, x, s, masks), fx["g2_out_masks"].transpose(0, 2, 3, 1))
  _close(jax.jit(g.apply)(variables, x, s), fx["g2_out_nomasks"].transpose(0, 2, 3, 1))


def test_mapping_network_matches_official(fx):
  f = MappingNetwork(num_domains=3, style_dim=16, hidden_dim=64)
  z, y = jnp.asarray(fx["z"]), jnp.asarray(fx["y"])
  _close(f.apply(_load(fx, "F", f, z, y), z, y), fx["f_out"])


def test_style_encoder_matches_official(fx):
  e = StyleEncoder(img_size=32, style_dim=16, num_domains=3, max_conv_dim=32, dim_in=8)
  x, y = _nhwc(fx["x"]), jnp.asarray(fx["y"])
  _close(jax.jit(e.apply)(_load(fx, "E", e, x, y, n_blocks=3), x, y), fx["e_out"])


def test_discriminator_matches_official(fx):
  d = Discriminator(img_size=32, num_domains=3, max_conv_dim=32, dim_in=8)
  x, y = _nhwc(fx["x"]), jnp.asarray(fx["y"])
  variables = _load(fx, "D", d, x, y, n_blocks=3)
  _close(d.apply(variables, x, y), fx["d_out"])
  _close(d.apply(variables, x), fx["d_logits"])  # y None: every domain's logit


# --- init and shapes ----------------------------------------------------------------------

def test_init_is_he_normal_with_zero_biases():
  @jax.jit  # one compile instead of many op-by-op ones
  def init(key):
    k = jax.random.split(key, 3)
    return (ResBlk(128, normalize=True, downsample=True).init(k[0], jnp.zeros((1, 4, 4, 64))),
            AdainResBlk(32, upsample=True).init(k[1], jnp.zeros((1, 2, 2, 16)), jnp.zeros((1, 16))),
            MappingNetwork(num_domains=1, style_dim=16, hidden_dim=256).init(
                k[2], jnp.zeros((1, 16)), jnp.zeros((1,), I32)))

  r, a, m = init(jax.random.key(0))
  for w in (r["params"]["conv1"]["kernel"], m["params"]["shared_1"]["kernel"]):  # 36,864, 65,536
    w = np.asarray(w)
    std = np.sqrt(2.0 / np.prod(w.shape[:-1]))  # fan_in = kh * kw * in
    assert abs(w.std() / std - 1) < 0.05 and abs(w.mean()) < 0.05 * std
    assert 0.035 < np.mean(np.abs(w) > 2 * std) < 0.055  # untruncated normal: ~4.55% beyond 2 sd
  for tree in (r, a, m):
    for path, leaf in jax.tree_util.tree_leaves_with_path(tree):
      name = jax.tree_util.keystr(path)
      if name.endswith("['bias']"):
        assert not np.asarray(leaf).any(), name
      elif name.endswith("['scale']"):
        np.testing.assert_array_equal(leaf, 1.0)
  assert "scale" in r["params"]["norm1"] and "kernel" in a["params"]["norm1"]["fc"]


@pytest.mark.parametrize("num_domains,w_hpf", [(3, 0), (2, 1)])
def test_output_shapes(num_domains, w_hpf):
  n = 2
  x, y = S((n, 256, 256, 3), F32), S((n,), I32)
  out = lambda m, *a: jax.eval_shape(
      lambda k, *a: m.init_with_output(k, *a)[0], jax.random.key(0), *a).shape
  nets = _official_nets(num_domains, w_hpf)
  assert out(nets["G"][0], x, S((n, 64), F32)) == (n, 256, 256, 3)
  masks = (S((n, 256, 256, 1), F32), S((n, 256, 256, 1), F32))
  if w_hpf:
    assert out(nets["G"][0], x, S((n, 64), F32), masks) == (n, 256, 256, 3)
  assert out(nets["F"][0], S((n, 16), F32), y) == (n, 64)
  assert out(nets["E"][0], x, y) == (n, 64)
  assert out(nets["D"][0], x, y) == (n,)
  assert out(nets["D"][0], x) == (n, num_domains)
