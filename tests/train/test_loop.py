"""The train loop end to end: outputs in the workdir, resume == uninterrupted, translate."""

import logging
import os

import jax
import numpy as np
import pytest
from PIL import Image

from i2ijax import checkpoint
from i2ijax.train import cyclegan
from i2ijax.train.loop import train_and_evaluate
from i2ijax.translate import load_state, translate_images
from tests.helpers import (assert_same_states, grid_body, short_run, tiny_cyclegan_config,
                           train_straight_and_resumed)

pytestmark = pytest.mark.slow


def _config(steps):
  c = short_run(tiny_cyclegan_config(32), steps)
  c.model.pool_size = 3  # fills within the first run, so resuming must restore its contents
  return c


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
  """An 8-step run, and a 4-step run resumed to 8 steps."""
  return train_straight_and_resumed(_config, tmp_path_factory.mktemp("loop"), 8, 4)


def _leaves(workdir):
  _, state = load_state(workdir, _config(8))
  return jax.tree_util.tree_leaves_with_path(state), state


def test_workdir_has_checkpoints_events_samples_and_config(runs):
  wd = runs["straight"]
  steps = sorted(int(s) for s in os.listdir(checkpoint.checkpoint_dir(wd)))
  assert steps == [6, 8]  # saved every 2 steps, max_to_keep 2, final save at 8
  assert any(f.startswith("events.out.tfevents") for f in os.listdir(wd))
  samples = sorted(os.listdir(os.path.join(wd, "samples")))
  assert samples == ["step_00000004.png", "step_00000008.png"]
  grid = np.asarray(Image.open(os.path.join(wd, "samples", samples[-1])))
  # 2 rows (A->B->A, B->A->B) x 2 examples, 3 images of 32 px per line, 2 px borders,
  # with the row labels on the left and the column labels on top.
  body = grid_body(grid, 4, 3)
  assert grid.shape[0] > body.shape[0]  # column labels
  assert (body[2:34, 2:34] != 255).any()
  assert os.path.exists(os.path.join(wd, "config.json"))
  assert set(runs["metrics"]) >= {"G_A", "G_B", "D_A", "D_B", "cycle_A", "cycle_B", "idt_A", "lr"}


def test_resume_equals_uninterrupted(runs):
  assert runs["first_half"] == ["2", "4"]
  _, s2 = _leaves(runs["resumed"])
  assert int(s2.step) == 8
  assert int(s2.pool_A.count) == 3
  assert assert_same_states(runs["straight"], runs["resumed"], _config(8)) > 100


def test_rerun_after_the_end_trains_no_further(runs):
  before = sorted(os.listdir(checkpoint.checkpoint_dir(runs["straight"])))
  train_and_evaluate(_config(8), runs["straight"])
  assert sorted(os.listdir(checkpoint.checkpoint_dir(runs["straight"]))) == before


def test_translate_single_folder_odd_sizes_gray_rgba_and_junk(runs, tmp_path, caplog):
  src = tmp_path / "in"
  src.mkdir()
  rng = np.random.default_rng(0)
  Image.fromarray(rng.integers(0, 256, (77, 123, 3), dtype=np.uint8)).save(src / "rgb.jpg")
  Image.fromarray(rng.integers(0, 256, (41, 30), dtype=np.uint8), "L").save(src / "gray.png")
  Image.fromarray(rng.integers(0, 256, (33, 65, 4), dtype=np.uint8), "RGBA").save(src / "rgba.png")
  (src / "notes.txt").write_text("not an image")
  (src / "broken.png").write_bytes(b"\x89PNG broken")
  out = tmp_path / "out"
  with caplog.at_level(logging.WARNING):
    written = translate_images(runs["straight"], str(src), str(out), "AtoB")
  messages = [r.getMessage() for r in caplog.records]
  assert f"{src}/gray.png: converted L to RGB" in messages
  assert f"{src}/rgba.png: converted RGBA to RGB" in messages
  assert any(m.startswith(f"skipping {src}/broken.png") for m in messages)
  assert messages[-1] == f"{src}: 3 usable images, 2 skipped, 2 converted"
  sizes = {os.path.basename(p): Image.open(p).size for p in written}
  assert sizes == {"rgb.png": (123, 77), "gray.png": (30, 41), "rgba.png": (65, 33)}
  for p in written:
    assert Image.open(p).mode == "RGB"
  # The other direction and a single file work too.
  one = translate_images(runs["straight"], str(src / "rgb.jpg"), str(tmp_path / "o2"), "BtoA")
  assert Image.open(one[0]).size == (123, 77)


def test_translate_output_is_the_generators(runs, tmp_path):
  image = np.random.default_rng(1).integers(0, 256, (32, 40, 3), dtype=np.uint8)
  Image.fromarray(image).save(tmp_path / "x.png")
  (path,) = translate_images(runs["straight"], str(tmp_path / "x.png"), str(tmp_path / "o"), "BtoA")
  config = _config(8)
  _, state = load_state(runs["straight"], config)
  g_b = cyclegan.build_models(config)["G_B"]
  y = g_b.apply({"params": state.params["G_B"]}, image[None].astype(np.float32) / 127.5 - 1)[0]
  expected = np.clip(np.round((np.asarray(y) + 1) * 127.5), 0, 255)
  got = np.asarray(Image.open(path), np.float64)
  assert np.max(np.abs(got - expected)) <= 1  # equal up to a rounding step


def test_translate_bad_inputs(runs, tmp_path):
  with pytest.raises(ValueError, match="direction must be one of"):
    translate_images(runs["straight"], str(tmp_path), str(tmp_path / "o"), "AtoC")
  with pytest.raises(FileNotFoundError, match="config.json not found"):
    translate_images(str(tmp_path), str(tmp_path), str(tmp_path / "o"))
  bad = tmp_path / "bad"
  bad.mkdir()
  (bad / "broken.png").write_bytes(b"not an image")
  with pytest.raises(ValueError, match=r"no usable image in .*bad \(1 files: broken.png: "):
    translate_images(runs["straight"], str(bad), str(tmp_path / "o"))
  assert not (tmp_path / "o").exists()  # nothing started
  with pytest.raises(ValueError, match="cannot read image .*broken.png"):
    translate_images(runs["straight"], str(bad / "broken.png"), str(tmp_path / "o"))
