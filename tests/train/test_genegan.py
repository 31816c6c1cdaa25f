"""GeneGAN: configs, the official schedule, loss terms on hand-computed inputs, the training
step against a hand-composed reference (clipping before the critic update, TF1 RMSProp,
every running average updated by every step), overfitting the reconstruction, resume,
translation and the crossover evaluation.

The official code (Prinsphield/GeneGAN) is TensorFlow 1.0 and cannot run here, so there is
no step parity against it: the step is compared with a reference written below from the
official graph (model.py `build_model`, train.py `run`) with the networks applied directly,
the losses spelled out and RMSProp applied by hand.
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from i2ijax import registry
from i2ijax.train import genegan
from i2ijax.train.loop import phase_args
from tests.helpers import (assert_same_states, load_config, random_batch, short_run,
                           tiny_genegan_config, train_straight_and_resumed)


def test_default_config_is_the_official_setting():
  c = load_config("genegan")
  m, o, d = c.model, c.optimizer, c.data
  assert (m.ch_g, m.ch_d, m.second_ratio) == (128, 128, 0.25)
  assert (m.weight_decay, m.parallelogram_weight, m.clip_value) == (5e-5, 0.01, 0.01)
  assert (m.d_burst, m.d_burst_every) == (100, 500)
  assert (o.name, o.lr, o.decay, o.eps, o.lr_policy) == ("rmsprop_tf1", 5e-5, 0.8, 1e-10,
                                                        "constant")
  assert (c.batch_size, d.crop_size, d.flip, d.attribute) == (64, 64, False, "Smiling")
  assert c.num_train_steps == genegan.library_steps(c, 100_000) == 219_800
  q = load_config("genegan", "quickstart")
  assert q.data.source == "embedded" and q.data.attribute in ("Dark", "Warm_Tint", "Vignette")
  # The quickstart ends with an iteration's generator step.
  assert genegan.step_phase(q, q.num_train_steps - 1) == "G"
  assert genegan.step_phase(q, q.num_train_steps) == "D"
  assert load_config("genegan", "celeba_tfds").data.source == "tfds"
  with pytest.raises(ValueError, match="unknown genegan preset"):
    load_config("genegan", "nope")


@pytest.mark.parametrize("key,value,match", [
    ("model.ch_g", 0, "config.model.ch_g=0"),
    ("model.second_ratio", 0.01, "config.model.second_ratio=0.01"),
    ("model.second_ratio", 1.0, "config.model.second_ratio=1.0"),
    ("model.clip_value", -1.0, "config.model.clip_value=-1.0"),
    ("model.d_burst", 0, "config.model.d_burst=0"),
    ("data.attribute", "", "config.data.attribute is empty"),
    ("data.attribute", "Smiling", "config.data.attribute='Smiling'"),
    ("data.crop_size", 40, "config.data.crop_size=40"),
    ("optimizer.decay", 1.0, "decay=1.0"),
])
def test_bad_config_values_are_named(key, value, match):
  c = tiny_genegan_config()
  section, name = key.split(".")
  c[section][name] = value
  with pytest.raises(ValueError, match=match):
    genegan.validate_config(c)


def test_official_schedule_of_critic_and_generator_steps():
  """train.py: iteration i runs 100 critic steps when i % 500 == 0, else 1, then one
  generator step; one library step per optimiser update."""
  c = load_config("genegan")
  phases = [genegan.step_phase(c, s) for s in range(2 * 1099 + 3)]
  assert phases[:101] == ["D"] * 100 + ["G"]  # iteration 0
  assert phases[101:105] == ["D", "G", "D", "G"]  # iterations 1, 2
  assert phases[1097:1099] == ["D", "G"]  # iteration 499
  assert phases[1099:1200] == ["D"] * 100 + ["G"]  # iteration 500: the next burst
  assert phases[:2198].count("G") == 1000  # one per iteration: 1,000 in 2 x 1,099 steps
  assert phases[2198:] == ["D"] * 3  # iteration 1,000 starts a burst
  assert genegan.library_steps(c, 1) == 101 and genegan.library_steps(c, 501) == 1099 + 101
  # The traced test (the step without a static phase) agrees with the static one.
  traced = jax.jit(lambda s: genegan._is_critic_step(c, s))(jnp.arange(2300))
  np.testing.assert_array_equal(np.asarray(traced), np.array(phases[:2201] + [
      genegan.step_phase(c, s) for s in range(2201, 2300)]) == "D")


def test_loss_terms_by_hand():
  e = jnp.array([[-1.0, 3.0], [0.0, 2.0]])
  assert float(genegan.nulling_loss(e)) == pytest.approx(1.5)
  a = jnp.full((1, 2, 2, 3), 255.0)
  b = jnp.zeros((1, 2, 2, 3)).at[0, 0, 0, 0].set(51.0)
  # mean |a - b| / 255 = (11 * 255 + 204) / 12 / 255
  assert float(genegan.reconstruction_loss(b, a)) == pytest.approx((11 * 255 + 204) / 12 / 255)
  # WGAN critic: mean D(fake) - mean D(real).
  assert float(genegan.critic_loss(jnp.array([[1.0], [3.0]]), jnp.array([[-1.0], [0.0]]))) == \
      pytest.approx(-0.5 - 2.0)


def test_weight_decay_covers_the_six_kernels_only():
  c = tiny_genegan_config()
  state = jax.eval_shape(lambda: genegan.create_state(c, jax.random.key(0),
                                                      genegan.image_shapes(c), 8))
  kernels = genegan.generator_kernels({k: state.params[k] for k in genegan.GENERATORS})
  shapes = sorted(tuple(k.shape) for k in kernels)
  assert shapes == sorted([(4, 4, 3, 2), (4, 4, 2, 4), (4, 4, 4, 8),  # splitter conv1-3
                           (4, 4, 8, 8), (4, 4, 4, 8), (4, 4, 3, 4)])  # joiner deconv1-3
  # 0.5 * wd * mean(W^2) per kernel: with every kernel 2, six times 0.5 * wd * 4.
  twos = [jnp.full(k.shape, 2.0) for k in kernels]
  from i2ijax import losses
  assert float(losses.mean_square_weight_decay(twos, 5e-5)) == pytest.approx(6 * 0.5 * 5e-5 * 4)


# ---------------------------------------------------------------- the step vs a reference
def _tiny_float64():
  c = tiny_genegan_config(32)
  c.model.param_dtype = "float64"
  c.model.clip_value = 0.01  # the official clipping (the reference below spells it out)
  c.optimizer.lr = 1e-2  # large enough that a wrong order or rule shows
  return c


def _reference(config):
  """The official graph and updates composed by hand, as two jitted steps:
  critic(params, stats, ms, Ax, Be) (d_opt with clip_d first) and generator(...) (g_opt),
  both -> (params, stats, ms, loss). Pixels in [0, 255]. Every call updates its
  network's running averages (UPDATE_OPS of both optimisers), in graph order."""
  nets = genegan.build_models(config)
  lr = config.optimizer.lr

  def graph(params, stats, ax, be):
    stats = dict(stats)

    def call(name, *args):
      y, upd = nets[name].apply({"params": params[name], "batch_stats": stats[name]}, *args,
                                mutable=["batch_stats"])
      stats[name] = upd["batch_stats"]
      return y

    A, x = call("splitter", ax)
    B, e = call("splitter", be)
    o = {"e": e, "Ax2": call("joiner", A, x), "Be2": call("joiner", B, 0 * e),
         "Bx": call("joiner", B, x), "Ae": call("joiner", A, 0 * e)}
    o["real_Ax"], o["fake_Bx"] = call("D_Ax", ax), call("D_Ax", o["Bx"])
    o["real_Be"], o["fake_Ae"] = call("D_Be", be), call("D_Be", o["Ae"])
    return o, stats

  def rmsprop(p, ms, g):  # decay 0.8, eps 1e-10 inside the root, ms starting at one
    ms = jax.tree_util.tree_map(lambda m, gg: 0.8 * m + 0.2 * gg * gg, ms, g)
    return jax.tree_util.tree_map(lambda w, gg, m: w - lr * gg / jnp.sqrt(m + 1e-10), p, g,
                                  ms), ms

  @jax.jit
  def critic(params, stats, ms, ax, be):
    d = {k: jax.tree_util.tree_map(lambda w: jnp.clip(w, -0.01, 0.01), params[k])
         for k in ("D_Ax", "D_Be")}

    def loss(d):
      o, new_stats = graph({**params, **d}, stats, ax, be)
      total = (jnp.mean(o["fake_Bx"] - o["real_Ax"]) + jnp.mean(o["fake_Ae"] - o["real_Be"]))
      return total, new_stats

    (total, new_stats), g = jax.value_and_grad(loss, has_aux=True)(d)
    d, dms = rmsprop(d, {k: ms[k] for k in d}, g)
    return {**params, **d}, new_stats, {**ms, **dms}, total

  @jax.jit
  def generator(params, stats, ms, ax, be):
    def loss(gp):
      o, new_stats = graph({**params, **gp}, stats, ax, be)
      kernels = [gp["splitter"][f"conv{i}"]["conv"]["kernel"] for i in (1, 2, 3)]
      kernels += [gp["joiner"][f"deconv{i}"]["kernel"] for i in (1, 2, 3)]
      total = (jnp.mean(jnp.abs(o["e"])) + jnp.mean(jnp.abs(ax - o["Ax2"])) / 255
               + jnp.mean(jnp.abs(be - o["Be2"])) / 255 - jnp.mean(o["fake_Bx"])
               - jnp.mean(o["fake_Ae"]) + 0.01 * jnp.mean(jnp.abs(ax + be - o["Bx"] - o["Ae"]))
               + sum(0.5 * 5e-5 * jnp.mean(w * w) for w in kernels))
      return total, new_stats

    gp = {k: params[k] for k in ("splitter", "joiner")}
    (total, new_stats), g = jax.value_and_grad(loss, has_aux=True)(gp)
    gp, gms = rmsprop(gp, {k: ms[k] for k in gp}, g)
    return {**params, **gp}, new_stats, {**ms, **gms}, total

  return critic, generator


def _close(a, b, rtol=1e-9, atol=1e-12):
  for x, y in zip(jax.tree_util.tree_leaves(a), jax.tree_util.tree_leaves(b), strict=True):
    np.testing.assert_allclose(np.asarray(x), np.asarray(y), rtol=rtol, atol=atol)


def _max_diff(a, b):
  return max(float(jnp.max(jnp.abs(x - y)))
             for x, y in zip(jax.tree_util.tree_leaves(a), jax.tree_util.tree_leaves(b)))


@pytest.fixture(scope="module")
def float64_step():
  with jax.enable_x64(True):
    c = _tiny_float64()
    state = jax.jit(lambda k: genegan.create_state(c, k, genegan.image_shapes(c), 8))(
        jax.random.key(0))
    step = jax.jit(genegan.make_train_step(c, 8), static_argnames=("phase",))
    yield c, state, step


@pytest.mark.slow
def test_step_equals_hand_composed_reference(float64_step):
  """float64: a critic step then a generator step (the tiny config's phases). Every
  parameter, running average, RMSProp accumulator and loss matches the reference. The
  critic step clips before its update (so its parameters leave [-0.01, 0.01] by the update
  and clipping after the update would differ), changes no generator parameter but updates
  the generators' running averages; the generator step likewise changes no critic
  parameter but updates the critics' running averages."""
  c, state, step = float64_step
  with jax.enable_x64(True):
    spec = registry.get("genegan")
    critic, generator = _reference(c)
    rng = np.random.default_rng(0)
    ref, stats = dict(state.params), dict(state.batch_stats)
    ms = jax.tree_util.tree_map(jnp.ones_like, ref)
    for t in range(2):
      batch = {k: jnp.asarray(v) for k, v in random_batch("genegan", 2, 32, rng,
                                                          "float64").items()}
      ax, be = ((batch[k] + 1.0) * 127.5 for k in ("A", "B"))
      (phase,) = phase_args(spec, c, t, 8)
      assert phase == ("D", "G")[t]
      before, stats_before = state, stats
      fn = critic if phase == "D" else generator
      ref, stats, ms, ref_loss = fn(ref, stats, ms, ax, be)
      state, m = step(state, batch, jax.random.key(1), phase=phase)
      assert float(m[f"{phase}_total"]) == pytest.approx(float(ref_loss), rel=1e-10)
      _close(state.params, ref)
      _close(state.batch_stats, stats)
      mine, other = ((genegan.CRITICS, genegan.GENERATORS) if phase == "D"
                     else (genegan.GENERATORS, genegan.CRITICS))
      assert _max_diff({k: state.params[k] for k in other},
                       {k: before.params[k] for k in other}) == 0.0
      assert _max_diff({k: state.batch_stats[k] for k in other},
                       {k: stats_before[k] for k in other}) > 1e-4
      if phase == "D":
        d = {k: state.params[k] for k in genegan.CRITICS}
        # gamma is 1 at init: clipped to 0.01 first, then moved by the update (clipping
        # after the update would leave exactly 0.01).
        gamma = np.asarray(d["D_Ax"]["bn2"]["scale"])
        assert np.all(np.abs(gamma - 0.01) <= 1.1 * c.optimizer.lr)
        assert np.any(np.abs(gamma - 0.01) > 1e-12)
    _close(state.d_opt_state[0].nu, {k: ms[k] for k in genegan.CRITICS})
    _close(state.g_opt_state[0].nu, {k: ms[k] for k in genegan.GENERATORS})


@pytest.mark.slow
def test_splitter_and_joiner_overfit_the_reconstruction():
  """The spec's overfit check: the reconstruction terms alone (mean |Ax - join(split(Ax))| / 255
  and likewise Be with its attribute part replaced by zeros), minimised over the splitter and
  joiner on one fixed pair, fall to well below their start (Adam, 60 steps in one loop)."""
  import optax
  c = tiny_genegan_config(32)
  nets = genegan.build_models(c)
  # Smooth images (random 2 x 2 colour fields, bilinearly enlarged): what a latent of 8 x 4 x 4
  # can hold, unlike pixel noise.
  rng = np.random.default_rng(1)
  ax, be = (jax.image.resize(jnp.asarray(rng.uniform(0, 255, (2, 2, 2, 3)), jnp.float32),
                             (2, 32, 32, 3), "bilinear") for _ in range(2))
  opt = optax.adam(3e-2)

  @jax.jit
  def fit(state):
    g = {k: state.params[k] for k in genegan.GENERATORS}

    def rec(g):
      run = lambda name, *args: nets[name].apply(
          {"params": g[name], "batch_stats": state.batch_stats[name]}, *args, train=True)
      a, x = run("splitter", ax)
      b, e = run("splitter", be)
      return (genegan.reconstruction_loss(run("joiner", a, x), ax)
              + genegan.reconstruction_loss(run("joiner", b, jnp.zeros_like(e)), be))

    def body(_, carry):
      g, o = carry
      updates, o = opt.update(jax.grad(rec)(g), o, g)
      return optax.apply_updates(g, updates), o

    g_fit, _ = jax.lax.fori_loop(0, 60, body, (g, opt.init(g)))
    return rec(g), rec(g_fit)

  state = jax.jit(lambda k: genegan.create_state(c, k, genegan.image_shapes(c), 8))(
      jax.random.key(0))
  start, end = fit(state)
  assert float(end) < 0.4 * float(start), (float(start), float(end))


# ---------------------------------------------------------------- runtime
def _loop_config(steps):
  return short_run(tiny_genegan_config(32), steps)


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
  return train_straight_and_resumed(_loop_config, tmp_path_factory.mktemp("genegan"), 4, 2)


@pytest.mark.slow
def test_resume_equals_uninterrupted(runs):
  assert runs["first_half"] == ["2"]
  assert {"G_total", "parallelogram", "e", "lr"} <= set(runs["metrics"])
  assert assert_same_states(runs["straight"], runs["resumed"], _loop_config(4)) > 40


@pytest.mark.slow
def test_translate_removes_or_takes_a_reference_attribute_and_evaluates(runs, tmp_path):
  from PIL import Image
  from i2ijax.evaluate import evaluate_workdir
  from i2ijax.translate import make_translator
  rng = np.random.default_rng(0)
  image = rng.integers(0, 256, (36, 44, 3), dtype=np.uint8)
  Image.fromarray(image).save(tmp_path / "ref.png")
  remove, _, _ = make_translator(runs["straight"])
  (out,) = remove(image)
  assert out.shape == (32, 32, 3)  # resized to the crop size
  transfer, _, _ = make_translator(runs["straight"], reference=f"{tmp_path}/ref.png,"
                                   f"{tmp_path}/ref.png")
  outs = transfer(image)
  assert len(outs) == 2 and np.array_equal(outs[0], outs[1])
  report = evaluate_workdir(runs["straight"], write_scalars=False)
  assert set(report["tasks"]) == {"Bx", "Ae"}
  for task in report["tasks"].values():
    assert task["images"] >= 1 and {"psnr", "ssim"} <= set(task["baseline_input"])
  assert report["mean"]["model"]["psnr"] > 0
