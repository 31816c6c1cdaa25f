"""A run is never lost: SIGTERM, kill -9, corrupt checkpoints, NaN, bad configs."""

import os
import signal
import subprocess
import sys
import time

import jax
import numpy as np
import pytest

from i2ijax import checkpoint
from i2ijax.train.loop import train_and_evaluate
from i2ijax.translate import load_state
from tests.helpers import ROOT, tiny_cyclegan_config

pytestmark = pytest.mark.slow

TINY = ["--config.model.ngf=4", "--config.model.ndf=4", "--config.data.load_size=36",
        "--config.data.crop_size=32", "--config.data.embedded_images=4",
        "--config.log_every_steps=1", "--config.batch_size=2", "--config.num_sample_images=1",
        "--config.sample_every_steps=1000", "--config.model.pool_size=3"]


def _config(steps):
  c = tiny_cyclegan_config(32)
  c.model.ngf, c.model.ndf = 4, 4
  c.data.embedded_images = 4
  c.num_train_steps = steps
  c.log_every_steps = 1
  c.sample_every_steps = 1000
  c.checkpoint_every_steps = 2
  c.num_sample_images = 1
  c.model.pool_size = 3
  return c


def _start(workdir, steps, every):
  env = dict(os.environ, PYTHONPATH=ROOT, JAX_PLATFORMS="cpu", I2IJAX_COMPILATION_CACHE="")
  args = [sys.executable, "-m", "i2ijax.main", "--config=configs/cyclegan.py:quickstart",
          f"--workdir={workdir}", f"--config.num_train_steps={steps}",
          f"--config.checkpoint_every_steps={every}", *TINY]
  return subprocess.Popen(args, cwd=ROOT, env=env, stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, text=True)


def _wait_for(proc, text, timeout=300):
  """Reads the process output until a line contains `text`; returns all lines read."""
  lines, deadline = [], time.time() + timeout
  while time.time() < deadline:
    line = proc.stdout.readline()
    if not line:
      break
    lines.append(line)
    if text in line:
      return lines
  raise AssertionError(f"{text!r} not seen; output tail:\n{''.join(lines[-30:])}")


def _params(workdir, steps):
  _, state = load_state(workdir, _config(steps))
  return jax.tree_util.tree_leaves(jax.device_get(state))


def _assert_same(a, b):
  assert len(a) == len(b)
  for x, y in zip(a, b):
    np.testing.assert_array_equal(np.asarray(x), np.asarray(y))


@pytest.fixture(scope="module")
def straight(tmp_path_factory):
  """An uninterrupted 10-step run, the reference for every interrupted one."""
  wd = str(tmp_path_factory.mktemp("straight"))
  train_and_evaluate(_config(10), wd)
  return wd


def test_sigterm_saves_and_exits_zero_then_resumes(tmp_path, straight):
  wd = str(tmp_path)
  proc = _start(wd, 10, 1000)  # no periodic checkpoint before the signal
  _wait_for(proc, "step 3/10")
  proc.send_signal(signal.SIGTERM)
  out = proc.communicate(timeout=300)[0]
  assert proc.returncode == 0, out[-3000:]
  assert "Stopped by SIGTERM" in out
  saved = [int(s) for s in os.listdir(checkpoint.checkpoint_dir(wd))]
  assert len(saved) == 1 and 3 <= saved[0] < 10
  rerun = _start(wd, 10, 1000)
  out = rerun.communicate(timeout=300)[0]
  assert rerun.returncode == 0, out[-3000:]
  assert f"at step {saved[0]}" in out
  _assert_same(_params(wd, 10), _params(straight, 10))


def test_kill_9_then_restart_equals_uninterrupted(tmp_path, straight):
  wd = str(tmp_path)
  proc = _start(wd, 10, 2)
  _wait_for(proc, "step 5/10")
  proc.kill()  # SIGKILL: no handler runs, a save may be half-written
  proc.communicate(timeout=60)
  rerun = _start(wd, 10, 2)
  out = rerun.communicate(timeout=300)[0]
  assert rerun.returncode == 0, out[-3000:]
  assert "Resumed from" in out
  _assert_same(_params(wd, 10), _params(straight, 10))


def test_corrupt_latest_checkpoint_falls_back_to_the_previous_one(tmp_path, straight):
  wd = str(tmp_path)
  train_and_evaluate(_config(4), wd)  # checkpoints 2 and 4
  for root, _, files in os.walk(os.path.join(checkpoint.checkpoint_dir(wd), "4")):
    for f in files:
      with open(os.path.join(root, f), "wb") as fh:
        fh.write(b"\x00garbage")
  train_and_evaluate(_config(10), wd)
  quarantined = os.listdir(os.path.join(wd, "corrupt_checkpoints"))
  assert len(quarantined) == 1 and quarantined[0].startswith("4-")
  _assert_same(_params(wd, 10), _params(straight, 10))


def test_all_checkpoints_corrupt_is_an_error_not_a_restart(tmp_path):
  wd = str(tmp_path)
  train_and_evaluate(_config(2), wd)
  for root, _, files in os.walk(checkpoint.checkpoint_dir(wd)):
    for f in files:
      with open(os.path.join(root, f), "wb") as fh:
        fh.write(b"x")
  with pytest.raises(RuntimeError, match="no checkpoint in .* can be restored"):
    train_and_evaluate(_config(4), wd)
  assert os.path.isdir(os.path.join(wd, "corrupt_checkpoints", os.listdir(
      os.path.join(wd, "corrupt_checkpoints"))[0]))  # moved aside, not deleted


def test_nan_stops_with_the_step_and_term_and_keeps_the_last_good_checkpoint(tmp_path):
  wd = str(tmp_path)
  train_and_evaluate(_config(2), wd)
  c = _config(6)
  c.optimizer.lr = float("nan")  # the first update after resuming poisons the parameters
  with pytest.raises(FloatingPointError, match=r"non-finite value at step 3: .*G_param_norm=nan"):
    train_and_evaluate(c, wd)
  assert sorted(os.listdir(checkpoint.checkpoint_dir(wd))) == ["2"]
  # The kept checkpoint is finite.
  assert all(np.all(np.isfinite(x)) for x in _params(wd, 2) if np.issubdtype(
      np.asarray(x).dtype, np.floating))


@pytest.mark.parametrize("key,value,message", [
    ("data.crop_size", 48, "config.data.crop_size=48 is larger than config.data.load_size=36"),
    ("data.crop_size", 30, "config.data.crop_size=30 must be a multiple of 4"),
    ("model.gan_mode", "ls", "config.model.gan_mode='ls' is not one of"),
    ("model.pool_size", -1, "config.model.pool_size=-1 must be >= 0"),
    ("data.preprocess", "zoom", "config.data.preprocess='zoom' is not one of"),
])
def test_bad_config_fails_before_any_work(tmp_path, key, value, message):
  c = _config(2)
  section, name = key.split(".")
  c[section][name] = value
  if key == "data.crop_size" and value == 30:
    c.data.load_size = 36
  with pytest.raises(ValueError, match=message.replace("[", r"\[")):
    train_and_evaluate(c, str(tmp_path / "wd"))
  assert not os.path.exists(tmp_path / "wd")


def test_unknown_or_mistyped_override_is_rejected(tmp_path):
  env = dict(os.environ, PYTHONPATH=ROOT, JAX_PLATFORMS="cpu", I2IJAX_COMPILATION_CACHE="")
  for flag, text in (("--config.model.ngff=4", "ngff"),
                     ("--config.model.ngf=wide", "ngf")):
    proc = subprocess.run([sys.executable, "-m", "i2ijax.main",
                           "--config=configs/cyclegan.py:quickstart", f"--workdir={tmp_path}",
                           flag], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode != 0 and text in proc.stderr
  assert not os.listdir(tmp_path)


def test_restore_templates_leave_out_initialisation_weight_files():
  """`checkpoint.template_config`: the weight files a model only initialises from
  (`ModelSpec.init_files`) are cleared in a copy; other models' configs pass unchanged."""
  from i2ijax import registry
  from tests.helpers import load_config
  hi = load_config("homointerp")
  assert registry.get("homointerp").init_files == ("model.vgg_path", "model.decoder_path")
  assert checkpoint.template_config(registry.get("homointerp"), hi) is hi  # nothing set
  hi.model.vgg_path, hi.model.decoder_path = "/moved/vgg19.pth", "/moved/decoder.pth"
  template = checkpoint.template_config(registry.get("homointerp"), hi)
  assert (template.model.vgg_path, template.model.decoder_path) == ("", "")
  assert hi.model.vgg_path == "/moved/vgg19.pth"  # the run's own config is untouched
  del hi.model["decoder_path"]  # a config written before the key
  assert checkpoint.template_config(registry.get("homointerp"), hi).model.vgg_path == ""
  cg = tiny_cyclegan_config()
  assert checkpoint.template_config(registry.get("cyclegan"), cg) is cg
