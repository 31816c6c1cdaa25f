"""The same train step on 1 device and on 8 (simulated CPU) devices gives the same state.

Every model runs through the same worker (a subprocess with 8 CPU devices). Each model's test
is a class of its own: `--dist loadscope` sends each class, not the whole module, to one
xdist worker, so the models' runs spread over the workers.

In float32 the two runs differ by rounding only, but Adam turns the rounding
noise of gradients that are exactly zero in theory (the conv biases just
before an instance norm, as in the official networks) into full-size steps of
random sign. So the state is compared in float64, where that noise stays far
below Adam's epsilon.
"""

import json
import subprocess
import sys

import pytest

from tests.helpers import ROOT, simulated_devices_env

pytestmark = pytest.mark.slow

WORKER = r"""
import json, sys
import jax, jax.numpy as jnp, numpy as np
model_name, dtype, n_steps = sys.argv[1], sys.argv[2], int(sys.argv[3])
jax.config.update("jax_enable_x64", dtype == "float64")
from tests.helpers import TINY_CONFIGS, random_batch
from i2ijax import registry
from i2ijax.train.loop import StateShardings, compile_model, make_mesh, phase_args

assert jax.device_count() == 8, jax.devices()
c = TINY_CONFIGS[model_name](32)
size = c.data.crop_size  # 32, or the least a model takes
c.batch_size = 8
if model_name == "cyclegan":
  c.model.pool_size = 4   # small, so the swap phase of the pool is exercised too
if model_name == "stargan":
  c.model.n_critic = 1    # iteration 0 updates D and then G: the one phase that has both
c.model.param_dtype = dtype
model = registry.get(model_name)
rng_np = np.random.default_rng(0)
batches = [random_batch(model_name, 8, size, rng_np, dtype) for _ in range(n_steps)]
shapes = {k: v.shape[1:] for k, v in batches[0].items()}

def run(devices, initial):
  sh = StateShardings(make_mesh(devices))
  _, step, _ = compile_model(c, model, 16, shapes, sh)
  state = jax.device_put(initial, sh.replicated)
  rng = jax.device_put(jax.random.key(1), sh.replicated)
  for i, b in enumerate(batches):
    gb = sh.global_batch(b)
    assert all(len(v.sharding.device_set) == len(devices) for v in gb.values())
    state, metrics = step(state, gb, rng, *phase_args(model, c, i, 16))
  return jax.device_get(state), jax.device_get(metrics)

# Both runs start from one initialisation, compiled once (on one device), kept on the host.
init = compile_model(c, model, 16, shapes, StateShardings(make_mesh(jax.devices()[:1])))[0]
initial = jax.device_get(init(jax.random.key(0)))
s1, m1 = run(jax.devices()[:1], initial)
s8, m8 = run(jax.devices(), initial)
diffs = [float(np.max(np.abs(np.asarray(a, np.float64) - np.asarray(b, np.float64))))
         for a, b in zip(jax.tree_util.tree_leaves(s1), jax.tree_util.tree_leaves(s8))]
mdiff = max(abs(float(m1[k]) - float(m8[k])) for k in m1)
result = {"max_state_diff": max(diffs), "max_metric_diff": mdiff, "n_leaves": len(diffs),
          "step": int(s8.step)}
if model_name == "cyclegan":
  pool = lambda s: np.concatenate([np.asarray(s.pool_A.images).ravel(),
                                   np.asarray(s.pool_B.images).ravel()])
  result["max_pool_diff"] = float(np.max(np.abs(pool(s1) - pool(s8))))
print("RESULT " + json.dumps(result))
"""


def run_sharding_worker(model_name, dtype, n_steps, llvm_level=0):
  """{max_state_diff, max_metric_diff, n_leaves, step, ...}: 1 device vs 8, same batches."""
  # Both runs compile in this one process with the same flags: LLVM's level 0 by default
  # (these runs are a few steps of large programs, whose compile time it cuts by about a
  # third); None keeps the session's level 1 (tests/conftest.py), faster where the float64
  # steps' run time outweighs it (CycleGAN: 107 s against 147 s at level 0; MUNIT 118 s
  # against 155 s).
  env = simulated_devices_env(8, llvm_level=llvm_level)
  proc = subprocess.run([sys.executable, "-c", WORKER, model_name, dtype, str(n_steps)],
                        cwd=ROOT, env=env, capture_output=True, text=True, timeout=1800)
  assert proc.returncode == 0, proc.stderr[-4000:]
  line = [l for l in proc.stdout.splitlines() if l.startswith("RESULT ")][-1]
  return json.loads(line[len("RESULT "):])


def assert_one_device_equals_eight(model_name, n_steps, min_leaves, llvm_level=0):
  """Runs the worker in float64 and requires the state and metrics to agree to 1e-5."""
  result = run_sharding_worker(model_name, "float64", n_steps, llvm_level)
  assert result["step"] == n_steps
  assert result["n_leaves"] > min_leaves
  assert result["max_state_diff"] < 1e-5, result
  assert result["max_metric_diff"] < 1e-5, result
  return result


class TestCycleGAN:

  def test_one_device_equals_eight_devices_float64_state(self):
    result = assert_one_device_equals_eight("cyclegan", 3, 50, llvm_level=None)
    assert result["max_pool_diff"] < 1e-5, result  # same pool draws, fakes equal up to rounding


class TestStarGANv2:

  def test_stargan_v2_one_device_equals_eight_devices_float64_state(self):
    # One iteration: 2 D, 2 G, 1 F and 1 E Adam steps, EMA, R1 (a double backward).
    assert_one_device_equals_eight("stargan_v2", 1, 100)


class TestMUNITFamily:

  @pytest.mark.parametrize("model_name", ["munit", "unit"])
  def test_munit_family_one_device_equals_eight_devices_float64_state(self, model_name):
    # Two iterations: D then G updates each, fresh style codes / latent noise per update.
    assert_one_device_equals_eight(model_name, 2, 50, llvm_level=None)


class TestStarGAN:

  def test_stargan_one_device_equals_eight_devices_float64_state(self):
    # One iteration at n_critic 1: the D step, then the G step (the D-only phase is its first
    # half); the label permutation and the penalty's alphas are drawn over the global batch.
    assert_one_device_equals_eight("stargan", 1, 40)


class TestHomoInterpGAN:

  def test_homointerp_one_device_equals_eight_devices_float64_state(self):
    # Iteration 0 of n_discrim 2: the Dec, D and KG steps with E and T (the phase without E
    # and T is its subset); the strengths, reference permutation and penalty alphas are
    # drawn over the global batch.
    assert_one_device_equals_eight("homointerp", 1, 60)


class TestUGATIT:

  def test_ugatit_one_device_equals_eight_devices_float64_state(self):
    # Two iterations: D then G updates, three power iterations of every spectral norm per
    # iteration, the rho clipping.
    assert_one_device_equals_eight("ugatit", 2, 60)


class TestDRIT:

  def test_drit_one_device_equals_eight_devices_float64_state(self):
    # Two full updates (an epoch of two batches ends with full updates): every network's
    # Adam, the split into encoded and random halves of the global batch, the draws.
    assert_one_device_equals_eight("drit", 2, 60)


class TestDiscoGAN:

  def test_discogan_one_device_equals_eight_devices_float64_state(self):
    # Two iterations: a discriminator update, then a generator update (static phases); every
    # batch norm reduces over the global batch.
    assert_one_device_equals_eight("discogan", 2, 60)


class TestFader:

  def test_fader_one_device_equals_eight_devices_float64_state(self):
    # Two iterations: a latent-discriminator step on its own batch (dropout drawn over the
    # global batch, BatchNorm down to 1x1 over the global batch), then the autoencoder step
    # (lambda 0, then half of it); each clipping reads the global norm of its gradients.
    assert_one_device_equals_eight("fader", 2, 40)


class TestDualGAN:

  def test_dualgan_one_device_equals_eight_devices_float64_state(self):
    # Two iterations: the critics' RMSProp step with both gradient penalties (interpolation
    # weights drawn over the global batch), then the generators' against the updated critics.
    assert_one_device_equals_eight("dualgan", 2, 60)


class TestIcGAN:

  def test_icgan_one_device_equals_eight_devices_float64_state(self):
    # Three iterations: two GAN iterations (three D calls with their own BatchNorm statistics
    # over the global batch, the G step through the D step's forward), then the encoder stage
    # (E_z on G(z, y) in eval mode, E_y on the real images).
    assert_one_device_equals_eight("icgan", 3, 100)


class TestFaceAge:

  def test_face_age_one_device_equals_eight_devices_float64_state(self):
    # IcGAN's two stages with one-hot age groups and no wrong-label term: two GAN iterations
    # (D on real and fake, G through D's forward), then both encoders.
    assert_one_device_equals_eight("face_age", 3, 100)


class TestGeneGAN:

  def test_genegan_one_device_equals_eight_devices_float64_state(self):
    # Two library steps: a critic step (clipping first, RMSProp) and a generator step; every
    # one of the ten network calls normalises over the global batch and updates its running
    # averages.
    assert_one_device_equals_eight("genegan", 2, 60)


class TestDTN:

  def test_dtn_one_device_equals_eight_devices_float64_state(self):
    # Two iterations: f's pretraining step, then the DTN step (the ternary D's three calls and
    # g's, every batch norm reducing over the global batch; f frozen).
    assert_one_device_equals_eight("dtn", 2, 40)
