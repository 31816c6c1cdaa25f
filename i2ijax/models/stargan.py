"""StarGAN networks (Choi et al. 2018): the label-conditioned generator and the PatchGAN
discriminator with a domain-classification head.

Mirrors `model.py` of yunjey/stargan, layer for layer in the same order, so
that the official state_dicts map one to one by creation order
(`tests/parity.py:align_by_order`). Images are NHWC in [-1, 1].

Generator(conv_dim 64, c_dim, repeat_num 6): the target label [N, c_dim] is
tiled over the image and concatenated to it (3 + c_dim channels); conv 7x7 ->
IN -> ReLU; two stride-2 4x4 convs (each IN -> ReLU), doubling the width;
`repeat_num` residual blocks [conv3 -> IN -> ReLU -> conv3 -> IN] + x; two
stride-2 4x4 transposed convs (padding 1, each IN -> ReLU), halving it; conv
7x7 -> tanh. No conv has a bias, every conv pads with zeros (the official
comment: label conditioning fails with reflection padding), and every norm is
`RunningInstanceNorm` (affine, with running statistics). 8,430,528
parameters at c_dim 5.

Discriminator(image_size 128, conv_dim 64, c_dim, repeat_num 6): `repeat_num`
4x4 stride-2 convs with bias and LeakyReLU 0.01, doubling the width from
conv_dim (to 2048); a 3x3 source head to one channel (PatchGAN, no bias) and
a classification head whose kernel is the remaining side image_size /
2**repeat_num (no bias), giving logits [N, c_dim]. 44,762,048 parameters at
128 px, c_dim 5.

The official code applies no initialisation of its own: every weight keeps
PyTorch's default (`layers.torch_default_params` re-draws a tree so).
"""

from typing import Any

import flax.linen as nn
import jax.numpy as jnp

from i2ijax.models.layers import Conv2d, ConvTranspose, RunningInstanceNorm, leaky_relu

Dtype = Any


class ResidualBlock(nn.Module):
  """x + IN(conv3(ReLU(IN(conv3(x))))), no conv bias."""

  dtype: Dtype = None
  param_dtype: Dtype = jnp.float32

  @nn.compact
  def __call__(self, x, *, train: bool = True):
    kw = dict(dtype=self.dtype, param_dtype=self.param_dtype)
    c = x.shape[-1]
    h = Conv2d(c, 3, padding=1, use_bias=False, **kw)(x)
    h = nn.relu(RunningInstanceNorm(**kw)(h, use_running_average=not train))
    h = Conv2d(c, 3, padding=1, use_bias=False, **kw)(h)
    h = RunningInstanceNorm(**kw)(h, use_running_average=not train)
    return x + h


class Generator(nn.Module):
  """G(x [N, H, W, 3], c [N, c_dim]) -> [N, H, W, 3] in (-1, 1); H, W multiples of 4.

  `train`: instance statistics (and running-statistic updates when
  `batch_stats` is mutable), as the official code, which never calls
  `.eval()`; False normalises with the running statistics.
  """

  conv_dim: int = 64
  c_dim: int = 5
  repeat_num: int = 6
  dtype: Dtype = None
  param_dtype: Dtype = jnp.float32

  @nn.compact
  def __call__(self, x, c, *, train: bool = True):
    kw = dict(dtype=self.dtype, param_dtype=self.param_dtype)
    if c.shape[-1] != self.c_dim:
      raise ValueError(f"the generator takes labels of {self.c_dim} values, got {c.shape}")
    n, h, w, _ = x.shape
    c = jnp.broadcast_to(c.astype(x.dtype)[:, None, None, :], (n, h, w, self.c_dim))
    y = jnp.concatenate([x, c], axis=-1)

    def norm_relu(y):
      return nn.relu(RunningInstanceNorm(**kw)(y, use_running_average=not train))

    y = norm_relu(Conv2d(self.conv_dim, 7, padding=3, use_bias=False, **kw)(y))
    dim = self.conv_dim
    for _ in range(2):  # down-sampling
      dim *= 2
      y = norm_relu(Conv2d(dim, 4, stride=2, padding=1, use_bias=False, **kw)(y))
    for _ in range(self.repeat_num):  # bottleneck
      y = ResidualBlock(**kw)(y, train=train)
    for _ in range(2):  # up-sampling
      dim //= 2
      y = norm_relu(ConvTranspose(dim, 4, stride=2, padding=1, output_padding=0,
                                  use_bias=False, **kw)(y))
    y = Conv2d(3, 7, padding=3, use_bias=False, **kw)(y)
    return jnp.tanh(y.astype(jnp.promote_types(y.dtype, jnp.float32)))


class Discriminator(nn.Module):
  """D(x [N, S, S, 3]) -> (source logits [N, S / 2**r, S / 2**r, 1], class logits [N, c_dim])
  with S = image_size, r = repeat_num."""

  image_size: int = 128
  conv_dim: int = 64
  c_dim: int = 5
  repeat_num: int = 6
  dtype: Dtype = None
  param_dtype: Dtype = jnp.float32

  @nn.compact
  def __call__(self, x):
    kw = dict(dtype=self.dtype, param_dtype=self.param_dtype)
    if x.shape[1] != self.image_size or x.shape[2] != self.image_size:
      raise ValueError(f"the discriminator takes {self.image_size} x {self.image_size} images "
                       f"(its class head spans the last feature map), got {x.shape[1:3]}")
    h, dim = x, self.conv_dim
    for i in range(self.repeat_num):
      h = leaky_relu(Conv2d(dim, 4, stride=2, padding=1, **kw)(h), 0.01)
      if i < self.repeat_num - 1:
        dim *= 2
    side = self.image_size // 2**self.repeat_num
    out_src = Conv2d(1, 3, padding=1, use_bias=False, **kw)(h)
    out_cls = Conv2d(self.c_dim, side, padding=0, use_bias=False, **kw)(h)
    f32 = lambda a: a.astype(jnp.promote_types(a.dtype, jnp.float32))
    return f32(out_src), f32(out_cls.reshape(out_cls.shape[0], self.c_dim))


def generator_torch_layers(repeat_num: int) -> dict:
  """{our layer path: official module prefix} of `Generator`, in the official order:
  `main` = [conv, IN, ReLU] + 2 x [conv, IN, ReLU] + the residual blocks (each `main` =
  [conv, IN, ReLU, conv, IN]) + 2 x [convT, IN, ReLU] + [conv, tanh]."""
  layers = {("Conv2d_0",): "main.0", ("RunningInstanceNorm_0",): "main.1",
            ("Conv2d_1",): "main.3", ("RunningInstanceNorm_1",): "main.4",
            ("Conv2d_2",): "main.6", ("RunningInstanceNorm_2",): "main.7"}
  for b in range(repeat_num):
    block = f"main.{9 + b}.main"
    layers.update({(f"ResidualBlock_{b}", "Conv2d_0"): f"{block}.0",
                   (f"ResidualBlock_{b}", "RunningInstanceNorm_0"): f"{block}.1",
                   (f"ResidualBlock_{b}", "Conv2d_1"): f"{block}.3",
                   (f"ResidualBlock_{b}", "RunningInstanceNorm_1"): f"{block}.4"})
  up = 9 + repeat_num
  layers.update({("ConvTranspose_0",): f"main.{up}", ("RunningInstanceNorm_3",): f"main.{up + 1}",
                 ("ConvTranspose_1",): f"main.{up + 3}",
                 ("RunningInstanceNorm_4",): f"main.{up + 4}", ("Conv2d_3",): f"main.{up + 6}"})
  return layers


def discriminator_torch_layers(repeat_num: int) -> dict:
  """{our layer path: official module prefix} of `Discriminator`: `main` = repeat_num x
  [conv, LeakyReLU], then the source head `conv1` and the class head `conv2`."""
  layers = {(f"Conv2d_{i}",): f"main.{2 * i}" for i in range(repeat_num)}
  layers.update({(f"Conv2d_{repeat_num}",): "conv1", (f"Conv2d_{repeat_num + 1}",): "conv2"})
  return layers
