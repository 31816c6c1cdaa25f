"""DTN: configs, the paper's quirks (f frozen after its own pretraining phase, the ternary D's
classes, G's targets, L_TID on target samples only, the loss weights), the step against a
hand-composed reference (D first, then g against the updated D), resume, evaluation.

There is no official code (the TF reimplementation yunjey/domain-transfer-network does not
run here and follows a different, binary-D schedule), so the step is compared with the
paper's update written out below with the library's networks and optax's Adam.
"""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from i2ijax.train import dtn
from i2ijax.train.loop import jit_once
from tests.helpers import (assert_same_states, load_config, random_batch, short_run,
                           tiny_dtn_config, train_straight_and_resumed)


def test_default_config_is_the_papers_digits_setting():
  c = load_config("dtn")
  m, o, d = c.model, c.optimizer, c.data
  assert (m.alpha, m.beta, m.gamma, m.tv_exponent) == (15.0, 15.0, 0.0, 1.0)
  assert tuple(m.f_widths) == (64, 128, 256, 128)
  assert (tuple(m.g_widths), tuple(m.d_widths)) == ((512, 256, 128), (128, 256, 512))
  assert (o.name, o.lr, o.f_lr, o.beta1, o.beta2, o.weight_decay) == (
      "adam", 3e-4, 3e-4, 0.9, 0.999, 0.0)
  assert (c.batch_size, m.f_pretrain_steps, d.crop_size) == (100, 20000, 32)
  assert (d.source, d.source_tfds, d.target_tfds, d.source_split) == (
      "tfds", "svhn_cropped", "mnist", "extra")
  assert (d.source_channels, d.target_channels) == (3, 1)
  assert load_config("dtn", "svhn_mnist").to_dict() == c.to_dict()
  q = load_config("dtn", "quickstart")
  assert (d.source_renderings, m.eval_stats) == (1, "source")
  assert q.data.source == "embedded" and (q.model.alpha, q.model.beta) == (1.0, 15.0)
  assert q.data.source_renderings == 16
  with pytest.raises(ValueError, match="unknown dtn preset"):
    load_config("dtn", "nope")


@pytest.mark.parametrize("key,value,match", [
    ("model.f_widths", (4, 4, 4), "config.model.f_widths"),
    ("model.alpha", -1.0, "config.model.alpha"),
    ("model.f_pretrain_steps", -1, "config.model.f_pretrain_steps"),
    ("data.source", "folder", "config.data.source"),
    ("data.crop_size", 64, "config.data.crop_size"),
    ("data.target_channels", 2, "config.data.target_channels"),
    ("optimizer.f_lr", 0.0, "config.optimizer.f_lr"),
    ("model.eval_stats", "batch", "config.model.eval_stats"),
    ("data.source_renderings", 0, "config.data.source_renderings"),
])
def test_bad_config_values_are_named(key, value, match):
  c = tiny_dtn_config()
  section, name = key.split(".")
  c[section][name] = value
  with pytest.raises(ValueError, match=match):
    dtn.validate_config(c)


def test_phases_f_pretraining_then_dtn():
  c = tiny_dtn_config()
  c.model.f_pretrain_steps = 3
  assert [dtn.step_phase(c, t) for t in range(5)] == ["f", "f", "f", "dtn", "dtn"]


# ---------------------------------------------------------------- one state, both phases
@pytest.fixture(scope="module")
def setup():
  c = tiny_dtn_config()
  shapes = dtn.image_shapes(c)
  state = jit_once(lambda k: dtn.create_state(c, k, shapes, 16))(jax.random.key(0))
  rng = np.random.default_rng(0)
  batches = [{k: jnp.asarray(v) for k, v in random_batch("dtn", 4, 32, rng).items()}
             for _ in range(2)]
  step = jax.jit(dtn.make_train_step(c, 16), static_argnames="phase")
  return c, state, batches, step


def _diff(a, b):
  return max(float(jnp.max(jnp.abs(x - y))) for x, y in zip(jax.tree_util.tree_leaves(a),
                                                             jax.tree_util.tree_leaves(b)))


def test_f_phase_trains_f_and_its_head_only(setup):
  c, state, batches, step = setup
  new, metrics = step(state, batches[0], None, phase="f")
  assert int(new.step) == 1
  assert _diff(new.params["f"], state.params["f"]) > 0
  assert _diff(new.params["head"], state.params["head"]) > 0
  for name in ("g", "D"):
    assert _diff(new.params[name], state.params[name]) == 0.0
  assert _diff(new.batch_stats, state.batch_stats) == 0.0
  assert {"f_class_loss", "f_accuracy"} <= set(metrics)
  # The loss is the softmax cross-entropy of f + head on the source labels.
  nets = dtn.build_models(c)
  logits = jax.jit(nets["classifier"].apply)(
      {"params": {"f": state.params["f"], "head": state.params["head"]}}, batches[0]["A"])
  ce = -jnp.mean(jax.nn.log_softmax(logits)[jnp.arange(4), batches[0]["label_A"]])
  assert float(metrics["f_class_loss"]) == pytest.approx(float(ce), rel=1e-5)


def test_source_statistics_normalise_as_a_training_mode_source_batch(setup):
  # Translation uses g's batch-norm statistics re-estimated on source training images: in
  # eval mode on those images g gives exactly its training-mode output on them as one batch.
  c, state, batches, step = setup
  state, _ = step(state, batches[0], None, phase="dtn")  # running averages of both sides
  stats = dtn.source_statistics(c, state, images=16)
  assert _diff(stats["D"], state.batch_stats["D"]) == 0.0
  assert _diff(stats["g"], state.batch_stats["g"]) > 1e-3
  source = dtn.digit_domains(c, "train", "source")
  x = jnp.asarray(np.stack([source.load(i) for i in range(16)]).astype(np.float32) / 127.5 - 1)
  nets = dtn.build_models(c)
  as_eval = dtn.translate_images(nets, state.params, stats, x, train=False)
  as_train = dtn.translate_images(nets, state.params, state.batch_stats, x, train=True)
  np.testing.assert_allclose(np.asarray(as_eval), np.asarray(as_train), atol=2e-5)
  running = c.copy_and_resolve_references()
  running.model.eval_stats = "running"
  assert dtn.source_statistics(running, state) is state.batch_stats


def test_f_pretraining_fits_the_source_labels(setup):
  # The pretraining phase as a library step: repeated f steps on a fixed labelled batch of
  # the embedded source digits drive the classification loss down (f learns the labels).
  _, state, _, step = setup
  from i2ijax.data.digits import embedded_digit_domain, to_unit
  source = embedded_digit_domain("source", "train")
  batch = {"A": jnp.asarray(np.stack([to_unit(source.load(i)) for i in range(4)])),
           "label_A": jnp.asarray([source.label(i) for i in range(4)], jnp.int32),
           "B": jnp.zeros((4, 32, 32, 1))}
  losses = []
  for _ in range(120):
    state, m = step(state, batch, None, phase="f")
    losses.append(float(m["f_class_loss"]))
  assert losses[-1] < 0.5 * losses[0]


def test_f_is_frozen_in_the_dtn_phase_no_gradient_no_change(setup):
  c, state, batches, step = setup
  s = state
  for b in batches:
    s, metrics = step(s, b, None, phase="dtn")
  assert _diff(s.params["f"], state.params["f"]) == 0.0
  assert _diff(s.params["head"], state.params["head"]) == 0.0
  assert _diff(s.f_opt_state, state.f_opt_state) == 0.0
  assert _diff(s.params["g"], state.params["g"]) > 0 and _diff(s.params["D"], state.params["D"]) > 0
  # No gradient reaches f through any term of L_G (L_CONST runs f on G(x)), while g gets
  # L_CONST's gradient through f.
  nets = dtn.build_models(c)
  b = batches[0]

  def g_loss(f_params, g_params):
    params = {**state.params, "f": f_params}
    fx, ft = dtn.frozen_f(f_params, b["A"], nets), dtn.frozen_f(f_params, b["B"], nets)
    return dtn.generator_loss(g_params, params, state.batch_stats, fx, ft, b["B"], nets,
                              c.model)[1][0]["G_const"]

  f_grads, g_grads = jax.jit(jax.grad(g_loss, argnums=(0, 1)))(state.params["f"],
                                                               state.params["g"])
  assert max(float(jnp.max(jnp.abs(g))) for g in jax.tree_util.tree_leaves(f_grads)) == 0.0
  assert max(float(jnp.max(jnp.abs(g))) for g in jax.tree_util.tree_leaves(g_grads)) > 0


@pytest.fixture(scope="module")
def terms(setup):
  """Every quantity of one DTN iteration on batches[0] (and of L_G on the other batch's
  source or target side), in one compiled program."""
  c, state, batches, _ = setup
  nets = dtn.build_models(c)
  p, stats = state.params, state.batch_stats

  @jax.jit
  def run(b, other):
    fx, ft = (dtn.frozen_f(p["f"], b[k], nets) for k in ("A", "B"))
    fx2, ft2 = (dtn.frozen_f(p["f"], other[k], nets) for k in ("A", "B"))
    (gx, gt), _ = dtn.generate(p["g"], stats["g"], (fx, ft), nets)
    logits, _ = dtn.discriminate(p["D"], stats["D"], (gx, gt, b["B"]), nets)
    d_loss = dtn.discriminator_loss(p["D"], p, stats, fx, ft, b["B"], nets)[0]
    g = lambda fx, ft, t, hp: dtn.generator_loss(p["g"], p, stats, fx, ft, t, nets, hp)
    faces = c.model.copy_and_resolve_references()
    faces.gamma = 0.05
    return {"logits": logits, "gt": gt, "d_loss": d_loss, "base": g(fx, ft, b["B"], c.model),
            "new_source": g(fx2, ft, b["B"], c.model)[1][0],
            "new_target": g(fx, ft2, other["B"], c.model)[1][0],
            "faces": g(fx, ft, b["B"], faces)}

  return run(*batches)


def test_ternary_discriminator_classes_and_generator_targets(setup, terms):
  # D: G(x) -> class 0 (fake from source), G(t) -> class 1 (fake from target), t -> class 2
  # (real target); G: both fakes -> class 2.
  ls, lt, lr = terms["logits"]
  nll = lambda logits, k: -float(jnp.mean(jax.nn.log_softmax(logits)[:, k]))
  assert float(terms["d_loss"]) == pytest.approx(nll(ls, 0) + nll(lt, 1) + nll(lr, 2), rel=1e-5)
  assert dtn.D_CLASS_INDEX == {"fake_source": 0, "fake_target": 1, "real_target": 2}
  g_terms = terms["base"][1][0]
  assert float(g_terms["G_gan"]) == pytest.approx(nll(ls, 2) + nll(lt, 2), rel=1e-5)


def test_tid_reads_target_samples_only_and_const_source_only(setup, terms):
  _, _, batches, _ = setup
  base = terms["base"][1][0]
  new_source = terms["new_source"]  # other source images: L_TID unchanged
  assert float(new_source["G_tid"]) == float(base["G_tid"])
  assert float(new_source["G_const"]) != float(base["G_const"])
  new_target = terms["new_target"]  # other target images: L_CONST unchanged
  assert float(new_target["G_const"]) == float(base["G_const"])
  assert float(new_target["G_tid"]) != float(base["G_tid"])
  # L_TID is the MSE between t and G(t) = g(f(t)).
  expected = float(jnp.mean((batches[0]["B"] - terms["gt"]) ** 2))
  assert float(base["G_tid"]) == pytest.approx(expected, rel=1e-5)


def test_loss_weights_by_default(setup, terms):
  c = setup[0]
  assert (c.model.alpha, c.model.beta, c.model.gamma) == (15.0, 15.0, 0.0)
  total, (t, _) = terms["base"]
  assert float(t["G_tv"]) > 0
  assert float(total) == pytest.approx(
      float(t["G_gan"] + 15 * t["G_const"] + 15 * t["G_tid"]), rel=1e-6)
  total, (t, _) = terms["faces"]  # the faces setting's TV weight 0.05
  assert float(total) == pytest.approx(
      float(t["G_gan"] + 15 * t["G_const"] + 15 * t["G_tid"] + 0.05 * t["G_tv"]), rel=1e-6)


def test_dtn_step_equals_hand_composed_reference_d_first_then_g(setup):
  c, state, batches, step = setup
  b = batches[0]
  new, metrics = step(state, b, None, phase="dtn")
  nets, p = dtn.build_models(c), state.params
  adam = optax.adam(c.optimizer.lr, c.optimizer.beta1, c.optimizer.beta2, eps=1e-8)
  fx, ft = (dtn.frozen_f(p["f"], b[k], nets) for k in ("A", "B"))

  @jax.jit
  def reference():
    d_grads, (_, stats) = jax.grad(dtn.discriminator_loss, has_aux=True)(
        p["D"], p, state.batch_stats, fx, ft, b["B"], nets)
    upd, _ = adam.update(d_grads, adam.init(p["D"]), p["D"])
    d_new = optax.apply_updates(p["D"], upd)
    params = {**p, "D": d_new}
    g_grads, (terms, stats) = jax.grad(dtn.generator_loss, has_aux=True)(
        p["g"], params, stats, fx, ft, b["B"], nets, c.model)
    upd, _ = adam.update(g_grads, adam.init(p["g"]), p["g"])
    return d_new, optax.apply_updates(p["g"], upd), terms, stats

  d_new, g_new, terms, stats = reference()
  # The conv biases just before a batch norm have a zero gradient in theory: Adam turns
  # rounding noise there into steps of +-lr, so those differ by up to 2 lr; all else agrees.
  for got, want in ((new.params["D"], d_new), (new.params["g"], g_new)):
    for (path, x), y in zip(jax.tree_util.tree_leaves_with_path(got),
                            jax.tree_util.tree_leaves(want)):
      name = jax.tree_util.keystr(path)
      pre_norm_bias = name.endswith("['bias']") and "bn" not in name and "4" not in name
      tol = 2 * c.optimizer.lr + 1e-6 if pre_norm_bias else 1e-6
      assert float(jnp.max(jnp.abs(x - y))) <= tol, name
  # (D's running means carry those bias differences, times 1 - 0.95.)
  assert _diff(new.batch_stats, stats) < 1e-4
  # The logged L_G is the one against the updated D.
  assert float(metrics["G_total"]) == pytest.approx(float(terms["G_total"]), rel=1e-5)


# ---------------------------------------------------------------- runtime
def _loop_config(steps):
  c = short_run(tiny_dtn_config(), steps)
  return c


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
  return train_straight_and_resumed(_loop_config, tmp_path_factory.mktemp("dtn"), 4, 2)


@pytest.mark.slow
def test_resume_equals_uninterrupted(runs):
  # The run crosses from f's pretraining (iteration 0) into the DTN phase; f stays in the state.
  assert runs["first_half"] == ["2"]
  assert {"D_loss", "G_const", "G_tid", "G_total", "lr"} <= set(runs["metrics"])
  assert assert_same_states(runs["straight"], runs["resumed"], _loop_config(4)) > 30


@pytest.mark.slow
def test_evaluate_reports_target_classifier_accuracy_and_baselines(runs):
  from i2ijax.evaluate.reports import evaluate_workdir
  report = evaluate_workdir(runs["straight"], write_scalars=False)
  task = report["tasks"]["AtoB"]
  assert task["images"] == 180 and report["model_name"] == "dtn"
  for key in ("model", "baseline_input", "chance"):
    assert 0.0 <= task[key]["classifier_accuracy"] <= 1.0
  assert task["chance"]["classifier_accuracy"] == 0.1
  assert 0.0 <= report["target_classifier"]["target_test_accuracy"] <= 1.0
  assert {"source_accuracy", "translated_accuracy"} <= set(report["f"])


@pytest.mark.slow
def test_translates_from_a_workdir(runs, tmp_path):
  from PIL import Image
  from i2ijax.translate import translate_images
  rng = np.random.default_rng(0)
  Image.fromarray(rng.integers(0, 256, (36, 44, 3), dtype=np.uint8)).save(tmp_path / "a.png")
  (out,) = translate_images(runs["straight"], str(tmp_path / "a.png"), str(tmp_path / "o"),
                            "AtoB")
  assert np.asarray(Image.open(out)).shape[:2] == (32, 32)
