"""IcGAN: configs, loss terms on hand-computed inputs, Torch7 Adam, the data's fake and wrong
labels, the two-stage training step against a hand-composed reference, the stage schedule,
editing, the evaluation's reconstruction scores, resume.

The official code (Guim3/IcGAN) is Lua Torch7 and cannot run here, so there is no step
parity against it: the step is compared with a reference written below from
`trainGAN.lua` (`fDx`, `fGx`) and `trainEncoder.lua` with the networks applied directly,
the losses spelled out and Torch7's `optim.adam` applied by hand, in float64.
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from i2ijax import losses, registry
from i2ijax.train import icgan
from tests.helpers import (assert_same_states, load_config, short_run, tiny_icgan_config,
                           train_straight_and_resumed)


def test_default_config_is_the_official_code_default():
  c = load_config("icgan")
  m, o, d = c.model, c.optimizer, c.data
  assert len(icgan.attribute_names(c)) == 18
  # The official attrFil (1-based indices of CelebA's 40 attribute columns) dropped.
  celeba40 = ("5_o_Clock_Shadow Arched_Eyebrows Attractive Bags_Under_Eyes Bald Bangs Big_Lips "
              "Big_Nose Black_Hair Blond_Hair Blurry Brown_Hair Bushy_Eyebrows Chubby "
              "Double_Chin Eyeglasses Goatee Gray_Hair Heavy_Makeup High_Cheekbones Male "
              "Mouth_Slightly_Open Mustache Narrow_Eyes No_Beard Oval_Face Pale_Skin "
              "Pointy_Nose Receding_Hairline Rosy_Cheeks Sideburns Smiling Straight_Hair "
              "Wavy_Hair Wearing_Earrings Wearing_Hat Wearing_Lipstick Wearing_Necklace "
              "Wearing_Necktie Young").split()
  dropped = {1, 2, 3, 4, 7, 8, 11, 14, 15, 17, 20, 24, 25, 26, 28, 30, 31, 35, 37, 38, 39, 40}
  assert icgan.attribute_names(c) == [a for i, a in enumerate(celeba40, 1) if i not in dropped]
  assert (m.nz, m.noise, m.ngf, m.ndf, m.train_wrong_y) == (100, "normal", 64, 64, True)
  assert (m.enc_nf, m.enc_conv_layers, m.enc_z_fc, m.enc_y_fc) == (32, 4, 0, 512)
  assert (o.lr, o.beta1, o.beta2, o.enc_lr, o.enc_beta1) == (2e-4, 0.5, 0.999, 1e-4, 0.1)
  assert c.batch_size == 64 and (d.crop_size, d.center_crop, d.flip) == (64, 138, True)
  assert (m.gan_steps, m.enc_z_steps, m.enc_y_steps) == (71_350, 28_260, 31_335)
  assert c.num_train_steps == 71_350 + 31_335
  q = load_config("icgan", "quickstart")
  assert q.data.source == "embedded" and icgan.total_steps(q) == q.num_train_steps
  with pytest.raises(ValueError, match="unknown icgan preset"):
    load_config("icgan", "nope")


@pytest.mark.parametrize("key,value,match", [
    ("model.attrs", "Dark,Dark", "config.model.attrs"),
    ("data.crop_size", 24, "config.data.crop_size=24"),
    ("model.enc_conv_layers", 5, "config.model.enc_conv_layers"),
    ("model.noise", "laplace", "config.model.noise='laplace'"),
    ("model.gan_steps", -1, "config.model.gan_steps=-1"),
    ("optimizer.enc_beta1", 1.0, "config.optimizer.enc_beta1=1.0"),
    ("num_train_steps", 99, "config.num_train_steps=99"),
    ("batch_size", 1, "config.batch_size=1"),
])
def test_bad_config_values_are_named(key, value, match):
  c = tiny_icgan_config()
  if "." in key:
    section, name = key.split(".")
    c[section][name] = value
  else:
    c[key] = value
  with pytest.raises(ValueError, match=match):
    icgan.validate_config(c)


# ---------------------------------------------------------------- loss terms
def test_torch7_bce_by_hand():
  """-mean(t log(p + 1e-12) + (1 - t) log(1 - p + 1e-12)): a saturated probability costs
  -log(1e-12) = 27.63, where PyTorch's BCELoss would clamp at 100."""
  p = jnp.asarray([0.75, 0.25], jnp.float32)
  assert float(losses.torch7_bce(p, 1.0)) == pytest.approx(-(np.log(0.75) + np.log(0.25)) / 2,
                                                           rel=1e-6)
  assert float(losses.torch7_bce(p, 0.0)) == pytest.approx(-(np.log(0.25) + np.log(0.75)) / 2,
                                                           rel=1e-6)
  with jax.enable_x64(True):
    sat = losses.torch7_bce(jnp.asarray([1.0], jnp.float64), 0.0)
    assert float(sat) == pytest.approx(-np.log(1e-12), rel=1e-9)


class _LabelD:
  """A parameter-free discriminator: p = 0.5 + 0.25 mean(y); counts its calls in
  batch_stats (each call must see the previous call's statistics)."""

  def apply(self, variables, x, y, train=True, mutable=()):
    del x, train, mutable
    p = 0.5 + 0.25 * jnp.mean(y, axis=-1)
    return p, {"batch_stats": {"calls": variables["batch_stats"]["calls"] + 1}}


def test_discriminator_loss_weights_by_hand():
  """real y (all 1): p 0.75; wrong y (all -1): p 0.25; fake y (half 1): p 0.5.
  L_D = -log 0.75 + 0.5 (-log 0.75) + 0.5 (-log 0.5) with the wrong-label term
  (`trainWrongY`), -log 0.75 - log 0.5 without it."""
  x = jnp.zeros((2, 8, 8, 3))
  ones = jnp.ones((2, 4))
  half = jnp.asarray([[1.0, 1, -1, -1]] * 2)
  stats = {"calls": 0}
  total, (terms, new) = icgan.discriminator_loss({}, stats, _LabelD(), x, ones, -ones, x,
                                                 half, True)
  expected = -np.log(0.75) - 0.5 * np.log(0.75) - 0.5 * np.log(0.5)
  assert float(total) == pytest.approx(expected, rel=1e-6)
  assert float(terms["D_wrong"]) == pytest.approx(-0.5 * np.log(0.75), rel=1e-6)
  assert float(terms["D_fake"]) == pytest.approx(-0.5 * np.log(0.5), rel=1e-6)
  assert new["calls"] == 3
  total, (terms, new) = icgan.discriminator_loss({}, stats, _LabelD(), x, ones, -ones, x,
                                                 half, False)
  assert float(total) == pytest.approx(-np.log(0.75) - np.log(0.5), rel=1e-6)
  assert float(terms["D_wrong"]) == 0.0 and new["calls"] == 2
  g, _ = icgan.generator_adversarial_loss(x, {}, stats, _LabelD(), half)
  assert float(g) == pytest.approx(-np.log(0.5), rel=1e-6)


def test_torch7_adam_adds_eps_to_the_uncorrected_root():
  """Two steps by hand: w -= lr sqrt(1 - b2^t) / (1 - b1^t) * m / (sqrt(v) + eps). With a
  tiny gradient the eps placement matters (PyTorch's Adam differs here)."""
  with jax.enable_x64(True):
    lr, b1, b2, eps = 0.1, 0.5, 0.999, 1e-8
    opt = icgan.torch7_adam(lr, b1, b2, eps)
    w = jnp.asarray([1.0, -2.0], jnp.float64)
    grads = [jnp.asarray([1e-7, 3.0]), jnp.asarray([-2e-7, 1.0])]
    state = opt.init(w)
    m = v = np.zeros(2)
    ref = pytorch = np.asarray(w)
    for t, g in enumerate(grads, 1):
      upd, state = opt.update(g, state, w)
      w = w + upd
      m = b1 * m + (1 - b1) * np.asarray(g)
      v = b2 * v + (1 - b2) * np.asarray(g) ** 2
      ref = ref - lr * np.sqrt(1 - b2 ** t) / (1 - b1 ** t) * m / (np.sqrt(v) + eps)
      m_hat, v_hat = m / (1 - b1 ** t), v / (1 - b2 ** t)
      pytorch = pytorch - lr * m_hat / (np.sqrt(v_hat) + eps)
    np.testing.assert_allclose(np.asarray(w), ref, rtol=1e-13)
    # PyTorch's form (eps on the corrected root) moves the tiny-gradient weight differently.
    assert abs(float(ref[0]) - float(pytorch[0])) > 1e-2
    assert float(ref[1]) == pytest.approx(float(pytorch[1]), rel=1e-6)


def test_examples_carry_fake_and_wrong_labels():
  """label_fake is a training label, label_wrong a training label different from the
  example's (redrawn while equal), both fixed by (seed, g)."""
  c = tiny_icgan_config()
  ex, n, shapes = icgan.make_examples(c)
  labels = ex.labels
  seen = {tuple(row) for row in labels}
  for g in range(12):
    e = ex(g)
    assert e["x"].shape == shapes["x"] and e["label"].shape == (5,)
    assert tuple(e["label_fake"]) in seen and tuple(e["label_wrong"]) in seen
    assert not np.array_equal(e["label_wrong"], e["label"])
    np.testing.assert_array_equal(ex(g)["label_wrong"], e["label_wrong"])


# ---------------------------------------------------------------- the step
def _create_state(c):
  return jax.jit(lambda k: icgan.create_state(c, k, {"x": (16, 16, 3)}, 8))(jax.random.key(0))


def _batch(rng, n=2, size=16, k=5):
  lab = lambda: rng.integers(0, 2, (n, k)).astype(np.float64)
  return {"x": rng.uniform(-1, 1, (n, size, size, 3)), "label": lab(), "label_fake": lab(),
          "label_wrong": lab()}


def _t7_adam(p, g, st, lr, b1, b2=0.999, eps=1e-8):
  """Torch7 optim.adam written out on pytrees: st = (t, m, v)."""
  t, m, v = st
  t = t + 1
  m = jax.tree_util.tree_map(lambda a, b: b1 * a + (1 - b1) * b, m, g)
  v = jax.tree_util.tree_map(lambda a, b: b2 * a + (1 - b2) * b * b, v, g)
  size = lr * jnp.sqrt(1 - b2 ** t) / (1 - b1 ** t)
  p = jax.tree_util.tree_map(lambda w, a, b: w - size * a / (jnp.sqrt(b) + eps), p, m, v)
  return p, (t, m, v)


def _reference_iteration(c, nets, p, s, adam, b, z, stage):
  """One official iteration, spelled out. stage "gan": `fDx` (D(x, y) real, D(x, y_wrong)
  wrong, D(G(z, y_fake), y_fake) fake; BCE with eps; the last two halved), then `fGx` (G's
  forward again, which gives what the D step's forward gave: G is unchanged between them)
  against the updated D. Otherwise a tuple (E_z on, E_y on): E_z on G(z, y_fake) in eval
  mode, E_y on the real images, MSE. p, s, adam: params, batch_stats, Torch7 Adam
  (t, m, v) per network."""
  G, D = nets["G"], nets["D"]
  o = c.optimizer
  p, s, adam = dict(p), dict(s), dict(adam)
  bce = lambda q, t: -jnp.mean(t * jnp.log(q + 1e-12) + (1 - t) * jnp.log(1 - q + 1e-12))
  mse = lambda a, b: jnp.mean((a - b) ** 2)
  x = b["x"]
  y, yf, yw = (2 * b[k] - 1 for k in ("label", "label_fake", "label_wrong"))
  if stage == "gan":
    fake, g_upd = G.apply({"params": p["G"], "batch_stats": s["G"]}, z, yf, train=True,
                          mutable=["batch_stats"])

    def d_loss(pd):
      st, out = s["D"], []
      for xx, yy in ((x, y), (x, yw), (jax.lax.stop_gradient(fake), yf)):
        q, upd = D.apply({"params": pd, "batch_stats": st}, xx, yy, train=True,
                         mutable=["batch_stats"])
        st = upd["batch_stats"]
        out.append(q)
      return bce(out[0], 1.0) + 0.5 * bce(out[1], 0.0) + 0.5 * bce(out[2], 0.0), st

    gd, d_stats = jax.grad(d_loss, has_aux=True)(p["D"])
    p["D"], adam["D"] = _t7_adam(p["D"], gd, adam["D"], o.lr, o.beta1)

    def g_loss(pg):
      f = G.apply({"params": pg, "batch_stats": s["G"]}, z, yf, train=True,
                  mutable=["batch_stats"])[0]
      q, upd = D.apply({"params": p["D"], "batch_stats": d_stats}, f, yf, train=True,
                       mutable=["batch_stats"])
      return bce(q, 1.0), upd["batch_stats"]

    gg, s["D"] = jax.grad(g_loss, has_aux=True)(p["G"])
    p["G"], adam["G"] = _t7_adam(p["G"], gg, adam["G"], o.lr, o.beta1)
    s["G"] = g_upd["batch_stats"]
    return p, s, adam
  x_gen = G.apply({"params": p["G"], "batch_stats": s["G"]}, z, yf, train=False)
  for name, xs, target, on in (("E_z", x_gen, z, stage[0]), ("E_y", x, y, stage[1])):
    if not on:
      continue
    E = nets[name]

    def e_loss(pe, E=E, xs=xs, target=target, name=name):
      out, upd = E.apply({"params": pe, "batch_stats": s[name]}, xs, train=True,
                         mutable=["batch_stats"])
      return mse(out, target), upd["batch_stats"]

    ge, s[name] = jax.grad(e_loss, has_aux=True)(p[name])
    p[name], adam[name] = _t7_adam(p[name], ge, adam[name], o.enc_lr, o.enc_beta1)
  return p, s, adam


def _assert_close(got, want, atol):
  jax.tree_util.tree_map(lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-9, atol=atol),
                         got, want)


def test_step_matches_the_hand_composed_reference_float64():
  """Three iterations in float64 through both stages (2 GAN, then E_z and E_y) against the
  reference: parameters, running statistics and Adam moments of all four networks after
  every iteration. (The conv biases before a batch norm
  get a zero gradient up to rounding, which Adam scales by lr / eps: atol 1e-11.)"""
  with jax.enable_x64(True):
    c = tiny_icgan_config()
    c.model.param_dtype = "float64"
    assert (c.model.gan_steps, c.model.enc_z_steps, c.model.enc_y_steps) == (2, 1, 1)
    rng = np.random.default_rng(0)
    batches = [jax.tree_util.tree_map(jnp.asarray, _batch(rng)) for _ in range(3)]
    zs = [jnp.asarray(rng.normal(size=(2, c.model.nz))) for _ in range(3)]
    state = _create_state(c)
    step = jax.jit(icgan.make_train_step(c, 8), static_argnames=("phase",))
    nets = icgan.build_models(c)
    ref = jax.jit(lambda p, s, a, b, z, stage: _reference_iteration(c, nets, p, s, a, b, z,
                                                                    stage),
                  static_argnums=5)
    phases = [icgan.step_phase(c, i) for i in range(3)]
    assert phases == ["gan", "gan", "encoders"]
    stages = ["gan", "gan", (True, True)]
    p, s = dict(state.params), dict(state.batch_stats)
    zeros = lambda t: jax.tree_util.tree_map(jnp.zeros_like, t)
    adam = {n: (0, zeros(p[n]), zeros(p[n])) for n in icgan.NETS}
    for i, (b, z) in enumerate(zip(batches, zs)):
      state, metrics = step(state, b, jax.random.key(1), {"z": z}, phase=phases[i])
      p, s, adam = ref(p, s, adam, b, z, stages[i])
      for name in icgan.NETS:
        _assert_close(state.params[name], p[name], 1e-11)
        _assert_close(state.batch_stats[name], s[name], 1e-12)
        _assert_close(state.opt_state[name].mu, adam[name][1], 1e-12)
        _assert_close(state.opt_state[name].nu, adam[name][2], 1e-14)
        assert int(state.opt_state[name].count) == int(adam[name][0])
    assert (int(state.opt_state["G"].count), int(state.opt_state["E_y"].count)) == (2, 1)
    assert {"E_z_loss", "E_y_loss"} <= set(metrics) and "G_loss" not in metrics


def test_stage_schedule_by_iteration():
  """GAN iterations first, then both encoders until the shorter is done, then the other
  alone (`step_phase`), for any split of the encoder iterations."""
  c = tiny_icgan_config()
  c.model.gan_steps, c.model.enc_z_steps, c.model.enc_y_steps = 2, 3, 1
  c.num_train_steps = 5
  assert [icgan.step_phase(c, i) for i in range(5)] == [
      "gan", "gan", "encoders", "encoder_z", "encoder_z"]
  c.model.enc_z_steps, c.model.enc_y_steps = 0, 2
  assert [icgan.step_phase(c, i) for i in range(4)] == ["gan", "gan", "encoder_y", "encoder_y"]
  assert icgan.total_steps(c) == 4
  c.num_train_steps = 5
  with pytest.raises(ValueError, match="past the schedule"):
    icgan.validate_config(c)


def test_editing_is_g_of_ez_and_thresholded_ey_with_the_attrs_set():
  c = tiny_icgan_config()
  state = _create_state(c)
  spec = registry.get("icgan")
  x = jnp.asarray(np.random.default_rng(0).uniform(-1, 1, (1, 16, 16, 3)), jnp.float32)
  tr = spec.translator(c, registry.TranslateRequest(attrs="Dark=1,Warm_Tint=0"))
  out = tr.apply(tr.params(state), x)
  nets = icgan.build_models(c)

  @jax.jit
  def by_hand(p, x):
    z, y = icgan.invert(nets, p, x)
    return y, icgan.generate(nets, p, z, y.at[:, 2].set(1.0).at[:, 0].set(-1.0))

  y, want = by_hand(icgan.eval_params(state), x)
  assert set(np.unique(np.asarray(y))) <= {-1.0, 1.0}
  np.testing.assert_allclose(out, want, rtol=1e-5, atol=1e-6)
  every = spec.translator(c, registry.TranslateRequest())
  assert every.apply(every.params(state), x).shape == (5, 16, 16, 3)
  with pytest.raises(ValueError, match="unknown attribute"):
    spec.translator(c, registry.TranslateRequest(attrs="Smiling=1"))


def test_resume_equals_uninterrupted_across_the_stages_and_evaluation(tmp_path):
  """3 iterations (2 GAN, then both encoders) straight, and resumed after 2 (the resumed
  run starts in the encoder stage); then the reconstruction scores of the evaluation."""
  make = lambda n: short_run(tiny_icgan_config(), n)
  out = train_straight_and_resumed(make, tmp_path, 3, 2)
  assert assert_same_states(out["straight"], out["resumed"], make(3)) > 0
  c = make(3)
  from i2ijax.translate import load_state
  _, state = load_state(out["straight"], c)
  assert int(state.opt_state["E_z"].count) == 1 and int(state.opt_state["G"].count) == 2
  rec = icgan.reconstruction_scores(c, state, "test")
  assert rec["images"] == 8 and set(rec["model"]) == {"psnr", "ssim"}
  assert 0.0 <= rec["encoder_y"]["accuracy"] <= 1.0
  assert np.isfinite(rec["baseline_random_z"]["psnr"])
