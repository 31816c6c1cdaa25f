"""The same train step on 1 device and on 8 (simulated CPU) devices gives the same state.

In float32 the two runs differ by rounding only, but Adam turns the rounding
noise of gradients that are exactly zero in theory (the conv biases just
before an instance norm, as in the official networks) into full-size steps of
random sign. So the state is compared in float64, where that noise stays far
below Adam's epsilon, and the float32 losses are compared too.
"""

import json
import os
import subprocess
import sys

from tests.conftest import ROOT

WORKER = r"""
import json, sys
import jax, jax.numpy as jnp, numpy as np
dtype, n_steps = sys.argv[1], int(sys.argv[2])
jax.config.update("jax_enable_x64", dtype == "float64")
from tests.conftest import tiny_cyclegan_config
from i2ijax.train import cyclegan
from i2ijax.train.loop import StateShardings, compile_model, make_mesh

assert jax.device_count() == 8, jax.devices()
c = tiny_cyclegan_config(32)
c.batch_size = 8
c.model.pool_size = 4   # small, so the swap phase of the pool is exercised too
c.model.param_dtype = dtype
shapes = {"A": (32, 32, 3), "B": (32, 32, 3)}
rng_np = np.random.default_rng(0)
batches = [{k: rng_np.uniform(-1, 1, (8, 32, 32, 3)).astype(dtype) for k in "AB"}
           for _ in range(n_steps)]

def run(devices):
  sh = StateShardings(make_mesh(devices))
  init, step, _ = compile_model(c, cyclegan, 16, shapes, sh)
  state = init(jax.random.key(0))
  rng = jax.device_put(jax.random.key(1), sh.replicated)
  for b in batches:
    gb = sh.global_batch(b)
    assert len(gb["A"].sharding.device_set) == len(devices)
    state, metrics = step(state, gb, rng)
  return jax.device_get(state), jax.device_get(metrics)

s1, m1 = run(jax.devices()[:1])
s8, m8 = run(jax.devices())
diffs = [float(np.max(np.abs(np.asarray(a, np.float64) - np.asarray(b, np.float64))))
         for a, b in zip(jax.tree_util.tree_leaves(s1), jax.tree_util.tree_leaves(s8))]
mdiff = max(abs(float(m1[k]) - float(m8[k])) for k in m1)
pool = lambda s: np.concatenate([np.asarray(s.pool_A.images).ravel(), np.asarray(s.pool_B.images).ravel()])
pdiff = float(np.max(np.abs(pool(s1) - pool(s8))))
print("RESULT " + json.dumps({"max_state_diff": max(diffs), "max_metric_diff": mdiff,
                              "n_leaves": len(diffs), "step": int(s8.step), "max_pool_diff": pdiff}))
"""


def _run_worker(dtype, n_steps):
  env = dict(os.environ, XLA_FLAGS="--xla_force_host_platform_device_count=8",
             JAX_PLATFORMS="cpu", PYTHONPATH=ROOT)
  proc = subprocess.run([sys.executable, "-c", WORKER, dtype, str(n_steps)], cwd=ROOT, env=env,
                        capture_output=True, text=True, timeout=900)
  assert proc.returncode == 0, proc.stderr[-4000:]
  line = [l for l in proc.stdout.splitlines() if l.startswith("RESULT ")][-1]
  return json.loads(line[len("RESULT "):])


def test_one_device_equals_eight_devices_float64_state():
  result = _run_worker("float64", 3)
  assert result["step"] == 3
  assert result["n_leaves"] > 50
  assert result["max_state_diff"] < 1e-5, result
  assert result["max_metric_diff"] < 1e-5, result


def test_one_device_equals_eight_devices_float32_losses():
  result = _run_worker("float32", 1)
  assert result["step"] == 1
  assert result["max_metric_diff"] < 1e-5, result
  assert result["max_pool_diff"] < 1e-5, result  # same draws, fakes equal up to rounding
