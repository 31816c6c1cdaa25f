"""evaluate: the small quickstart beats the trivial baseline; folder scoring; clear errors."""

import json
import os

import numpy as np
import pytest
from PIL import Image
from skimage.metrics import peak_signal_noise_ratio

from i2ijax.evaluate import evaluate_folders, evaluate_workdir
from i2ijax.train.loop import train_and_evaluate
from tests.conftest import load_config


def test_small_quickstart_beats_the_noisy_input_on_held_out_photos(tmp_path):
  """The pix2pix quickstart network on 16 training crops for 400 steps (the full
  quickstart: 64 crops, 2,400 steps) must restore the held-out photos better
  than the trivial baseline, the noisy input itself, in both PSNR and SSIM."""
  c = load_config("pix2pix", "quickstart")
  c.data.embedded_images = 16
  c.num_train_steps = 400
  c.log_every_steps, c.sample_every_steps, c.checkpoint_every_steps = 200, 10**6, 10**6
  wd = str(tmp_path / "wd")
  train_and_evaluate(c, wd)
  report = evaluate_workdir(wd)
  model, baseline = report["model"], report["baseline_input"]
  assert report["images"] == 4 and report["step"] == 400
  assert model["psnr"] > baseline["psnr"] + 0.5, report
  assert model["ssim"] > baseline["ssim"] + 0.1, report
  with open(os.path.join(wd, "eval", "test_step400.json")) as f:
    assert json.load(f)["model"]["psnr"] == model["psnr"]


def _save(path, array):
  os.makedirs(os.path.dirname(path), exist_ok=True)
  Image.fromarray(array).save(path)


def test_folders_are_matched_by_name_and_scored(tmp_path):
  rng = np.random.default_rng(0)
  truth = rng.integers(0, 256, (2, 24, 24, 3), dtype=np.uint8)
  expected = []
  for i, t in enumerate(truth):
    _save(str(tmp_path / "ref" / f"{i}.png"), t)
    _save(str(tmp_path / "out" / f"{i}.png"), t)  # a perfect translation
    noisy = np.clip(t.astype(int) + rng.integers(-30, 31, t.shape), 0, 255).astype(np.uint8)
    _save(str(tmp_path / "base" / f"{i}.png"), noisy)
    expected.append(peak_signal_noise_ratio(t, noisy, data_range=255))
  r = evaluate_folders(str(tmp_path / "out"), str(tmp_path / "ref"), str(tmp_path / "base"))
  assert r["images"] == 2 and np.isinf(r["model"]["psnr"]) and r["model"]["ssim"] == pytest.approx(1)
  assert r["baseline_input"]["psnr"] == pytest.approx(np.mean(expected), rel=1e-5)
  assert r["baseline_input"]["ssim"] < 0.99
  _save(str(tmp_path / "out" / "extra.png"), truth[0])
  with pytest.raises(ValueError, match=r"out \(--input\) has images the other folders lack: \['extra'\]"):
    evaluate_folders(str(tmp_path / "out"), str(tmp_path / "ref"))


def test_unpaired_model_is_refused_with_a_pointer(tmp_path):
  c = load_config("cyclegan", "quickstart")
  (tmp_path / "config.json").write_text(c.to_json())
  with pytest.raises(ValueError, match="unpaired data.*--input/--reference"):
    evaluate_workdir(str(tmp_path))
