"""The command line entry point, as the README runs it (shrunk to seconds)."""

import os
import subprocess
import sys

import pytest

from tests.helpers import ROOT

TINY = ["--config.num_train_steps=2", "--config.model.ngf=4", "--config.model.ndf=4",
        "--config.data.load_size=36", "--config.data.crop_size=32",
        "--config.data.embedded_images=4", "--config.log_every_steps=1",
        "--config.batch_size=2", "--config.num_sample_images=1"]


def _main(*args, cache_dir=""):
  env = dict(os.environ, PYTHONPATH=ROOT, JAX_PLATFORMS="cpu", I2IJAX_COMPILATION_CACHE=cache_dir)
  return subprocess.run([sys.executable, "-m", "i2ijax.main", *args], cwd=ROOT, env=env,
                        capture_output=True, text=True, timeout=600)


@pytest.mark.slow
def test_main_trains_and_writes_the_workdir(tmp_path):
  wd, cache = str(tmp_path / "wd"), str(tmp_path / "xla")
  proc = _main("--config=configs/cyclegan.py:quickstart", f"--workdir={wd}", *TINY,
               cache_dir=cache)
  assert proc.returncode == 0, proc.stderr[-3000:]
  assert "step 2/2" in proc.stderr and "steps/s" in proc.stderr and "ETA" in proc.stderr
  assert sorted(os.listdir(os.path.join(wd, "checkpoints"))) == ["2"]
  assert os.listdir(os.path.join(wd, "samples")) == ["step_00000002.png"]
  # The closing line names the outputs and the next commands; compiled programs were cached.
  assert f"Done at step 2. Samples: {wd}/samples/" in proc.stderr
  assert f"python -m i2ijax.translate --workdir={wd}" in proc.stderr
  assert f"python -m i2ijax.evaluate --workdir={wd}" in proc.stderr
  assert os.listdir(cache)
  # TensorFlow's and JAX's start-up banners are not shown.
  assert "oneDNN" not in proc.stderr and "Unable to initialize backend" not in proc.stderr


def test_main_rejects_bad_config_values_by_name(tmp_path):
  proc = _main("--config=configs/cyclegan.py:quickstart", f"--workdir={tmp_path}",
               *TINY, "--config.model.netG=resnet_99blocks")
  assert proc.returncode != 0
  assert "config.model.netG='resnet_99blocks' is not one of" in proc.stderr
  proc = _main("--config=configs/cyclegan.py:quickstart", f"--workdir={tmp_path}",
               *TINY, "--config.data.source=web")
  assert proc.returncode != 0 and "config.data.source must be" in proc.stderr
