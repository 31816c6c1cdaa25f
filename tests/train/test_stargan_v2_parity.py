"""Three StarGAN v2 training iterations against the official solver, in float64.

`tests/fixtures/official_stargan_v2_steps.npz` (written by
`tests/fixtures/make/stargan_v2_steps.py`, which runs `Solver.train` of
clovaai/stargan-v2 commit 875b70a for three iterations) holds the official
update at tiny widths: 32 x 32 images, first width 4, max_conv_dim 8, mapping
width 8, style_dim 4, latent_dim 4, 3 domains, batch 2, w_hpf 0; distinct loss
weights (lambda_reg 1.2, lambda_cyc 1.3, lambda_sty 0.7, lambda_ds 1.1, which
decays over ds_iter = 2 iterations: 1.1, 0.55, 0); the official Adam settings
(lr 1e-4, mapping network 1e-6, betas (0, 0.99), weight decay 1e-4) and EMA
beta 0.999. Images are uint8 arrays u, fed to both sides as u / 127.5 - 1 in
float64 (exact); the latents z_trg, z_trg2 the official fetcher drew are
injected through the step's `draws`.

Our step starts from the official initial networks (He init) and EMA copies
(PyTorch default init). After iterations 1 and 3 every loss term (and after 2,
the losses only), lambda_ds, every parameter of G, F, E and D, their EMA
copies and both Adam moments of all four optimizers must agree with the
official ones to 1e-10 * max(1, |official|).
"""

import jax
import jax.numpy as jnp
import pytest

from i2ijax.models.stargan_v2 import flax_array, flax_path, params_from_torch, trunk_blocks
from i2ijax.train import stargan_v2
from tests.helpers import lean_jit, tiny_stargan_v2_config
from tests.parity import (Mismatches, adam_moments, check_adam, check_arrays, entries, images,
                          load_fixture)

NETS = {"G": "generator", "F": "mapping_network", "E": "style_encoder", "D": "discriminator"}
LOSS_TERMS = {"D": ("real", "fake", "reg"), "G": ("adv", "sty", "ds", "cyc", "total")}
SAVED = (1, 3)


@pytest.fixture(scope="module")
def fixture():
  return load_fixture("stargan_v2")


def official_config(fixture):
  """Our config with the fixture's settings (`meta/`), in float64."""
  meta = {k: v.item() for k, v in entries(fixture, "meta").items()}
  c = tiny_stargan_v2_config(meta["img_size"])
  m, o = c.model, c.optimizer
  m.dim_in = meta["first_width"]
  for key in ("max_conv_dim", "hidden_dim", "style_dim", "latent_dim", "num_domains",
              "lambda_reg", "lambda_cyc", "lambda_sty", "lambda_ds", "ds_iter", "w_hpf",
              "ema_beta"):
    m[key] = meta[key]
  for key in ("lr", "f_lr", "beta1", "beta2", "weight_decay"):
    o[key] = meta[key]
  c.batch_size = meta["batch_size"]
  m.param_dtype = "float64"
  return c


def batch(fixture, t):
  b = {k: images(fixture, f"batch/{t}/{k}") for k in ("x_src", "x_ref", "x_ref2")}
  b.update({k: jnp.asarray(fixture[f"batch/{t}/{k}"], jnp.int32) for k in ("y_src", "y_ref")})
  return b


def locator(net, n_blocks):
  """`Locate` of network `net`'s official state_dict entries in our params tree."""
  def locate(key, value):
    path = flax_path(net, key, n_blocks)
    return path, flax_array(path, value)
  return locate


def compare(config, fixture) -> Mismatches:
  """Runs our step from the official initial state on the fixture's batches and draws;
  returns the comparisons with the official iterations."""
  mm = Mismatches()
  n_blocks = trunk_blocks(config.data.crop_size)
  with jax.enable_x64(True):
    fresh = jax.eval_shape(lambda key: stargan_v2.create_state(
        config, key, stargan_v2.image_shapes(config), 8), jax.random.key(0))
    as64 = lambda tree: jax.tree_util.tree_map(lambda a: jnp.asarray(a, jnp.float64), tree)
    load = lambda prefix, net: as64(params_from_torch(net, entries(fixture, prefix), n_blocks))
    params = {n: load(f"init/{NETS[n]}", n) for n in NETS}
    ema = {n: load(f"init/ema/{NETS[n]}", n) for n in stargan_v2.EMA_NETWORKS}
    # The official state_dicts fill our trees exactly (shapes and dtypes).
    spec = lambda tree: jax.tree_util.tree_map(lambda a: (a.shape, a.dtype), tree)
    assert spec(params) == spec(fresh.params) and spec(ema) == spec(fresh.ema)
    opts = stargan_v2.make_optimizers(config)
    state = stargan_v2.StarGANv2State(
        step=jnp.zeros((), jnp.int32), params=params, ema=ema,
        opt_state={n: opts[n].init(params[n]) for n in NETS},
        batch_stats={n: {} for n in NETS})
    assert spec(state) == spec(fresh)
    step = lean_jit(stargan_v2.make_train_step(config, 8))
    for t in range(1, 4):
      draws = {k: jnp.asarray(fixture[f"draw/{t}/{k}"]) for k in ("z_trg", "z_trg2")}
      state, metrics = step(state, batch(fixture, t), jax.random.key(0), draws)
      for kind, terms in LOSS_TERMS.items():
        for tag in ("latent", "ref"):
          for term in terms:
            name = f"{kind}_{tag}_{term}"
            mm.check(f"step{t}/loss/{name}", metrics[name], fixture[f"step{t}/loss/{name}"])
      mm.check(f"step{t}/loss/lambda_ds", metrics["lambda_ds"], fixture[f"step{t}/loss/lambda_ds"])
      if t not in SAVED:
        continue
      for n, net in NETS.items():
        locate = locator(n, n_blocks)
        official = entries(fixture, f"step{t}/{net}")
        assert len(official) == len(jax.tree_util.tree_leaves(state.params[n]))
        check_arrays(mm, f"step{t}/{net}", official, state.params[n], locate)
        check_adam(mm, fixture, f"step{t}/adam/{net}", *adam_moments(state.opt_state[n]), locate)
        if n in stargan_v2.EMA_NETWORKS:
          official = entries(fixture, f"step{t}/ema/{net}")
          assert len(official) == len(jax.tree_util.tree_leaves(state.ema[n]))
          check_arrays(mm, f"step{t}/ema/{net}", official, state.ema[n], locate)
  return mm


def test_fixture_settings(fixture):
  c = official_config(fixture)
  m, o = c.model, c.optimizer
  assert (c.data.crop_size, m.dim_in, m.max_conv_dim, m.num_domains, c.batch_size) == (
      32, 4, 8, 3, 2)
  assert (m.lambda_reg, m.lambda_cyc, m.lambda_sty, m.lambda_ds, m.ds_iter, m.w_hpf) == (
      1.2, 1.3, 0.7, 1.1, 2, 0.0)
  assert (o.lr, o.f_lr, o.beta1, o.beta2, o.weight_decay, m.ema_beta) == (
      1e-4, 1e-6, 0.0, 0.99, 1e-4, 0.999)
  assert str(fixture["meta/commit"]).startswith("875b70a")
  # lambda_ds as the official solver used it: 1.1, 0.55, then 0 (the end of the decay).
  assert [float(fixture[f"step{t}/loss/lambda_ds"]) for t in (1, 2, 3)] == [1.1, 0.55, 0.0]


def test_three_iterations_match_the_official_ones(fixture):
  compare(official_config(fixture), fixture).assert_ok()


@pytest.mark.slow
def test_a_wrong_style_weight_fails_the_comparison(fixture):
  c = official_config(fixture)
  c.model.lambda_sty = 0.71  # the fixture's 0.7, off by 1.4 %
  mm = compare(c, fixture)
  bad = {what for _, what, _ in mm.bad}
  # The first generator loss is off; the discriminator losses before it are not.
  assert "step1/loss/G_latent_total" in bad and "step1/loss/D_ref_real" not in bad
  with pytest.raises(AssertionError, match="differ from the official step"):
    mm.assert_ok()


def test_a_float64_step_computes_nothing_in_float32(fixture):
  # The step as the loop runs it (drawing its own latents): no value of any
  # iteration, constant or draw, is narrower than config.model.param_dtype.
  c = official_config(fixture)
  with jax.enable_x64(True):
    state = jax.eval_shape(lambda key: stargan_v2.create_state(
        c, key, stargan_v2.image_shapes(c), 8), jax.random.key(0))
    jaxpr = str(jax.make_jaxpr(stargan_v2.make_train_step(c, 8))(
        state, batch(fixture, 1), jax.random.key(0)))
  assert "f64[" in jaxpr and "f32[" not in jaxpr


def test_draws_with_other_names_are_refused(fixture):
  step = stargan_v2.make_train_step(official_config(fixture), 8)
  with pytest.raises(ValueError, match=r"draws \['z'\]: the stargan_v2 step draws exactly"):
    step(None, batch(fixture, 1), jax.random.key(0), {"z": fixture["draw/1/z_trg"]})
