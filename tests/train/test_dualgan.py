"""DualGAN: configs, loss terms on hand-computed inputs, TF1 RMSProp, weight clipping, the
training step against a hand-composed reference (update order, n_critic), resume.

The official code (duxingren14/DualGAN) is TensorFlow 1 and cannot run here, so there is no
step parity against it: the step is compared with a reference written below from the
official graph (model.py: `build_model`, `run_optim`, `train`) with the networks applied
directly, the losses spelled out and RMSProp applied by hand.
"""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from i2ijax.train import common, dualgan
from i2ijax.train.loop import phase_args
from i2ijax import registry
from tests.helpers import (assert_same_states, load_config, random_batch, short_run,
                           tiny_dualgan_config, train_straight_and_resumed)


def test_default_config_is_the_official_code_default():
  c = load_config("dualgan")
  m, o, d = c.model, c.optimizer, c.data
  assert (m.gan_type, m.gamma, m.n_critic, m.disc_type) == ("wgan-gp", 10.0, 1, "globalgan")
  assert (m.lambda_A, m.lambda_B, m.loss_metric, m.dropout_rate) == (500.0, 500.0, "L1", 0.0)
  assert (m.gcn, m.dcn, m.num_downs, m.n_layers_D) == (64, 64, 8, 4)
  assert (o.lr, o.decay, o.eps, o.lr_policy) == (5e-5, 0.9, 1e-10, "constant")
  assert (c.batch_size, o.n_epochs, o.n_epochs_decay) == (1, 50, 0)
  assert (d.load_size, d.crop_size, d.preprocess) == (256, 256, "resize_and_crop")
  assert d.flip is False  # `flip=(args.flip == 'True')` is False for the bool flag
  paper = load_config("dualgan", "paper")
  assert (paper.model.gan_type, paper.model.clip_value) == ("wgan", 0.01)
  q = load_config("dualgan", "quickstart")
  assert q.data.source == "embedded" and q.data.crop_size == 2 ** q.model.num_downs
  with pytest.raises(ValueError, match="unknown dualgan preset"):
    load_config("dualgan", "nope")


@pytest.mark.parametrize("key,value,match", [
    ("model.gan_type", "lsgan", "config.model.gan_type='lsgan'"),
    ("model.disc_type", "multiscale", "config.model.disc_type='multiscale'"),
    ("model.loss_metric", "L3", "config.model.loss_metric='L3'"),
    ("model.n_critic", 0, "config.model.n_critic=0"),
    ("model.lambda_A", -1.0, "config.model.lambda_A=-1.0"),
    ("model.dropout_rate", 1.5, "config.model.dropout_rate=1.5"),
    ("optimizer.decay", 1.0, "decay=1.0"),
    ("data.crop_size", 48, "config.data.crop_size=48"),
])
def test_bad_config_values_are_named(key, value, match):
  c = tiny_dualgan_config()
  section, name = key.split(".")
  c[section][name] = value
  with pytest.raises(ValueError, match=match):
    dualgan.validate_config(c)


# ---------------------------------------------------------------- loss terms
def test_gradient_penalty_is_zero_for_a_unit_gradient_critic():
  """D(x) = <w, x>: the gradient is w everywhere. ||w|| = 1 gives (sqrt(1e-8 + 1) - 1)^2
  = (5e-9)^2 ~ 0; ||w|| = 3 gives (sqrt(9 + 1e-8) - 1)^2 = 4 (+ 1.3e-8)."""
  from i2ijax import losses
  rng = np.random.default_rng(0)
  w = rng.normal(size=(4, 4, 3))
  w /= np.linalg.norm(w)
  x_hat = jnp.asarray(rng.normal(size=(2, 4, 4, 3)))
  critic = lambda s: lambda x: jnp.sum(x * (s * w), axis=(1, 2, 3))
  with jax.enable_x64(True):
    x64 = x_hat.astype(jnp.float64)
    assert float(losses.sqrt_eps_gradient_penalty(critic(1.0), x64)) == pytest.approx(0, abs=1e-16)
    assert float(losses.sqrt_eps_gradient_penalty(critic(3.0), x64)) == pytest.approx(
        (np.sqrt(9 + 1e-8) - 1) ** 2, rel=1e-12)
    # eps sits inside the root: a zero gradient gives (sqrt(1e-8) - 1)^2, not 1.
    assert float(losses.sqrt_eps_gradient_penalty(critic(0.0), x64)) == pytest.approx(
        (1e-4 - 1) ** 2, rel=1e-12)
    # Per sample: one sample of norm 3, one of norm 1 (a critic scaling only the first).
    scale = jnp.asarray([3.0, 1.0])[:, None, None, None]
    mixed = lambda x: jnp.sum(x * scale * w, axis=(1, 2, 3))
    assert float(losses.sqrt_eps_gradient_penalty(mixed, x64)) == pytest.approx(2.0, rel=1e-7)


def test_recovery_loss_and_loss_weights_by_hand():
  """rec = mean |G_B(G_A(A)) - A| (L1) or mean square (L2); the generator loss weights the
  A recovery by lambda_A and the B recovery by lambda_B (the official Bg_loss / Ag_loss)."""
  x = jnp.asarray([[[[0.5, -1.0]]]])
  y = jnp.asarray([[[[0.0, 1.0]]]])
  assert float(dualgan.recovery_loss(x, y, "L1")) == pytest.approx((0.5 + 2.0) / 2)
  assert float(dualgan.recovery_loss(x, y, "L2")) == pytest.approx((0.25 + 4.0) / 2)
  assert float(dualgan.critic_loss(jnp.asarray([1.0, 3.0]), jnp.asarray([-1.0]), "wgan-gp")) == (
      pytest.approx(-2.0 - 1.0))
  assert float(dualgan.generator_adversarial_loss(jnp.asarray([2.0, 4.0]), "wgan")) == -3.0
  # The generator loss: identity generators and a zero critic isolate the weights.
  c = tiny_dualgan_config()
  c.model.lambda_A, c.model.lambda_B = 3.0, 7.0
  nets = {"G_A": _Identity(), "G_B": _Shift(0.25), "D_A": _Zero(), "D_B": _Zero()}
  batch = {"A": jnp.full((1, 2, 2, 3), 0.5), "B": jnp.full((1, 2, 2, 3), -0.5)}
  params = {k: {} for k in nets}
  total, terms = dualgan.generator_loss(params, {}, batch, jax.random.key(0), nets, c.model)
  # G_B(G_A(A)) = A + 0.25 -> |.| = 0.25; G_A(G_B(B)) = B + 0.25 -> 0.25.
  assert float(terms["rec_A"]) == pytest.approx(3.0 * 0.25)
  assert float(terms["rec_B"]) == pytest.approx(7.0 * 0.25)
  assert float(total) == pytest.approx(10.0 * 0.25)
  c.model.loss_metric = "L2"
  _, terms = dualgan.generator_loss(params, {}, batch, jax.random.key(0), nets, c.model)
  assert float(terms["rec_A"]) == pytest.approx(3.0 * 0.0625)


class _Fixed:
  """A parameter-free stand-in network with `apply(variables, x, train=...)`."""

  def __init__(self, fn):
    self.fn = fn

  def apply(self, variables, x, train=True, rngs=None):
    del variables, train, rngs
    return self.fn(x)


_Identity = lambda: _Fixed(lambda x: x)
_Shift = lambda s: _Fixed(lambda x: x + s)
_Zero = lambda: _Fixed(lambda x: jnp.zeros((x.shape[0], 1)))


def test_tf1_rmsprop_starts_its_accumulator_at_one():
  """TF1 RMSPropOptimizer(lr, decay=0.9), eps 1e-10 inside the root, ms starting at 1:
  step 1: ms = 0.9 + 0.1 g^2, w -= lr g / sqrt(ms + 1e-10); step 2 likewise from there."""
  opt = common.tf1_rmsprop(0.5, 0.9, 1e-10)
  with jax.enable_x64(True):
    w = jnp.asarray([1.0, -2.0, 0.0], jnp.float64)
    g1 = jnp.asarray([2.0, 0.5, 0.0], jnp.float64)
    g2 = jnp.asarray([-1.0, 3.0, 1.0], jnp.float64)
    state = opt.init(w)
    u1, state = opt.update(g1, state, w)
    ms = 0.9 + 0.1 * np.square(np.asarray(g1))
    np.testing.assert_allclose(u1, -0.5 * np.asarray(g1) / np.sqrt(ms + 1e-10), rtol=1e-14)
    u2, state = opt.update(g2, state, w)
    ms = 0.9 * ms + 0.1 * np.square(np.asarray(g2))
    np.testing.assert_allclose(u2, -0.5 * np.asarray(g2) / np.sqrt(ms + 1e-10), rtol=1e-14)
  # An accumulator starting at 0 (optax's default) would take a ~3x larger first step.
  assert abs(float(u1[0])) == pytest.approx(0.5 * 2 / np.sqrt(1.3), rel=1e-6)


def test_clip_weights_clips_every_leaf():
  params = {"conv": {"kernel": jnp.asarray([-0.5, 0.005, 0.2])}, "bn": {"scale": jnp.ones(2)}}
  out = common.clip_weights(params, 0.01)
  np.testing.assert_array_equal(out["conv"]["kernel"], np.float32([-0.01, 0.005, 0.01]))
  np.testing.assert_array_equal(out["bn"]["scale"], np.float32([0.01, 0.01]))  # norm scales too


def test_generator_update_schedule_follows_the_official_counter():
  """The official loop raises its counter (from 1) before `run_optim` tests
  `batch_idx % n_critic == 0`: iteration t (0-based) updates G when (t + 2) % n_critic == 0."""
  c = load_config("dualgan")
  assert [dualgan.generator_updates(c, t) for t in range(4)] == [1, 1, 1, 1]
  c.model.n_critic = 5
  assert [t for t in range(15) if dualgan.generator_updates(c, t)] == [3, 8, 13]
  c.model.gan_type = "classic"
  assert dualgan.generator_updates(c, 0) == 2  # g_optim runs twice per iteration


# ---------------------------------------------------------------- the step vs a reference
def _rmsprop(params, ms, grads, lr):
  """TF1 RMSProp by hand: ms <- 0.9 ms + 0.1 g^2; w <- w - lr g / sqrt(ms + 1e-10)."""
  ms = jax.tree_util.tree_map(lambda m, g: 0.9 * m + 0.1 * g * g, ms, grads)
  params = jax.tree_util.tree_map(lambda p, g, m: p - lr * g / jnp.sqrt(m + 1e-10), params,
                                  grads, ms)
  return params, ms


def _reference(nets, hp, lr):
  """The official iteration composed by hand, as two jitted halves:
  critics(params, ms, batch, eps) -> (params, ms, L_D) (d_optim of `run_optim`) and
  generators(params, ms, batch, critic params) -> (params, ms, L_G) (g_optim)."""
  net = lambda name, p, x: nets[name].apply({"params": p}, x)

  @jax.jit
  def critics(params, ms, batch, eps):
    a, b = batch["A"], batch["B"]
    a2b, b2a = net("G_A", params["G_A"], a), net("G_B", params["G_B"], b)

    def d_loss(dp):
      total = 0.0
      for d, real, fake, e in (("D_A", b, a2b, eps["eps_B"]), ("D_B", a, b2a, eps["eps_A"])):
        total += jnp.mean(net(d, dp[d], fake)) - jnp.mean(net(d, dp[d], real))
        x_hat = real + e * (fake - real)
        grad = jax.grad(lambda x: jnp.sum(net(d, dp[d], x)))(x_hat)
        slopes = jnp.sqrt(1e-8 + jnp.sum(jnp.square(grad), axis=(1, 2, 3)))
        total += hp.gamma * jnp.mean((slopes - 1.0) ** 2)
      return total

    dp = {k: params[k] for k in ("D_A", "D_B")}
    loss, grads = jax.value_and_grad(d_loss)(dp)
    dp, dms = _rmsprop(dp, {k: ms[k] for k in dp}, grads, lr)
    return {**params, **dp}, {**ms, **dms}, loss

  @jax.jit
  def generators(params, ms, batch, critic_params):
    a, b = batch["A"], batch["B"]

    def g_loss(gp):
      a2b, b2a = net("G_A", gp["G_A"], a), net("G_B", gp["G_B"], b)
      a2b2a, b2a2b = net("G_B", gp["G_B"], a2b), net("G_A", gp["G_A"], b2a)
      ag = (-jnp.mean(net("D_A", critic_params["D_A"], a2b))
            + hp.lambda_B * jnp.mean(jnp.abs(b2a2b - b)))
      bg = (-jnp.mean(net("D_B", critic_params["D_B"], b2a))
            + hp.lambda_A * jnp.mean(jnp.abs(a2b2a - a)))
      return ag + bg

    gp = {k: params[k] for k in ("G_A", "G_B")}
    loss, grads = jax.value_and_grad(g_loss)(gp)
    gp, gms = _rmsprop(gp, {k: ms[k] for k in gp}, grads, lr)
    return {**params, **gp}, {**ms, **gms}, loss

  return critics, generators


def _create_state(config):
  """A fresh state (jitted: initialising op by op is slower than compiling it)."""
  return jax.jit(lambda key: dualgan.create_state(config, key, dualgan.image_shapes(config), 8))(
      jax.random.key(0))


def _tiny_float64():
  c = tiny_dualgan_config(32)
  c.model.gcn, c.model.dcn = 2, 2
  c.model.param_dtype = "float64"
  c.optimizer.lr = 1e-3  # large enough that a wrong order or rule shows
  return c


def _leaves_close(a, b, rtol=1e-9, atol=1e-12):
  for x, y in zip(jax.tree_util.tree_leaves(a), jax.tree_util.tree_leaves(b), strict=True):
    np.testing.assert_allclose(np.asarray(x), np.asarray(y), rtol=rtol, atol=atol)


def _max_diff(a, b):
  return max(float(jnp.max(jnp.abs(x - y)))
             for x, y in zip(jax.tree_util.tree_leaves(a), jax.tree_util.tree_leaves(b)))


@pytest.mark.slow
def test_step_equals_hand_composed_reference_with_n_critic_and_update_order():
  """float64, n_critic 2: by the official counter iteration 0 updates the critics and then
  the generators, iteration 1 the critics only. Every parameter, RMSProp accumulator
  and loss matches the reference; the G update uses the critics *after* their update (a
  reference against the old critics differs)."""
  with jax.enable_x64(True):
    c = _tiny_float64()
    c.model.n_critic = 2
    spec = registry.get("dualgan")
    state = _create_state(c)
    step = jax.jit(dualgan.make_train_step(c, 8), static_argnames=("phase",))
    critics, generators = _reference(dualgan.build_models(c), c.model, c.optimizer.lr)
    rng = np.random.default_rng(0)
    ref = dict(state.params)
    ms = jax.tree_util.tree_map(jnp.ones_like, ref)
    for t in range(2):
      batch = {k: jnp.asarray(v) for k, v in random_batch("dualgan", 2, 32, rng, "float64").items()}
      eps = {k: jnp.asarray(rng.uniform(size=(2, 1, 1, 1))) for k in ("eps_A", "eps_B")}
      (phase,) = phase_args(spec, c, t, 8)
      assert phase == (1 if t % 2 == 0 else 0), t
      old_critics = {k: ref[k] for k in dualgan.DISCRIMINATORS}
      ref_before_d, ms_before_d = ref, ms
      ref, ms, d_loss = critics(ref, ms, batch, eps)
      if phase:
        # The official order: g_optim runs after d_optim, against the updated critics.
        wrong, _, _ = generators(ref_before_d, ms_before_d, batch, old_critics)
        ref, ms, g_loss = generators(ref, ms, batch, {k: ref[k] for k in dualgan.DISCRIMINATORS})
      state, m = step(state, batch, jax.random.key(1), draws=eps, phase=phase)
      assert float(m["D_total"]) == pytest.approx(float(d_loss), rel=1e-10)
      _leaves_close(state.params, ref)
      if phase:
        assert float(m["G_total"]) == pytest.approx(float(g_loss), rel=1e-10)
        gens = {k: ref[k] for k in dualgan.GENERATORS}
        assert _max_diff({k: wrong[k] for k in gens}, gens) > 1e-7
      else:
        assert "G_total" not in m
    # The accumulators (the schedule's step count is the other leaf of the optimizer state).
    _leaves_close(state.d_opt_state[0].nu, {k: ms[k] for k in dualgan.DISCRIMINATORS})
    _leaves_close(state.g_opt_state[0].nu, {k: ms[k] for k in dualgan.GENERATORS})
    assert int(state.g_opt_state[1].count) == 1 and int(state.d_opt_state[1].count) == 2


@pytest.mark.slow
def test_paper_preset_clips_every_critic_parameter_after_its_update():
  """gan_type 'wgan': no penalty; after the RMSProp step every critic parameter (kernels,
  biases, norm scales) lies in [-0.01, 0.01] and equals the clipped update; the generators
  are not clipped (an iteration without a G update, phase 0, keeps them as they were)."""
  c = tiny_dualgan_config(32)
  c.model.gan_type = "wgan"
  c.model.gcn, c.model.dcn = 2, 2
  state = _create_state(c)
  step = jax.jit(functools.partial(dualgan.make_train_step(c, 8), phase=0))
  batch = random_batch("dualgan", 2, 32, np.random.default_rng(0))
  new, m = step(state, batch, jax.random.key(1))
  assert not any(k.endswith("_gp") for k in m)
  nets = dualgan.build_models(c)
  d_params = {k: state.params[k] for k in dualgan.DISCRIMINATORS}
  g_params = {k: state.params[k] for k in dualgan.GENERATORS}
  grads = jax.jit(jax.grad(lambda d: dualgan.discriminator_loss(
      d, g_params, batch, None, jax.random.key(0), nets, c.model)[0]))(d_params)
  lr = c.optimizer.lr
  expected = jax.tree_util.tree_map(
      lambda p, g: jnp.clip(p - lr * g / jnp.sqrt(0.9 + 0.1 * g * g + 1e-10), -0.01, 0.01),
      d_params, grads)
  _leaves_close({k: new.params[k] for k in dualgan.DISCRIMINATORS}, expected, rtol=1e-5,
                atol=1e-7)
  assert max(float(jnp.max(jnp.abs(x))) for x in jax.tree_util.tree_leaves(
      {k: new.params[k] for k in dualgan.DISCRIMINATORS})) == pytest.approx(0.01)
  gens = {k: new.params[k] for k in dualgan.GENERATORS}
  assert _max_diff(gens, g_params) == 0.0
  assert max(float(jnp.max(jnp.abs(x))) for x in jax.tree_util.tree_leaves(gens)) > 0.5


# ---------------------------------------------------------------- runtime
def _loop_config(steps):
  return short_run(tiny_dualgan_config(32), steps)


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
  return train_straight_and_resumed(_loop_config, tmp_path_factory.mktemp("dualgan"), 4, 2)


@pytest.mark.slow
def test_resume_equals_uninterrupted(runs):
  assert runs["first_half"] == ["2"]
  assert {"D_A_gp", "rec_A", "G_total", "lr"} <= set(runs["metrics"])
  assert assert_same_states(runs["straight"], runs["resumed"], _loop_config(4)) > 40


@pytest.mark.slow
def test_translates_both_directions_from_a_workdir(runs, tmp_path):
  from PIL import Image
  from i2ijax.translate import translate_images
  rng = np.random.default_rng(0)
  Image.fromarray(rng.integers(0, 256, (36, 44, 3), dtype=np.uint8)).save(tmp_path / "a.png")
  for direction in ("AtoB", "BtoA"):
    (out,) = translate_images(runs["straight"], str(tmp_path / "a.png"),
                              str(tmp_path / direction), direction)
    assert np.asarray(Image.open(out)).shape == (36, 44, 3)
