"""MUNIT and UNIT: official defaults, update order, schedule, learning, loop, grids, translate."""

import os

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from PIL import Image

from i2ijax import losses
from i2ijax.data.pipeline import Batches
from i2ijax.train import munit
from i2ijax.train.common import learning_rate_schedule
from i2ijax.train.loop import jit_once
from i2ijax.translate import translate_images
from tests.helpers import (assert_same_states, check_random_reference_and_interpolated_styles,
                           grid_body, lean_jit, load_config, random_vgg16_state_dict, short_run,
                           tiny_munit_config, tiny_unit_config, train_straight_and_resumed)


def test_default_configs_are_the_official_edges2handbags_settings():
  c = load_config("munit")
  g, d, o = c.model.gen, c.model.dis, c.optimizer
  assert (g.dim, g.mlp_dim, g.style_dim, g.activ, g.n_downsample, g.n_res, g.pad_type) == (
      64, 256, 8, "relu", 2, 4, "reflect")
  assert (d.dim, d.norm, d.activ, d.n_layer, d.gan_type, d.num_scales, d.pad_type) == (
      64, "none", "lrelu", 4, "lsgan", 3, "reflect")
  m = c.model
  assert (m.gan_w, m.recon_x_w, m.recon_s_w, m.recon_c_w, m.recon_x_cyc_w, m.vgg_w) == (
      1, 10, 1, 1, 0, 0)
  assert (o.lr, o.beta1, o.beta2, o.weight_decay, o.lr_policy, o.step_size, o.gamma) == (
      1e-4, 0.5, 0.999, 1e-4, "step", 100_000, 0.5)
  assert (c.batch_size, c.num_train_steps, c.num_sample_images) == (1, 1_000_000, 16)
  assert (c.data.preprocess, c.data.load_size, c.data.crop_size, c.data.flip) == (
      "resize_short_and_crop", 256, 256, True)
  u = load_config("unit")
  assert (u.model.recon_x_w, u.model.recon_kl_w, u.model.recon_x_cyc_w,
          u.model.recon_kl_cyc_w, u.model.vgg_w, u.model.gen.shared_blocks) == (
              10, 0.01, 10, 0.01, 0, 0)
  assert "style_dim" not in u.model.gen and u.optimizer.to_dict() == o.to_dict()
  # The UNIT quickstart keeps the official residual blocks (README "Results": with two it
  # does not keep the structure); the MUNIT one has two.
  assert (load_config("unit", "quickstart").model.gen.n_res,
          load_config("munit", "quickstart").model.gen.n_res) == (4, 2)
  with pytest.raises(ValueError, match="unknown munit preset"):
    load_config("munit", "edges2shoes_v9")


def test_bad_config_values_are_named():
  c = tiny_munit_config()
  c.data.crop_size = 30
  with pytest.raises(ValueError, match=r"config.data.crop_size=30 must be a multiple of 4"):
    munit.validate_config(c)
  c = tiny_munit_config()
  c.model.dis.gan_type = "wgan"
  with pytest.raises(ValueError, match=r"config.model.dis.gan_type='wgan'"):
    munit.validate_config(c)
  c = tiny_munit_config()
  c.model.vgg_w = 1.0
  with pytest.raises(ValueError, match="config.model.vgg_model_path"):
    munit.validate_config(c)
  c = tiny_unit_config()
  c.model.gen.shared_blocks = 3
  with pytest.raises(ValueError, match=r"config.model.gen.shared_blocks=3 must be in \[0, "):
    munit.validate_config(c)
  c = tiny_munit_config()
  c.data.embedded_domains = "day,dusk"
  with pytest.raises(ValueError, match="config.data.embedded_domains='day,dusk'"):
    munit.make_examples(c)


def test_step_schedule_is_torch_steplr_stepped_before_each_iteration():
  c = tiny_munit_config()
  c.optimizer.lr, c.optimizer.step_size, c.optimizer.gamma = 1e-4, 10, 0.5
  sched = learning_rate_schedule(c, 1)
  # torch: StepLR(last_epoch=-1) leaves epoch 0; the loop calls .step() before iteration t,
  # so iteration t runs at epoch t + 1: lr * gamma ** ((t + 1) // step_size).
  epoch, expected = 0, []
  for _ in range(25):
    epoch += 1
    expected.append(1e-4 * 0.5 ** (epoch // 10))
  np.testing.assert_allclose([float(sched(t)) for t in range(25)], expected, rtol=1e-6)
  assert float(sched(8)) == pytest.approx(1e-4) and float(sched(9)) == pytest.approx(5e-5)


def _create_state(c, shapes, size):
  """A fresh state, initialised under jit (one compile instead of one per op)."""
  return jit_once(lambda k: munit.create_state(c, k, shapes, size))(jax.random.key(0))


def _adam_count(opt_state):
  return int(next(s.count for s in jax.tree_util.tree_leaves(
      opt_state, is_leaf=lambda s: isinstance(s, optax.ScaleByAdamState))
      if isinstance(s, optax.ScaleByAdamState)))


def _check_first_iteration(c, state, new, batch, metrics, rng):
  """D is updated first (from the initial G), then G against the updated D."""
  assert _adam_count(new.g_opt_state) == 1 and _adam_count(new.d_opt_state) == 1
  nets = munit.Nets(c)
  xa, xb = jnp.asarray(batch["A"]), jnp.asarray(batch["B"])
  n, dim = xa.shape[0], c.model.gen.style_dim
  k_d, k_g = jax.random.split(jax.random.fold_in(rng, 0))
  g0, d0, d1 = state.params["G"], state.params["D"], new.params["D"]
  # The D step's fakes: the initial G with the D step's own style codes.
  ka, kb = jax.random.split(k_d)
  s_a, s_b = (jax.random.normal(k, (n, dim)) for k in (ka, kb))
  x_ba = nets.decode(g0, "a", nets.encode(g0, "b", xb)[0], s_a)
  x_ab = nets.decode(g0, "b", nets.encode(g0, "a", xa)[0], s_b)
  d_total = (losses.multiscale_d_loss(nets.dis(d0, "a", xa), nets.dis(d0, "a", x_ba))
             + losses.multiscale_d_loss(nets.dis(d0, "b", xb), nets.dis(d0, "b", x_ab)))
  assert float(metrics["D_total"]) == pytest.approx(float(d_total), rel=1e-4)
  # The G step: fresh codes, and the discriminator after its update.
  ka, kb = jax.random.split(k_g)
  s_a, s_b = (jax.random.normal(k, (n, dim)) for k in (ka, kb))
  x_ba = nets.decode(g0, "a", nets.encode(g0, "b", xb)[0], s_a)
  adv = losses.multiscale_g_loss(nets.dis(d1, "a", x_ba))
  assert float(metrics["G_adv_a"]) == pytest.approx(float(adv), rel=1e-4)
  assert float(metrics["G_adv_a"]) != pytest.approx(
      float(losses.multiscale_g_loss(nets.dis(d0, "a", x_ba))), rel=1e-4)
  c_b_recon, s_a_recon = nets.encode(g0, "a", x_ba)
  assert float(metrics["G_recon_s_a"]) == pytest.approx(
      c.model.recon_s_w * float(jnp.mean(jnp.abs(s_a_recon - s_a))), rel=1e-4)
  assert float(metrics["G_recon_c_b"]) == pytest.approx(
      c.model.recon_c_w * float(jnp.mean(jnp.abs(c_b_recon - nets.encode(g0, "b", xb)[0]))),
      rel=1e-4)


@pytest.mark.slow
def test_munit_first_iteration_then_latent_reconstructions_fall_on_a_tiny_set():
  c = tiny_munit_config(32)
  c.batch_size = 4
  c.optimizer.lr = 8e-4  # 8x the official rate: a few hundred iterations
  examples, size, shapes = munit.make_examples(c)
  state = _create_state(c, shapes, size)
  step = jax.jit(munit.make_train_step(c, size), donate_argnums=(0,))
  batches = Batches(examples, c.batch_size)
  rng = jax.random.key(1)
  initial = jax.tree_util.tree_map(jnp.copy, state)
  state, metrics = step(state, batches(0), rng)
  _check_first_iteration(c, initial, state, batches(0), metrics, rng)
  history = [metrics]
  for i in range(1, 400):
    state, metrics = step(state, batches(i), rng)
    history.append(metrics)
  history = jax.device_get(history)
  mean = lambda key, part: np.mean([h[f"{key}_a"] + h[f"{key}_b"] for h in part])
  # Content and style reconstruction (and the image reconstruction) fall.
  assert mean("G_recon_c", history[-50:]) < 0.4 * mean("G_recon_c", history[:20])
  assert mean("G_recon_s", history[-50:]) < 0.88 * mean("G_recon_s", history[:20])
  assert mean("G_recon_x", history[-50:]) < 0.5 * mean("G_recon_x", history[:20])
  # Different style codes give different outputs for the same content.
  nets = munit.Nets(c)
  test, _, _ = munit.make_examples(c, "test", seed=1)
  xa = jnp.asarray(np.stack([test(i)["A"] for i in range(4)]))
  content, _ = nets.encode(state.params["G"], "a", xa)
  s = jax.random.normal(jax.random.key(5), (2, 4, c.model.gen.style_dim))
  out = [nets.decode(state.params["G"], "b", content, s[k]) for k in range(2)]
  assert float(jnp.mean(jnp.abs(out[0] - out[1]))) > 0.05


@pytest.mark.slow
def test_unit_first_iteration_and_kl_terms():
  c = tiny_unit_config(32)
  examples, size, shapes = munit.make_examples(c)
  state = _create_state(c, shapes, size)
  batch = Batches(examples, c.batch_size)(0)
  new, metrics = lean_jit(munit.make_train_step(c, size))(state, batch, jax.random.key(1))
  assert _adam_count(new.g_opt_state) == 1 and _adam_count(new.d_opt_state) == 1
  nets = munit.Nets(c)
  h_a = nets.encode(state.params["G"], "a", jnp.asarray(batch["A"]))  # no noise in the latent
  assert float(metrics["G_recon_kl_a"]) == pytest.approx(
      0.01 * float(jnp.mean(jnp.square(h_a))), rel=1e-4)
  assert {"G_cyc_x_a", "G_recon_kl_cyc_aba", "G_adv_b", "D_a"} <= set(metrics)
  # With shared blocks the two domains' encoders end in the same (single) parameters.
  c.model.gen.shared_blocks = 1
  shared = jax.eval_shape(lambda k: munit.create_state(c, k, shapes, size), jax.random.key(0))
  assert set(shared.params["G"]) == {"gen_a", "gen_b", "shared_enc", "shared_dec"}
  assert "model_3" not in shared.params["G"]["gen_a"]["enc"]  # 1 own block, then the shared one


def _loop_config(steps, name="munit"):
  return short_run((tiny_munit_config if name == "munit" else tiny_unit_config)(32), steps)


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
  return train_straight_and_resumed(_loop_config, tmp_path_factory.mktemp("munit"), 4, 2)


@pytest.mark.slow
def test_munit_resume_equals_uninterrupted(runs):
  assert runs["first_half"] == ["2"]
  assert {"G_recon_s_a", "G_recon_c_b", "D_total", "lr"} <= set(runs["metrics"])
  assert assert_same_states(runs["straight"], runs["resumed"], _loop_config(4)) > 100


@pytest.mark.slow
def test_unit_resume_equals_uninterrupted(tmp_path):
  make = lambda steps: _loop_config(steps, "unit")
  out = train_straight_and_resumed(make, tmp_path, 4, 2)
  assert {"G_recon_kl_a", "G_cyc_x_b"} <= set(out["metrics"])
  assert assert_same_states(out["straight"], out["resumed"], make(4)) > 50


@pytest.mark.slow
def test_sample_grids_show_styles_references_and_swaps(runs):
  folder = os.path.join(runs["straight"], "samples")
  assert sorted(os.listdir(folder)) == ["reference_ab_step_00000004.png",
                                        "step_00000004.png", "styles_ab_step_00000004.png",
                                        "swap_a_step_00000004.png"]
  read = lambda name: np.asarray(Image.open(os.path.join(folder, name)))
  # samples: 2 rows (a, b) x 2 images, 4 columns; styles: 2 x (1 + 2); swap: (1 + 2) x (1 + 2);
  # each labelled.
  grid_body(read("step_00000004.png"), 4, 4)
  grid_body(read("styles_ab_step_00000004.png"), 2, 3)
  swap = grid_body(read("swap_a_step_00000004.png"), 3, 3)
  assert (swap[2:34, 2:34] == 255).all()  # the blank corner
  # Row i, column j of the swap grid: content of image i, style of image j.
  cell = lambda i, j: swap[2 + 34 * i:34 * (i + 1), 2 + 34 * j:34 * (j + 1)].astype(int)
  assert np.abs(cell(1, 1) - cell(1, 2)).mean() > 0  # two styles, one content
  assert np.abs(cell(1, 1) - cell(2, 1)).mean() > 0  # one style, two contents


@pytest.mark.slow
def test_translate_with_styles_references_and_interpolation(runs, tmp_path):
  wd = runs["straight"]
  src = check_random_reference_and_interpolated_styles(wd, tmp_path, "AtoB")
  with pytest.raises(ValueError, match="use --direction"):
    translate_images(wd, src, str(tmp_path / "x"), domain="night")


@pytest.mark.slow
def test_vgg_perceptual_term_of_the_generator_step(tmp_path):
  from i2ijax.metrics.torch_weights import save_npz_state_dict
  from i2ijax.perceptual import Vgg16, load_vgg16, vgg_preprocess
  path = str(tmp_path / "vgg16.npz")
  save_npz_state_dict(path, random_vgg16_state_dict())
  c = tiny_munit_config(16)
  c.model.vgg_w, c.model.vgg_model_path = 0.5, path
  examples, size, shapes = munit.make_examples(c)
  state = _create_state(c, shapes, size)
  batch = Batches(examples, c.batch_size)(0)
  _, metrics = lean_jit(munit.make_train_step(c, size))(state, batch, jax.random.key(1))
  # The G step's x_ab (initial G, the step's codes) against x_a, through VGG16 relu5_3.
  nets, n = munit.Nets(c), c.batch_size
  k_g = jax.random.split(jax.random.fold_in(jax.random.key(1), 0))[1]
  s_b = jax.random.normal(jax.random.split(k_g)[1], (n, c.model.gen.style_dim))
  vgg = load_vgg16(path)

  @jax.jit
  def expected(g0, xa):
    x_ab = nets.decode(g0, "b", nets.encode(g0, "a", xa)[0], s_b)
    feats = lambda x: Vgg16().apply({"params": vgg}, vgg_preprocess(x))
    return losses.instance_normalized_feature_loss(feats(x_ab), feats(xa))

  expect = expected(state.params["G"], jnp.asarray(batch["A"]))
  assert float(metrics["G_vgg_b"]) == pytest.approx(0.5 * float(expect), rel=1e-3)
