"""HomoInterpGAN train step: the 5-iteration schedule, resume, samples, translate, config errors."""

import json
import os

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from PIL import Image

from i2ijax import registry
from i2ijax.registry import TranslateRequest
from i2ijax.models.homointerp import decoder_plan
from i2ijax.train import homointerp
from i2ijax.train.loop import phase_args
from i2ijax.translate import load_state, translate_images
from tests.helpers import (assert_same_states, grid_body, lean_jit, load_config, random_batch,
                           random_vgg19_state_dict, short_run, tiny_homointerp_config,
                           train_straight_and_resumed)


def _moved(before, after) -> bool:
  return any(float(jnp.max(jnp.abs(a - b))) > 0 for a, b in zip(
      jax.tree_util.tree_leaves(before), jax.tree_util.tree_leaves(after)))


def _norm_cancels(where: str, c) -> bool:
  """Whether state leaf `where` is (the Adam moment of) a conv bias a norm cancels, or a
  BatchNorm running mean such a bias shifts: D's trunk convs before its instance norms,
  Dec's convs before its BatchNorms (all but the last conv). Their exact gradient is 0,
  so each path's Adam step there follows its own rounding noise (up to lr per update)."""
  if "['D']" in where:
    return any(f"['Conv2d_{k}']['bias']" in where for k in range(c.model.d_downsamples + 1))
  if "['Dec']" in where:
    last = sum(1 for item in decoder_plan(c.model.vgg_width, homointerp.encoder_stages(c) + 1)
               if item != "up")
    return "['mean']" in where or any(f"['Conv2d_{k}']['bias']" in where for k in range(last))
  return False


@pytest.mark.slow
def test_encoder_and_interpolator_step_every_n_discrim_iterations_static_or_traced():
  with jax.enable_x64(True):
    c = tiny_homointerp_config()
    c.model.n_discrim = 5
    c.model.param_dtype = "float64"
    rng = np.random.default_rng(0)
    batches = [random_batch("homointerp", 2, 32, rng, "float64") for _ in range(6)]
    state = homointerp.create_state(c, jax.random.key(0), homointerp.image_shapes(c), 8)
    spec = registry.get("homointerp")
    static = lean_jit(homointerp.make_train_step(c, 8), static_argnames=("phase",))
    traced = lean_jit(homointerp.make_train_step(c, 8))
    s_static, s_traced = state, state
    for i, b in enumerate(batches):
      before = s_static.params
      (phase,) = phase_args(spec, c, i, 8)
      s_static, m = static(s_static, b, jax.random.key(1), phase=phase)
      s_traced, _ = traced(s_traced, b, jax.random.key(1))
      assert phase == (i % 5 == 0), i  # the official `global_step % n_discrim == 0`
      for net in ("E", "T"):
        assert _moved(before[net], s_static.params[net]) == phase, (i, net)
      for net in ("Dec", "D", "KG"):
        assert _moved(before[net], s_static.params[net]), (i, net)
      assert ("enc_int" in m) == phase
      leaves = zip(jax.tree_util.tree_leaves_with_path(s_static),
                   jax.tree_util.tree_leaves(s_traced))
      for (path, a), b2 in leaves:
        where = jax.tree_util.keystr(path)
        if _norm_cancels(where, c):  # both paths step on rounding noise there
          if "opt_state" not in where:
            assert float(jnp.max(jnp.abs(a - b2))) <= 2 * c.optimizer.lr * (i + 1), where
          continue
        np.testing.assert_allclose(np.asarray(a), np.asarray(b2), rtol=1e-9, atol=1e-12,
                                   err_msg=where)
    counts = {n: int(s_static.opt_state[n][0].count) for n in homointerp.NETWORKS}
    assert counts == {"E": 2, "T": 2, "Dec": 6, "D": 6, "KG": 6}
    # The frozen VGG19 never moves and is E's initial copy.
    for a, b2 in zip(jax.tree_util.tree_leaves(state.params["E"]),
                     jax.tree_util.tree_leaves(s_static.vgg)):
      np.testing.assert_array_equal(np.asarray(a), np.asarray(b2))


def test_attribute_groups_and_labels_follow_the_official_syntax():
  c = load_config("homointerp")
  groups = homointerp.attribute_groups(c)
  assert [len(g) for g in groups] == [2, 5, 4, 3, 1]
  assert homointerp.num_branches(c) == 6
  c.model.attrs = "Smiling@#No_Beard,Young"
  assert homointerp.attribute_groups(c) == [[("Smiling", False), ("No_Beard", True)],
                                            [("Young", False)]]
  v = jnp.asarray([[0.25, 0.5, 1.0]])
  np.testing.assert_allclose(homointerp.strengths_per_attribute(c, v), [[0.25, 0.25, 0.5]])
  # The quickstart: the embedded attributes, tints one group; labels in group order.
  q = load_config("homointerp", "quickstart")
  q.data.embedded_images = 8
  example, size, shapes = homointerp.make_examples(q)
  assert size == 8 and shapes == {"x": (64, 64, 3)}
  from i2ijax.data.attributes import EmbeddedAttributes
  src = EmbeddedAttributes(8, 64, "train")
  labels = sorted(tuple(example(g)["label"]) for g in range(8))
  assert labels == sorted(tuple(src.label(i)) for i in range(8))


@pytest.mark.parametrize("key,value,match", [
    ("model.attrs", "A@,B", "every group"),
    ("model.d_downsamples", 3, "takes 64 px images"),
    ("model.encoder_stages", 0, "must be 1 .relu3_1., 2 .relu4_1. or 3"),
    ("model.d_cls_features", "both", "d_cls_features"),
    ("batch_size", 1, "batch_size=1"),
])
def test_bad_config_values_are_named(key, value, match):
  c = tiny_homointerp_config()
  section, _, name = key.rpartition(".")
  (c[section] if section else c)[name] = value
  with pytest.raises(ValueError, match=match):
    homointerp.validate_config(c)


def _loop_config(steps):
  c = short_run(tiny_homointerp_config(32), steps)
  c.eval_every_steps = 4  # the periodic evaluation runs the model's own tasks
  return c


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
  """Both runs start the encoder from a VGG19 file (`model.vgg_path`), which is moved away
  before the resume: resuming, translating and evaluating must not need it."""
  base = tmp_path_factory.mktemp("hi")
  vgg = str(base / "vgg19.npz")
  np.savez(vgg, **random_vgg19_state_dict(tiny_homointerp_config().model.vgg_width, scale=0.2))
  calls = []

  def make_config(steps):
    calls.append(steps)
    if len(calls) == 3:  # the resume (straight 4, first half 2, then the rest)
      os.rename(vgg, vgg + ".moved")
    c = _loop_config(steps)
    c.model.vgg_path = vgg
    return c
  out = train_straight_and_resumed(make_config, base, 4, 2)
  out["vgg_file"] = vgg + ".moved"
  return out


@pytest.mark.slow
def test_resume_equals_uninterrupted(runs):
  assert runs["first_half"] == ["2"]
  assert {"discrim_gp", "enc_int_all", "KGTransform", "dec_per"} <= set(runs["metrics"])
  assert assert_same_states(runs["straight"], runs["resumed"], _loop_config(4)) > 60
  # The runs started from the file: the frozen VGG19 (E's initial copy) holds its weights.
  _, state = load_state(runs["straight"], _loop_config(4))
  np.testing.assert_array_equal(np.asarray(state.vgg["conv1_1"]["kernel"]),
                                np.load(runs["vgg_file"])["features.0.weight"].transpose(2, 3, 1, 0))
  with open(os.path.join(runs["straight"], "eval", "test_step4.json")) as f:
    assert list(json.load(f)["tasks"]) == ["v=0", "v=0.25", "v=0.5", "v=0.75", "v=1"]


@pytest.mark.slow
def test_sample_grid_shows_a_strip_per_branch(runs):
  files = sorted(os.listdir(os.path.join(runs["straight"], "samples")))
  assert files == ["strips_step_00000004.png"]
  grid = np.asarray(Image.open(os.path.join(runs["straight"], "samples", files[0])))
  # 2 sources x (4 groups + residual + all) rows; source, v = 0 / 0.5 / 1, reference.
  grid_body(grid, 2 * 6, 5)


@pytest.mark.slow
def test_translate_towards_a_reference(runs, tmp_path):
  wd = runs["straight"]
  rng = np.random.default_rng(0)
  for name in ("a", "ref"):
    Image.fromarray(rng.integers(0, 256, (40, 50, 3), dtype=np.uint8)).save(tmp_path / f"{name}.png")
  src, ref = str(tmp_path / "a.png"), str(tmp_path / "ref.png")
  (one,) = translate_images(wd, src, str(tmp_path / "one"), reference=ref,
                            strengths="Dark=0.5,Warm_Tint@Cool_Tint=1")
  strips = translate_images(wd, src, str(tmp_path / "strips"), reference=ref, interpolate=3)
  assert len(strips) == 6 * 3  # 4 groups + residual + all, 3 strengths each
  read = lambda p: np.asarray(Image.open(p))
  assert read(one).shape == (32, 32, 3)
  # Strength 0 of every strip is the reconstruction of the input itself.
  for k in (3, 6, 9):
    np.testing.assert_array_equal(read(strips[0]), read(strips[k]))
  config = _loop_config(4)
  np.testing.assert_array_equal(
      homointerp.parse_strengths(config, "Dark=0.5,Warm_Tint@Cool_Tint=1"), [1, 0.5, 0, 0, 0])
  with pytest.raises(ValueError, match="unknown group 'Nope'"):
    homointerp.parse_strengths(config, "Nope=1")
  with pytest.raises(ValueError, match="give --reference"):
    tr = homointerp.translator(config, TranslateRequest())
    _, state = load_state(wd, config)
    tr.apply(tr.params(state), jnp.zeros((1, 32, 32, 3)))


@pytest.mark.slow
def test_evaluate_scores_each_strength_against_the_true_interpolation(runs):
  from i2ijax.evaluate import evaluate_workdir, summary
  report = evaluate_workdir(runs["straight"])
  assert list(report["tasks"]) == ["v=0", "v=0.25", "v=0.5", "v=0.75", "v=1"]
  tasks = report["tasks"]
  # At v = 0 the truth is the source itself; the blend then is the source too.
  assert tasks["v=0"]["baseline_input"]["psnr"] == float("inf")
  assert tasks["v=0"]["baseline_blend"]["psnr"] == float("inf")
  # Moving further towards the reference's attributes takes the source further from the truth.
  src = [tasks[f"v={v}"]["baseline_input"]["psnr"] for v in ("0.25", "0.5", "0.75", "1")]
  assert src == sorted(src, reverse=True)
  assert all(np.isfinite(t["model"]["psnr"]) for t in tasks.values())
  assert report["mean"]["model"]["psnr"] == pytest.approx(
      np.mean([tasks[f"v={v}"]["model"]["psnr"] for v in ("0.25", "0.5", "0.75", "1")]))
  assert "blend" in summary(report)
  assert os.path.exists(os.path.join(runs["straight"], "eval", "test_step4.json"))
