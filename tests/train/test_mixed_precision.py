"""model.dtype = "bfloat16": bf16 compute, float32 parameters/optimizer state/losses, same result.

Stated tolerance: trained for 300 steps on the embedded denoising task, the
bf16 model's held-out PSNR is within 0.5 dB and its SSIM within 0.02 of the
float32 model's (measured: 21.67 vs 21.81 dB, 0.656 vs 0.660).
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from i2ijax.evaluate import evaluate_workdir
from i2ijax.train import cyclegan, pix2pix
from i2ijax.train.loop import train_and_evaluate
from tests.helpers import load_config, tiny_cyclegan_config

pytestmark = pytest.mark.slow


def _float_dtypes(tree):
  return {str(x.dtype) for x in jax.tree_util.tree_leaves(tree)
          if jnp.issubdtype(x.dtype, jnp.floating)}


@pytest.mark.parametrize("module", [cyclegan, pix2pix])
def test_state_stays_float32_while_convolutions_run_in_bfloat16(module):
  c = tiny_cyclegan_config(32) if module is cyclegan else load_config("pix2pix", "quickstart")
  if module is pix2pix:
    c.model.ngf = c.model.ndf = 4
    c.model.netG, c.data.load_size, c.data.crop_size = "resnet_6blocks", 36, 32
  c.model.dtype = "bfloat16"
  size = c.data.crop_size
  shapes = {"A": (size, size, 3), "B": (size, size, 3)}
  state = module.create_state(c, jax.random.key(0), shapes, 8)
  batch = {k: jnp.zeros((2, size, size, 3), jnp.float32) for k in "AB"}
  step = module.make_train_step(c, 8)
  jaxpr = str(jax.make_jaxpr(step)(state, batch, jax.random.key(1)))
  assert "conv_general_dilated" in jaxpr and "bf16[" in jaxpr
  new, metrics = jax.jit(step)(state, batch, jax.random.key(1))
  assert _float_dtypes(new) == {"float32"}  # params, batch stats, Adam moments, image pools
  assert {str(v.dtype) for v in metrics.values()} == {"float32"}  # losses in float32
  assert all(np.isfinite(float(v)) for v in metrics.values())


@pytest.mark.quickstart
def test_bfloat16_training_reaches_the_float32_result(tmp_path):
  scores = {}
  for dtype in ("float32", "bfloat16"):
    c = load_config("pix2pix", "quickstart")
    c.model.ngf, c.model.ndf = 8, 8
    c.data.embedded_images, c.num_train_steps, c.model.dtype = 16, 300, dtype
    c.log_every_steps, c.sample_every_steps, c.checkpoint_every_steps = 100, 10**6, 10**6
    train_and_evaluate(c, str(tmp_path / dtype))
    scores[dtype] = evaluate_workdir(str(tmp_path / dtype))["model"]
  assert abs(scores["bfloat16"]["psnr"] - scores["float32"]["psnr"]) < 0.5, scores
  assert abs(scores["bfloat16"]["ssim"] - scores["float32"]["ssim"]) < 0.02, scores
  assert scores["bfloat16"]["psnr"] != scores["float32"]["psnr"]  # the switch took effect
