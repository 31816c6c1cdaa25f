"""Multi-host: 2 processes x 2 CPU devices (jax.distributed + gloo) == 1 process x 4 devices.

Both runs go through the real entry point (`python -m i2ijax.main`), each
process reading only its half of every batch. The state is float64 (see
test_sharding.py for why float32 is compared by loss only).
"""

import glob
import os
import socket
import subprocess
import sys

import jax
import numpy as np
import pytest

from i2ijax.translate import load_config, load_state
from tests.helpers import ROOT, simulated_devices_env

pytestmark = pytest.mark.slow

OVERRIDES = [
    "--config=configs/cyclegan.py:quickstart", "--config.model.netG=resnet_6blocks",
    "--config.model.ngf=8", "--config.model.ndf=8", "--config.data.load_size=36",
    "--config.data.crop_size=32", "--config.data.embedded_images=8", "--config.batch_size=4",
    "--config.num_train_steps=3", "--config.checkpoint_every_steps=2",
    "--config.model.param_dtype=float64", "--config.log_every_steps=1",
]


def _launch(workdir, devices, extra=()):
  # The three processes compare only with each other: LLVM level 0 for all of them (119 s
  # against 132 s at the session's level 1).
  env = simulated_devices_env(devices, llvm_level=0, I2IJAX_COMPILATION_CACHE="",
                              JAX_ENABLE_X64="1")
  return subprocess.Popen([sys.executable, "-m", "i2ijax.main", *OVERRIDES, f"--workdir={workdir}",
                           *extra], cwd=ROOT, env=env, stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, text=True)


def _free_port():
  with socket.socket() as s:
    s.bind(("localhost", 0))
    return s.getsockname()[1]


def _state(workdir):
  with jax.enable_x64(True):
    return jax.device_get(load_state(workdir, load_config(workdir))[1])


def test_two_processes_of_two_devices_equal_one_process_of_four(tmp_path):
  single, multi = str(tmp_path / "single"), str(tmp_path / "multi")
  address = f"localhost:{_free_port()}"
  procs = [_launch(single, 4)] + [
      _launch(multi, 2, [f"--coordinator_address={address}", "--num_processes=2",
                         f"--process_id={i}"]) for i in range(2)]
  outputs = [p.communicate(timeout=600)[0] for p in procs]
  for p, out in zip(procs, outputs):
    assert p.returncode == 0, out[-4000:]
  assert "process 1/2" in outputs[2] and "Training cyclegan for 3 steps" in outputs[2]
  assert "(8 examples per epoch, batch 4, 4 devices)" in outputs[1]
  # Process 0 alone writes the TensorBoard events, the config and the sample PNGs.
  assert len(glob.glob(os.path.join(multi, "events.out.tfevents.*"))) == 1
  assert sorted(os.listdir(os.path.join(multi, "checkpoints"))) == ["2", "3"]
  a, b = _state(single), _state(multi)
  leaves_a, leaves_b = jax.tree_util.tree_leaves(a), jax.tree_util.tree_leaves(b)
  assert int(b.step) == 3 and len(leaves_a) == len(leaves_b) > 100
  assert any(x.dtype == np.float64 for x in leaves_a)
  diff = max(float(np.max(np.abs(np.asarray(x, np.float64) - np.asarray(y, np.float64))))
             for x, y in zip(leaves_a, leaves_b))
  assert diff < 1e-8, diff
