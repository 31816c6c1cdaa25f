"""U-GAT-IT: presets, schedule, losses by hand, rho clipping, heatmaps, loop, resume, translate.

The update order (D first, then G against the updated D; three power iterations per D and
iteration; rho clipped after the G update) is checked against the official code in
tests/train/test_ugatit_parity.py."""

import os

import jax.numpy as jnp
import numpy as np
import pytest
from PIL import Image

from i2ijax import losses
from i2ijax.train import ugatit
from i2ijax.translate import translate_images
from tests.helpers import (assert_same_states, grid_body, load_config, short_run,
                           tiny_ugatit_config, train_straight_and_resumed)


def test_presets_and_bad_values_are_named():
  light = load_config("ugatit", "light")
  assert light.model.light and light.data.crop_size == 256
  q = load_config("ugatit", "quickstart")
  ugatit.validate_config(q)
  assert (q.data.source, q.data.crop_size, q.model.light, q.model.n_layers_global) == (
      "embedded", 64, True, 6)
  with pytest.raises(ValueError, match="unknown ugatit preset"):
    load_config("ugatit", "selfie2anime_v2")
  c = load_config("ugatit", "quickstart")
  c.model.n_layers_global = 7
  with pytest.raises(ValueError, match=r"config.data.crop_size=64 is too small for "
                                       r"config.model.n_layers_global=7"):
    ugatit.validate_config(c)
  c = load_config("ugatit", "quickstart")
  c.optimizer.lr_policy = "linear"
  with pytest.raises(ValueError, match=r"config.optimizer.lr_policy='linear'"):
    ugatit.validate_config(c)
  c = load_config("ugatit", "quickstart")
  c.data.crop_size = 62
  with pytest.raises(ValueError, match=r"config.data.crop_size=62 must be a multiple of 4"):
    ugatit.validate_config(c)
  c = load_config("ugatit", "quickstart")
  c.model.cam_weight = -1.0
  with pytest.raises(ValueError, match=r"config.model.cam_weight=-1.0 must be >= 0"):
    ugatit.validate_config(c)


def test_official_schedule_subtracts_lr_over_half_before_each_late_iteration():
  c = load_config("ugatit", "quickstart")
  c.num_train_steps, c.optimizer.lr = 10, 1e-4
  sched = ugatit.learning_rate_schedule(c)
  lr, expected = 1e-4, []
  for step in range(1, 11):  # the official loop, before each iteration
    if step > 10 // 2:
      lr -= 1e-4 / (10 // 2)
    expected.append(lr)
  np.testing.assert_allclose([float(sched(t)) for t in range(10)], expected, rtol=1e-6,
                             atol=1e-12)
  assert float(sched(9)) == pytest.approx(0.0, abs=1e-12)  # 0 at the last iteration
  c.num_train_steps = 5  # odd: the official last rate is negative
  assert float(ugatit.learning_rate_schedule(c)(4)) == pytest.approx(-1e-4 / 2)
  c.optimizer.lr_policy = "constant"
  assert float(ugatit.learning_rate_schedule(c)(4)) == pytest.approx(1e-4)


def test_cam_loss_by_hand():
  source = jnp.array([[0.0, 2.0]])  # target 1: -log s(0) = log 2, -log s(2) = log(1 + e^-2)
  target = jnp.array([[-1.0, 3.0]])  # target 0: -log(1 - s(x)) = log(1 + e^x)
  want = (np.log(2) + np.log1p(np.exp(-2))) / 2 + (np.log1p(np.exp(-1)) + np.log1p(np.exp(3))) / 2
  assert float(losses.cam_loss(source, target)) == pytest.approx(want, rel=1e-6)


def test_rho_is_clipped_to_the_unit_interval_and_nothing_else():
  params = {"UpBlock1_1": {"norm1": {"rho": jnp.array([-0.5, 0.25, 1.5])},
                           "conv1": {"conv": {"kernel": jnp.array([-2.0, 2.0])}}},
            "UpBlock2_3": {"rho": jnp.array([2.0]), "gamma": jnp.array([-3.0])}}
  out = ugatit.clip_rho(params)
  np.testing.assert_array_equal(out["UpBlock1_1"]["norm1"]["rho"], [0.0, 0.25, 1.0])
  np.testing.assert_array_equal(out["UpBlock2_3"]["rho"], [1.0])
  np.testing.assert_array_equal(out["UpBlock1_1"]["conv1"]["conv"]["kernel"], [-2.0, 2.0])
  np.testing.assert_array_equal(out["UpBlock2_3"]["gamma"], [-3.0])


def test_heatmap_colours_run_from_blue_to_red():
  heat = jnp.array([0.0, 1.0, 2.0, 4.0]).reshape(1, 2, 2, 1)
  rgb = np.asarray(ugatit.heatmap_colours(heat, 2))
  assert rgb.shape == (1, 2, 2, 3)
  np.testing.assert_allclose((rgb[0, 0, 0] + 1) / 2, [0.0, 0.0, 0.5], atol=1e-6)  # min: dark blue
  np.testing.assert_allclose((rgb[0, 1, 1] + 1) / 2, [0.5, 0.0, 0.0], atol=1e-6)  # max: dark red


def _loop_config(steps):
  """A `steps`-step run. The official decay depends on the total length (which the resume
  helper varies), so these runs keep a constant rate; `learning_rate_schedule` is tested above
  and in the parity test."""
  c = short_run(tiny_ugatit_config(), steps)
  c.optimizer.lr_policy = "constant"
  return c


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
  return train_straight_and_resumed(_loop_config, tmp_path_factory.mktemp("ugatit"), 4, 2)


@pytest.mark.slow
def test_resume_equals_uninterrupted(runs):
  assert runs["first_half"] == ["2"]
  assert assert_same_states(runs["straight"], runs["resumed"], _loop_config(4)) > 60


@pytest.mark.slow
def test_sample_grid_has_the_official_seven_columns(runs):
  png = os.path.join(runs["straight"], "samples", "step_00000004.png")
  body = grid_body(np.asarray(Image.open(png)), rows=4, cols=7)  # 2 images x (A, B lines)
  assert body.std() > 0


@pytest.mark.slow
def test_translate_writes_images_and_attention_heatmaps(runs, tmp_path):
  src = tmp_path / "in"
  src.mkdir()
  rng = np.random.default_rng(0)
  Image.fromarray(rng.integers(0, 256, (40, 50, 3), np.uint8)).save(src / "x.png")
  written = translate_images(runs["straight"], str(src), str(tmp_path / "out"),
                             direction="BtoA")
  assert sorted(os.path.basename(p) for p in written) == ["x.png", "x_heatmap.png"]
  image, heat = (np.asarray(Image.open(p)) for p in sorted(written))
  assert image.shape == heat.shape == (32, 32, 3)  # resized to crop_size, as the official test
  assert heat[..., 1].max() > 0  # jet colours


@pytest.mark.slow
def test_evaluate_scores_day_to_night_and_saves_heatmaps_in_its_grids(runs):
  from i2ijax.evaluate import evaluate_workdir
  report = evaluate_workdir(runs["straight"], save_images=True)
  task = report["tasks"]["AtoB"]
  assert {"psnr", "ssim"} <= set(task["model"]) and {"psnr", "ssim"} <= set(task["baseline_input"])
  folder = os.path.join(runs["straight"], "eval", "test_step4", "AtoB")
  grid = np.asarray(Image.open(os.path.join(folder, sorted(os.listdir(folder))[0])))
  assert grid.shape[1] >= 4 * 32 > grid.shape[0]  # input | translation | heatmap | truth
