"""StarGAN v2: official defaults, the order and count of updates, EMA, learning, loop, translate."""

import os

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from PIL import Image

from i2ijax import losses
from i2ijax.data.embedded import style_domain_features
from i2ijax.data.images import to_uint8
from i2ijax.data.pipeline import Batches
from i2ijax.registry import TranslateRequest
from i2ijax.train import stargan_v2
from i2ijax.translate import load_state, translate_images
from tests.helpers import (assert_same_states, grid_body, load_config, short_run,
                           tiny_stargan_v2_config, train_straight_and_resumed)


def test_default_config_is_the_official_afhq_setting():
  c = load_config("stargan_v2")
  m, o = c.model, c.optimizer
  assert (c.data.crop_size, m.num_domains, m.w_hpf, m.lambda_ds) == (256, 3, 0.0, 2.0)
  assert (m.latent_dim, m.style_dim, m.lambda_reg, m.lambda_cyc, m.lambda_sty) == (16, 64, 1, 1, 1)
  assert (m.ds_iter, m.ema_beta, c.batch_size, c.num_train_steps, c.seed) == (
      100_000, 0.999, 8, 100_000, 777)
  assert (o.lr, o.f_lr, o.beta1, o.beta2, o.weight_decay) == (1e-4, 1e-6, 0.0, 0.99, 1e-4)
  assert (c.data.preprocess, c.data.randcrop_prob, c.data.flip) == ("random_resized_crop", 0.5, True)
  celeba = load_config("stargan_v2", "celeba_hq")
  assert (celeba.model.num_domains, celeba.model.w_hpf, celeba.model.lambda_ds) == (2, 1.0, 1.0)
  with pytest.raises(ValueError, match="unknown stargan_v2 preset"):
    load_config("stargan_v2", "afhqv3")


def test_bad_config_values_are_named():
  c = tiny_stargan_v2_config()
  c.data.crop_size = 48
  with pytest.raises(ValueError, match=r"config.data.crop_size=48 .* power of 2"):
    stargan_v2.validate_config(c)
  c = tiny_stargan_v2_config()
  c.model.num_domains = 2
  with pytest.raises(ValueError, match="config.model.num_domains=2 but the embedded dataset has 3"):
    stargan_v2.make_examples(c)


def _adam_count(opt_state):
  return int(next(s.count for s in opt_state if isinstance(s, optax.ScaleByAdamState)))


def _check_first_iteration(c, state, new, batch, metrics, rng):
  """One iteration against the official solver, recomputed from the states before and after."""
  m = c.model
  # Adam steps per iteration: D twice (latent, reference), G twice, F and E once.
  counts = {k: _adam_count(new.opt_state[k]) for k in stargan_v2.NETWORKS}
  assert counts == {"G": 2, "D": 2, "F": 1, "E": 1}
  nets = stargan_v2.build_models(c)
  ap = jax.jit(lambda name, p, *a: nets[name].apply({"params": p[name]}, *a), static_argnums=0)
  x, y, y_trg = batch["x_src"], batch["y_src"], batch["y_ref"]
  n = x.shape[0]
  # The first D step sees the initial D: real term and R1.
  real = ap("D", state.params, x, y)
  assert float(metrics["D_latent_real"]) == pytest.approx(float(jnp.mean(jax.nn.softplus(-real))),
                                                          rel=1e-5)
  reg, _ = jax.jit(lambda p: losses.r1_penalty(lambda v: nets["D"].apply({"params": p}, v, y),
                                               x))(state.params["D"])
  assert float(metrics["D_latent_reg"]) == pytest.approx(float(reg), rel=1e-4)
  # The latent-guided G step judges G(x, F(z, y~)) (initial G and F, the step's z)
  # with the discriminator after both of its updates.
  k1, _ = jax.random.split(jax.random.fold_in(rng, 0))
  z = jax.random.normal(k1, (n, m.latent_dim))
  fake = ap("G", state.params, x, ap("F", state.params, z, y_trg))
  adv = jnp.mean(jax.nn.softplus(-ap("D", new.params, fake, y_trg)))
  assert float(metrics["G_latent_adv"]) == pytest.approx(float(adv), rel=1e-4)
  assert float(metrics["lambda_ds"]) == pytest.approx(m.lambda_ds)
  # EMA: ema <- param + beta (ema - param), from PyTorch-default-initialised copies.
  for name in stargan_v2.EMA_NETWORKS:
    for e0, p1, e1 in zip(*(jax.tree_util.tree_leaves(t[name])
                            for t in (state.ema, new.params, new.ema))):
      np.testing.assert_allclose(e1, p1 + m.ema_beta * (e0 - p1), rtol=1e-6, atol=1e-7)
  conv = state.ema["G"]["from_rgb"]
  bound = 1 / np.sqrt(3 * 3 * 3)
  assert float(jnp.max(jnp.abs(conv["kernel"]))) <= bound
  assert float(jnp.max(jnp.abs(conv["bias"]))) > 0
  assert float(jnp.max(jnp.abs(state.params["G"]["from_rgb"]["bias"]))) == 0.0  # He: zero bias


def test_lambda_ds_decays_linearly_to_zero():
  c = tiny_stargan_v2_config()
  m = c.model
  assert float(stargan_v2.lambda_ds_at(c, 0)) == pytest.approx(m.lambda_ds)
  assert float(stargan_v2.lambda_ds_at(c, m.ds_iter // 2)) == pytest.approx(m.lambda_ds / 2)
  assert float(stargan_v2.lambda_ds_at(c, 2 * m.ds_iter)) == 0.0


@pytest.mark.slow
def test_first_iteration_then_overfit_a_tiny_embedded_set():
  # A tiny model on 8 embedded images per domain, at 4x the official learning rates.
  c = tiny_stargan_v2_config(32)
  c.batch_size = 4
  c.optimizer.lr, c.optimizer.f_lr = 4e-4, 4e-5
  examples, size, shapes = stargan_v2.make_examples(c)
  state = stargan_v2.create_state(c, jax.random.key(0), shapes, size)
  step = jax.jit(stargan_v2.make_train_step(c, size), donate_argnums=(0,))
  batches = Batches(examples, c.batch_size)
  rng = jax.random.key(1)
  initial = jax.tree_util.tree_map(jnp.copy, state)
  state, metrics = step(state, batches(0), rng)
  _check_first_iteration(c, initial, state, batches(0), metrics, rng)
  history = [float(metrics["G_latent_sty"])]
  for i in range(1, 300):
    state, metrics = step(state, batches(i), rng)
    history.append(float(metrics["G_latent_sty"]))
  assert np.mean(history[-50:]) < 0.6 * np.mean(history[:20])  # style reconstruction falls
  nets = stargan_v2.build_models(c)
  test, _, _ = stargan_v2.make_examples(c, "test", seed=1)
  x = jnp.asarray(np.stack([test(i)["x_src"] for i in range(12)]))
  z = jax.random.normal(jax.random.key(5), (2, 12, c.model.latent_dim))
  out = {}
  for k in range(3):
    y = jnp.full((12,), k, jnp.int32)
    out[k] = [nets["G"].apply({"params": state.params["G"]}, x,
                              nets["F"].apply({"params": state.params["F"]}, z[j], y))
              for j in range(2)]
    # Two latents give different translations of the same sources.
    assert float(jnp.mean(jnp.abs(out[k][0] - out[k][1]))) > 0.03
  # Translations into "night" (domain 1) are darker than those into "day" (domain 0).
  brightness = {k: style_domain_features(to_uint8(np.asarray(out[k][0])))[:, 0].mean() for k in out}
  assert brightness[1] < brightness[0] - 0.05, brightness


def _loop_config(steps):
  c = short_run(tiny_stargan_v2_config(32), steps)
  c.num_sample_latents = 2
  return c


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
  return train_straight_and_resumed(_loop_config, tmp_path_factory.mktemp("sg2"), 4, 2)


@pytest.mark.slow
def test_resume_equals_uninterrupted(runs):
  assert runs["first_half"] == ["2"]
  assert {"D_latent_reg", "G_ref_ds", "G_latent_sty", "lambda_ds"} <= set(runs["metrics"])
  assert assert_same_states(runs["straight"], runs["resumed"], _loop_config(4)) > 100


@pytest.mark.slow
def test_sample_grids(runs):
  files = sorted(os.listdir(os.path.join(runs["straight"], "samples")))
  assert files == ["latent_step_00000004.png", "reference_step_00000004.png"]
  latent = np.asarray(Image.open(os.path.join(runs["straight"], "samples", files[0])))
  reference = np.asarray(Image.open(os.path.join(runs["straight"], "samples", files[1])))
  # latent: 2 sources x (source + 3 domains x 2 latents); reference: (1 + 2) x (1 + 2), 2 px
  # borders, labelled.
  grid_body(latent, 2, 7)
  reference = grid_body(reference, 3, 3)
  assert (reference[2:34, 2:34] == 255).all()  # the blank corner


@pytest.mark.slow
def test_translate_with_a_domain_and_a_seed_or_a_reference(runs, tmp_path):
  wd = runs["straight"]
  rng = np.random.default_rng(0)
  Image.fromarray(rng.integers(0, 256, (50, 70, 3), dtype=np.uint8)).save(tmp_path / "a.png")
  Image.fromarray(rng.integers(0, 256, (40, 40, 3), dtype=np.uint8)).save(tmp_path / "ref.png")
  src = str(tmp_path / "a.png")
  read = lambda p: np.asarray(Image.open(p))
  (night,) = translate_images(wd, src, str(tmp_path / "n0"), domain="night", seed=0)
  (night1,) = translate_images(wd, src, str(tmp_path / "n1"), domain=1, seed=0)
  (night_s,) = translate_images(wd, src, str(tmp_path / "n2"), domain=1, seed=7)
  (day,) = translate_images(wd, src, str(tmp_path / "d0"), domain="day", seed=0)
  (by_ref,) = translate_images(wd, src, str(tmp_path / "r"), domain=1,
                               reference=str(tmp_path / "ref.png"))
  assert read(night).shape == (32, 32, 3)  # the trained size
  assert np.array_equal(read(night), read(night1))  # name and index agree
  for other in (night_s, day, by_ref):
    assert not np.array_equal(read(night), read(other))
  # The output is the EMA generator's.
  config = _loop_config(4)
  _, state = load_state(wd, config)
  tr = stargan_v2.translator(config, TranslateRequest(domain=1, seed=0))
  from i2ijax.data.images import resize
  x = resize(read(src), 32, 32, Image.BILINEAR).astype(np.float32) / 127.5 - 1
  out = np.asarray(tr.apply(tr.params(state), jnp.asarray(x[None])))[0]
  assert np.max(np.abs(read(night).astype(int) - to_uint8(out))) <= 1
  with pytest.raises(ValueError, match=r"unknown domain 'dusk'; the domains are \['day', 'night', 'duotone'\]"):
    translate_images(wd, src, str(tmp_path / "x"), domain="dusk")
  with pytest.raises(ValueError, match="domain 5 is out of range"):
    translate_images(wd, src, str(tmp_path / "x"), domain=5)
  with pytest.raises(ValueError, match="pass --domain"):
    translate_images(wd, src, str(tmp_path / "x"))
