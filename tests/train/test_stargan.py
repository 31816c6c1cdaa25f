"""StarGAN's config, schedule, iteration structure, runtime (resume, samples) and translate."""

import os

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from PIL import Image

from i2ijax.registry import TranslateRequest
from i2ijax.train import stargan
from i2ijax.train.loop import phase_args
from i2ijax.translate import load_state, translate_images
from i2ijax import registry
from tests.helpers import (assert_same_states, grid_body, lean_jit, load_config, random_batch,
                           short_run, tiny_stargan_config, train_straight_and_resumed)


def test_default_config_is_the_official_celeba_setting():
  c = load_config("stargan")
  m, o, d = c.model, c.optimizer, c.data
  assert m.attrs == "Black_Hair,Blond_Hair,Brown_Hair,Male,Young"
  assert stargan.attribute_groups(c) == [[0, 1, 2]]
  assert (m.g_conv_dim, m.d_conv_dim, m.g_repeat_num, m.d_repeat_num) == (64, 64, 6, 6)
  assert (m.lambda_cls, m.lambda_rec, m.lambda_gp, m.n_critic) == (1.0, 10.0, 10.0, 5)
  assert (c.batch_size, c.num_train_steps) == (16, 200_000)
  assert (o.g_lr, o.d_lr, o.beta1, o.beta2) == (1e-4, 1e-4, 0.5, 0.999)
  assert (o.lr_policy, o.num_iters_decay, o.lr_update_step) == ("official", 100_000, 1000)
  assert (d.preprocess, d.center_crop, d.crop_size, d.flip) == ("center_crop_resize", 178, 128,
                                                                True)
  rafd = load_config("stargan", "rafd")
  assert len(stargan.attribute_names(rafd)) == 8 and rafd.model.single_label
  assert rafd.data.center_crop == 256


def test_bad_config_values_are_named():
  c = tiny_stargan_config()
  c.model.groups = "Warm_Tint,Purple"
  with pytest.raises(ValueError, match=r"config.model.groups names \['Purple'\]"):
    stargan.validate_config(c)
  c = tiny_stargan_config()
  c.optimizer.lr_policy = "cosine"
  with pytest.raises(ValueError, match="config.optimizer.lr_policy='cosine'"):
    stargan.validate_config(c)
  c = tiny_stargan_config()
  c.data.crop_size = 36
  with pytest.raises(ValueError, match="config.data.crop_size=36"):
    stargan.validate_config(c)
  c = tiny_stargan_config()
  c.model.n_critic = 0
  with pytest.raises(ValueError, match="config.model.n_critic=0"):
    stargan.validate_config(c)


def test_official_decay_ends_at_0999_and_linear_reaches_zero():
  c = load_config("stargan")
  lr = lambda t: float(stargan.learning_rate_at(c, 1e-4, t))
  # Constant for the first 101,000 iterations: the first decay follows iteration 101,000.
  assert lr(0) == lr(100_999) == pytest.approx(1e-4)
  assert lr(101_000) == pytest.approx(1e-4 * (1 - 1e-5))
  assert lr(101_999) == lr(101_000)
  assert lr(199_999) == pytest.approx(1e-4 * (1 - 99e-5))  # the last iteration
  assert lr(200_000) == pytest.approx(0.999e-4)  # after 100 decays of lr / 100,000
  c.optimizer.lr_policy = "linear"
  assert lr(101_000) == pytest.approx(1e-4 * 0.99)
  assert lr(150_000) == pytest.approx(1e-4 * 0.5)
  assert lr(200_000) == pytest.approx(0.0, abs=1e-12)
  # A decay window longer than the run starts at the first update step, as the official loop.
  c.num_train_steps, c.optimizer.num_iters_decay, c.optimizer.lr_update_step = 300, 1000, 100
  assert lr(99) == pytest.approx(1e-4) and lr(100) == pytest.approx(1e-4 * 0.9)


def test_generator_steps_every_n_critic_iterations_static_or_traced():
  # float64: Adam turns float32 rounding of near-zero gradients into differences of ~lr.
  with jax.enable_x64(True):
    _check_generator_steps()


def _check_generator_steps():
  c = tiny_stargan_config()
  c.model.n_critic = 3
  c.model.param_dtype = "float64"
  rng = np.random.default_rng(0)
  batches = [random_batch("stargan", 2, 32, rng, "float64") for _ in range(4)]
  state0 = stargan.create_state(c, jax.random.key(0), stargan.image_shapes(c), 8)
  spec = registry.get("stargan")
  static = lean_jit(stargan.make_train_step(c, 8), static_argnames=("phase",))
  traced = lean_jit(stargan.make_train_step(c, 8))
  s_static, s_traced = state0, state0
  for i, b in enumerate(batches):
    g_before = s_static.params["G"]
    (phase,) = phase_args(spec, c, i, 8)
    s_static, m = static(s_static, b, jax.random.key(1), phase=phase)
    s_traced, _ = traced(s_traced, b, jax.random.key(1))
    moved = any(float(jnp.max(jnp.abs(a - b))) > 0 for a, b in zip(
        jax.tree_util.tree_leaves(g_before), jax.tree_util.tree_leaves(s_static.params["G"])))
    assert moved == ((i + 1) % 3 == 0) == phase, i
    assert ("G_loss" in m) == phase  # no G losses are reported without a G update
    for a, b in zip(jax.tree_util.tree_leaves(s_static), jax.tree_util.tree_leaves(s_traced)):
      np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-9, atol=1e-12)
  # D steps every iteration; G's Adam counted one step (iteration 3).
  assert int(s_static.opt_state["D"][1].count) == 4
  assert int(s_static.opt_state["G"][1].count) == 1


def _loop_config(steps):
  return short_run(tiny_stargan_config(32), steps)


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
  return train_straight_and_resumed(_loop_config, tmp_path_factory.mktemp("sg"), 4, 2)


@pytest.mark.slow
def test_resume_equals_uninterrupted(runs):
  assert runs["first_half"] == ["2"]
  assert {"D_loss_gp", "G_loss_rec", "lr_D"} <= set(runs["metrics"])
  assert assert_same_states(runs["straight"], runs["resumed"], _loop_config(4)) > 40


@pytest.mark.slow
def test_sample_grid_shows_every_single_attribute_change(runs):
  files = sorted(os.listdir(os.path.join(runs["straight"], "samples")))
  assert files == ["changes_step_00000004.png"]
  grid = np.asarray(Image.open(os.path.join(runs["straight"], "samples", files[0])))
  grid_body(grid, 2, 1 + 5)  # 2 sources x (source + 5 attribute changes)


@pytest.mark.slow
def test_translate_with_attrs_uses_the_generator_in_training_mode(runs, tmp_path):
  wd = runs["straight"]
  rng = np.random.default_rng(0)
  Image.fromarray(rng.integers(0, 256, (40, 50, 3), dtype=np.uint8)).save(tmp_path / "a.png")
  src = str(tmp_path / "a.png")
  (dark,) = translate_images(wd, src, str(tmp_path / "d"), attrs="Dark=1,Warm_Tint=0")
  changes = translate_images(wd, src, str(tmp_path / "all"))
  assert len(changes) == 5
  read = lambda p: np.asarray(Image.open(p))
  assert read(dark).shape == (32, 32, 3)
  config = _loop_config(4)
  _, state = load_state(wd, config)
  tr = stargan.translator(config, TranslateRequest(attrs="Dark=1,Warm_Tint=0"))
  from i2ijax.data.images import resize
  x = resize(read(src), 32, 32, Image.BILINEAR).astype(np.float32) / 127.5 - 1
  out = np.asarray(tr.apply(tr.params(state), jnp.asarray(x[None])))[0]
  from i2ijax.data.images import to_uint8
  assert np.max(np.abs(read(dark).astype(int) - to_uint8(out))) <= 1
  with pytest.raises(ValueError, match="unknown attribute 'Nope'"):
    translate_images(wd, src, str(tmp_path / "x"), attrs="Nope=1")


def _class_folders(root, classes=("angry", "happy", "sad"), per_class=3, size=40):
  rng = np.random.default_rng(5)
  for k, name in enumerate(classes):
    os.makedirs(root / "train" / name)
    for i in range(per_class):
      img = rng.integers(0, 256, (size, size, 3), dtype=np.uint8)
      img[..., k] = 255  # each class its own colour channel
      Image.fromarray(img).save(root / "train" / name / f"{i}.png")
  return str(root)


def _joint_config(folders, steps=4):
  c = _loop_config(steps)
  c.model.c2_dim = 3
  c.data2.path = folders
  c.data2.center_crop = 36
  return c


def test_joint_training_reads_both_datasets_and_names_a_wrong_class_count(tmp_path):
  folders = _class_folders(tmp_path / "rafd")
  examples, size, shapes = stargan.make_examples(_joint_config(folders))
  assert size == 8 and set(shapes) == {"x", "x2"}  # an epoch is the first dataset's
  seen = set()
  for g in range(9):
    ex = examples(g)
    assert ex["x"].shape == ex["x2"].shape == (32, 32, 3) and ex["label"].shape == (5,)
    assert ex["label2"].sum() == 1
    k = int(np.argmax(ex["label2"]))
    # The class's colour channel is saturated (255 -> 1.0 after the crop and resize).
    assert np.all(ex["x2"][..., k] > 0.99), (g, k)
    seen.add(k)
  assert seen == {0, 1, 2}  # the 9 images of the second dataset in one epoch of its own
  with pytest.raises(ValueError, match=r"config.model.c2_dim=4 .* has 3 classes"):
    c = _joint_config(folders)
    c.model.c2_dim = 4
    stargan.make_examples(c)
  with pytest.raises(ValueError, match=r"config.model.attrs2='a,b,c' .* \['angry', 'happy'"):
    c = _joint_config(folders)
    c.model.attrs2 = "a,b,c"
    stargan.make_examples(c)
  with pytest.raises(ValueError, match=r"config.data2.crop_size"):
    c = _joint_config(folders)
    c.data2.crop_size = 64
    stargan.validate_config(c)


@pytest.mark.slow
def test_joint_training_samples_and_translates_into_both_datasets(tmp_path):
  from i2ijax.train.loop import train_and_evaluate
  folders = _class_folders(tmp_path / "rafd")
  config, wd = _joint_config(folders), str(tmp_path / "run")
  metrics = train_and_evaluate(config, wd)
  # Both datasets ran their D and G updates (n_critic 2: G at iterations 1 and 3).
  assert {"data0_D_loss_cls", "data1_D_loss_cls", "data0_G_loss_rec", "data1_G_loss_rec"} <= set(
      metrics)
  _, state = load_state(wd, config)
  assert int(state.opt_state["D"][1].count) == 8 and int(state.opt_state["G"][1].count) == 4
  grid = np.asarray(Image.open(os.path.join(wd, "samples", "changes_step_00000004.png")))
  grid_body(grid, 2, 1 + 5 + 3)  # source, 5 attribute changes, 3 classes of the second dataset
  rng = np.random.default_rng(0)
  Image.fromarray(rng.integers(0, 256, (32, 32, 3), dtype=np.uint8)).save(tmp_path / "a.png")
  src = str(tmp_path / "a.png")
  assert len(translate_images(wd, src, str(tmp_path / "all"))) == 8
  (happy,) = translate_images(wd, src, str(tmp_path / "happy"), domain=1)
  # --domain is the second dataset's class with its mask vector (0 0 0 0 0 | 0 1 0 | 0 1).
  tr = stargan.translator(config, TranslateRequest(domain=1))
  x = np.asarray(Image.open(src), np.float32)[None] / 127.5 - 1
  G = stargan.build_models(config)["G"]
  cond = jnp.asarray([[0, 0, 0, 0, 0, 0, 1, 0, 0, 1]], jnp.float32)
  want = G.apply({"params": state.params["G"], "batch_stats": state.batch_stats["G"]},
                 jnp.asarray(x), cond, train=True, mutable=["batch_stats"])[0]
  np.testing.assert_allclose(np.asarray(tr.apply(tr.params(state), jnp.asarray(x))),
                             np.asarray(want), atol=1e-5)  # jitted vs not
  from i2ijax.data.images import to_uint8
  assert np.max(np.abs(np.asarray(Image.open(happy)).astype(int) - to_uint8(np.asarray(want)[0]))) <= 1
  with pytest.raises(ValueError, match="domain 3 is out of range: the model has 3 classes in its "
                                       "second dataset"):
    translate_images(wd, src, str(tmp_path / "x"), domain=3)
