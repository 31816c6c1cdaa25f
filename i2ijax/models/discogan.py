"""DiscoGAN networks (Kim et al. 2017): the 64 px encoder-decoder generator and the
discriminator that also returns its intermediate features.

Mirrors `discogan/model.py` of SKTBrain/DiscoGAN (commit f044178) layer for
layer in the same order, so that the official state_dicts map one to one by
creation order (`tests/parity.py:align_by_order`). Images are NHWC in
**[0, 1]** (the official data are pixel / 255 and the generator ends in a
sigmoid); the train step converts the library's [-1, 1] batches.

Generator (`extra_layers=False`, the one the official script builds): an
encoder of four 4x4 stride-2 convs (padding 1) from `ngf` doubling to
8 ngf, LeakyReLU 0.2 after each, batch norm from the second on; a decoder
of four 4x4 stride-2 transposed convs (padding 1) back to 3 channels, batch
norm and ReLU after the first three, sigmoid at the end. No layer has a
bias. 5,513,856 parameters at ngf 64.

Discriminator: the same four convs (ndf 64, no bias, LeakyReLU 0.2, batch
norm from the second), then a 4x4 conv to one channel without padding: at
64 px one logit per image. It returns (logits [N, 1, 1, 1], [f2, f3, f4]),
the activations after the 2nd, 3rd and 4th LeakyReLU, used by the feature
matching loss. The official module returns sigmoid(logits); the losses here
take the logits (`losses.clamped_bce_with_logits` reproduces BCELoss on the
probabilities exactly). 2,765,568 parameters at ndf 64.

Outputs are float32 at least (mixed precision computes the layers in bfloat16).
Batch norm is PyTorch's BatchNorm2d (`layers.TorchBatchNorm`: unbiased running
variance, momentum 0.1). The official code applies no initialisation of its
own: the train step's `create_state` re-draws the trees as PyTorch's defaults
(`layers.torch_default_params`).
"""

from typing import Any

import flax.linen as nn
import jax.numpy as jnp

from i2ijax.models.layers import (Conv2d, ConvTranspose, TorchBatchNorm, at_least_float32,
                                  leaky_relu)

Dtype = Any


class _Encoder(nn.Module):
  """Four 4x4 stride-2 convs (no bias): conv -> LReLU, then 3 x (conv -> BN -> LReLU),
  from `width` doubling to 8 width. Returns the activations after each LeakyReLU."""

  width: int
  dtype: Dtype = None
  param_dtype: Dtype = jnp.float32

  @nn.compact
  def __call__(self, x, *, train: bool):
    kw = dict(dtype=self.dtype, param_dtype=self.param_dtype)
    outs = []
    for i in range(4):
      x = Conv2d(self.width * 2 ** i, 4, 2, 1, use_bias=False, **kw)(x)
      if i:
        x = TorchBatchNorm(**kw)(x, use_running_average=not train)
      x = leaky_relu(x, 0.2)
      outs.append(x)
    return outs


class Generator(nn.Module):
  """G(x [N, H, W, 3] in [0, 1]) -> [N, H, W, 3] in (0, 1); H, W multiples of 16.

  `train`: batch statistics (and running-average updates when `batch_stats`
  is mutable), as the official code, which never calls `.eval()`; False reads
  the running averages.
  """

  ngf: int = 64
  out_channels: int = 3
  dtype: Dtype = None
  param_dtype: Dtype = jnp.float32

  @nn.compact
  def __call__(self, x, *, train: bool = True):
    kw = dict(dtype=self.dtype, param_dtype=self.param_dtype)
    if x.shape[1] % 16 or x.shape[2] % 16:
      raise ValueError(f"the DiscoGAN generator takes sides that are multiples of 16, got "
                       f"{x.shape[1:3]}")
    y = _Encoder(self.ngf, **kw)(x, train=train)[-1]
    for i in (2, 1, 0):
      y = ConvTranspose(self.ngf * 2 ** i, 4, 2, 1, 0, use_bias=False, **kw)(y)
      y = nn.relu(TorchBatchNorm(**kw)(y, use_running_average=not train))
    y = ConvTranspose(self.out_channels, 4, 2, 1, 0, use_bias=False, **kw)(y)
    return nn.sigmoid(at_least_float32(y))


class Discriminator(nn.Module):
  """D(x [N, 64, 64, 3] in [0, 1]) -> (logits [N, 1, 1, 1], [f2, f3, f4] features).

  Other sides give a map of logits ((side / 16) - 3 per side); the official
  losses assume 64 px (one logit per image).
  """

  ndf: int = 64
  dtype: Dtype = None
  param_dtype: Dtype = jnp.float32

  @nn.compact
  def __call__(self, x, *, train: bool = True):
    kw = dict(dtype=self.dtype, param_dtype=self.param_dtype)
    feats = _Encoder(self.ndf, **kw)(x, train=train)
    logits = Conv2d(1, 4, 1, 0, use_bias=False, **kw)(feats[-1])
    return at_least_float32(logits), [at_least_float32(f) for f in feats[1:]]
