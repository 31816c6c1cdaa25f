"""Forward parity with the official PyTorch networks.

`tests/fixtures/official_resnet_forward.npz` holds, from the official
junyanz/pytorch-CycleGAN-and-pix2pix code (commit 2a7afba), a small
`resnet_6blocks` generator (ngf 8) and `basic` PatchGAN (ndf 8), both with
instance norm: their state_dicts (official init, random biases), an input batch
(NCHW, 2x3x36x44) and both outputs; `tests/fixtures/make/resnet_forward.py`
writes it. Loading those weights into our modules must give the same outputs,
which pins down padding, the transposed-conv equivalence of output_padding=1,
the norm and the layer order.
"""

import os

import jax.numpy as jnp
import numpy as np

from i2ijax.models.resnet import make_discriminator, make_generator

FIXTURE = os.path.join(os.path.dirname(os.path.dirname(__file__)), "fixtures",
                       "official_resnet_forward.npz")


def _conv(w, b):
  """torch Conv2d weight [out, in, kh, kw] -> flax kernel [kh, kw, in, out]."""
  return {"conv": {"kernel": jnp.asarray(w.transpose(2, 3, 1, 0)), "bias": jnp.asarray(b)}}


def _conv_transpose(w, b):
  """torch ConvTranspose2d weight [in, out, kh, kw] -> our kernel [kh, kw, out, in]."""
  return {"conv": {"kernel": jnp.asarray(w.transpose(2, 3, 1, 0)), "bias": jnp.asarray(b)}}


def _generator_params(f, n_blocks):
  g = lambda i, suffix="": (f[f"G/model.{i}{suffix}.weight"], f[f"G/model.{i}{suffix}.bias"])
  p = {"Conv_0": _conv(*g(1)), "Conv_1": _conv(*g(4)), "Conv_2": _conv(*g(7))}
  for b in range(n_blocks):
    p[f"ResnetBlock_{b}"] = {"Conv_0": _conv(*g(10 + b, ".conv_block.1")),
                             "Conv_1": _conv(*g(10 + b, ".conv_block.5"))}
  up = 10 + n_blocks
  p["ConvTranspose_0"] = _conv_transpose(*g(up))
  p["ConvTranspose_1"] = _conv_transpose(*g(up + 3))
  p["Conv_3"] = _conv(*g(up + 7))
  return p


def _discriminator_params(f):
  d = lambda i: (f[f"D/model.{i}.weight"], f[f"D/model.{i}.bias"])
  return {f"Conv_{k}": _conv(*d(i)) for k, i in enumerate((0, 2, 5, 8, 11))}


def test_resnet_generator_matches_official():
  f = np.load(FIXTURE)
  x = jnp.asarray(f["x"].transpose(0, 2, 3, 1))
  g = make_generator("resnet_6blocks", ngf=8)
  ours = g.apply({"params": _generator_params(f, 6)}, x)
  np.testing.assert_allclose(np.asarray(ours), f["g_out"].transpose(0, 2, 3, 1), atol=2e-5)


def test_patchgan_matches_official():
  f = np.load(FIXTURE)
  x = jnp.asarray(f["x"].transpose(0, 2, 3, 1))
  d = make_discriminator("basic", ndf=8)
  ours = d.apply({"params": _discriminator_params(f)}, x)
  np.testing.assert_allclose(np.asarray(ours), f["d_out"].transpose(0, 2, 3, 1), atol=2e-5)
