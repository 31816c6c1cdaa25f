"""ResNet generator and PatchGAN / PixelGAN discriminators.

Mirrors junyanz/pytorch-CycleGAN-and-pix2pix `models/networks.py`
(`ResnetGenerator`, `ResnetBlock`, `NLayerDiscriminator`, `PixelDiscriminator`,
`define_G`, `define_D`). Inputs are NHWC in [-1, 1]; the generator ends in tanh.
Parameter counts equal the official ones (see tests/models/test_resnet.py).
"""

from typing import Any

import flax.linen as nn
import jax.numpy as jnp

from i2ijax.models.layers import (Conv, ConvTranspose, Norm, conv_bias_for, leaky_relu,
                                  upsample_nearest)
from i2ijax.models.unet import UnetGenerator, unet_torch_layers

Dtype = Any


class ResnetBlock(nn.Module):
  """x + [pad1, conv3, norm, ReLU, (dropout 0.5), pad1, conv3, norm](x)."""

  features: int
  norm: str = "instance"
  use_dropout: bool = False
  pad_mode: str = "reflect"
  dtype: Dtype = None  # computation dtype; None: that of the inputs and parameters
  param_dtype: Dtype = jnp.float32

  @nn.compact
  def __call__(self, x, train: bool = True):
    bias = conv_bias_for(self.norm)
    y = Conv(self.features, 3, padding=1, pad_mode=self.pad_mode, use_bias=bias,
             dtype=self.dtype, param_dtype=self.param_dtype)(x)
    y = nn.relu(Norm(self.norm, dtype=self.dtype, param_dtype=self.param_dtype)(y, use_running_average=not train))
    if self.use_dropout:
      y = nn.Dropout(0.5, deterministic=not train)(y)
    y = Conv(self.features, 3, padding=1, pad_mode=self.pad_mode, use_bias=bias,
             dtype=self.dtype, param_dtype=self.param_dtype)(y)
    y = Norm(self.norm, dtype=self.dtype, param_dtype=self.param_dtype)(y, use_running_average=not train)
    return x + y


class ResnetGenerator(nn.Module):
  """Johnson et al. style ResNet generator (CycleGAN default: 9 blocks).

  reflect-pad 3, conv7 -> 2 x (conv3 stride 2) -> n_blocks ResnetBlocks ->
  2 x ConvTranspose3 (stride 2, output_padding 1) -> reflect-pad 3, conv7 ->
  tanh. Input sides must be multiples of 4.

  Attributes:
    output_nc: output channels.
    ngf: width of the first layer.
    n_blocks: residual blocks (9 for `resnet_9blocks`, 6 for `resnet_6blocks`).
    norm: 'instance' | 'batch' | 'none'.
    use_dropout: dropout 0.5 inside the residual blocks (off for CycleGAN).
    upsample: 'transpose' (the official ConvTranspose2d) or 'resize_conv'
      (nearest-neighbour x2, then a 3x3 zero-padded conv: Odena et al. 2016,
      "Deconvolution and Checkerboard Artifacts"); same parameter count.
    remat: recompute each residual block's activations in the backward pass
      instead of keeping them (`nn.remat`): less memory for large images or
      batches, one extra block forward of compute. Same parameters (names
      included) and same results as without.
  """

  output_nc: int = 3
  ngf: int = 64
  n_blocks: int = 9
  norm: str = "instance"
  use_dropout: bool = False
  dtype: Dtype = None  # computation dtype; None: that of the inputs and parameters
  param_dtype: Dtype = jnp.float32
  remat: bool = False
  upsample: str = "transpose"

  @nn.compact
  def __call__(self, x, *, train: bool = True):
    """[N, H, W, C] in [-1, 1] -> [N, H, W, output_nc] in [-1, 1]."""
    bias = conv_bias_for(self.norm)
    ura = not train
    x = Conv(self.ngf, 7, padding=3, pad_mode="reflect", use_bias=bias, dtype=self.dtype, param_dtype=self.param_dtype)(x)
    x = nn.relu(Norm(self.norm, dtype=self.dtype, param_dtype=self.param_dtype)(x, use_running_average=ura))
    for i in range(2):
      x = Conv(self.ngf * 2 ** (i + 1), 3, stride=2, padding=1, use_bias=bias,
               dtype=self.dtype, param_dtype=self.param_dtype)(x)
      x = nn.relu(Norm(self.norm, dtype=self.dtype, param_dtype=self.param_dtype)(x, use_running_average=ura))
    block = nn.remat(ResnetBlock, static_argnums=(2,)) if self.remat else ResnetBlock
    for i in range(self.n_blocks):
      x = block(self.ngf * 4, self.norm, self.use_dropout, dtype=self.dtype,
                param_dtype=self.param_dtype, name=f"ResnetBlock_{i}")(x, train)
    for i in range(2):
      features = self.ngf * 2 ** (1 - i)
      if self.upsample == "transpose":
        x = ConvTranspose(features, 3, stride=2, padding=1, output_padding=1,
                          use_bias=bias, dtype=self.dtype, param_dtype=self.param_dtype)(x)
      else:
        x = upsample_nearest(x)
        x = Conv(features, 3, padding=1, use_bias=bias, dtype=self.dtype,
                 param_dtype=self.param_dtype)(x)
      x = nn.relu(Norm(self.norm, dtype=self.dtype, param_dtype=self.param_dtype)(x, use_running_average=ura))
    x = Conv(self.output_nc, 7, padding=3, pad_mode="reflect", use_bias=True, dtype=self.dtype, param_dtype=self.param_dtype)(x)
    return jnp.tanh(x.astype(jnp.promote_types(x.dtype, jnp.float32)))


class NLayerDiscriminator(nn.Module):
  """PatchGAN: n_layers stride-2 convs, one stride-1 conv, a 1-channel conv.

  With n_layers 3 each output logit sees a 70x70 patch (30x30 logits at 256 px).
  Kernel 4, padding 1, LeakyReLU 0.2, no norm on the first layer, no sigmoid.
  """

  ndf: int = 64
  n_layers: int = 3
  norm: str = "instance"
  dtype: Dtype = None  # computation dtype; None: that of the inputs and parameters
  param_dtype: Dtype = jnp.float32

  @nn.compact
  def __call__(self, x, *, train: bool = True):
    """[N, H, W, C] -> patch logits [N, H', W', 1]."""
    bias = conv_bias_for(self.norm)
    x = leaky_relu(Conv(self.ndf, 4, stride=2, padding=1, dtype=self.dtype, param_dtype=self.param_dtype)(x))
    for n in range(1, self.n_layers + 1):
      stride = 2 if n < self.n_layers else 1
      x = Conv(self.ndf * min(2**n, 8), 4, stride=stride, padding=1, use_bias=bias,
               dtype=self.dtype, param_dtype=self.param_dtype)(x)
      x = leaky_relu(Norm(self.norm, dtype=self.dtype, param_dtype=self.param_dtype)(x, use_running_average=not train))
    x = Conv(1, 4, stride=1, padding=1, dtype=self.dtype, param_dtype=self.param_dtype)(x)
    return x.astype(jnp.promote_types(x.dtype, jnp.float32))


class PixelDiscriminator(nn.Module):
  """1x1 PixelGAN: conv1 -> LReLU -> conv1 -> norm -> LReLU -> conv1 (one logit per pixel)."""

  ndf: int = 64
  norm: str = "instance"
  dtype: Dtype = None  # computation dtype; None: that of the inputs and parameters
  param_dtype: Dtype = jnp.float32

  @nn.compact
  def __call__(self, x, *, train: bool = True):
    """[N, H, W, C] -> per-pixel logits [N, H, W, 1]."""
    bias = conv_bias_for(self.norm)
    x = leaky_relu(Conv(self.ndf, 1, dtype=self.dtype, param_dtype=self.param_dtype)(x))
    x = Conv(self.ndf * 2, 1, use_bias=bias, dtype=self.dtype, param_dtype=self.param_dtype)(x)
    x = leaky_relu(Norm(self.norm, dtype=self.dtype, param_dtype=self.param_dtype)(x, use_running_average=not train))
    x = Conv(1, 1, use_bias=bias, dtype=self.dtype, param_dtype=self.param_dtype)(x)
    return x.astype(jnp.promote_types(x.dtype, jnp.float32))


GENERATORS = {
    "resnet_9blocks": lambda **kw: ResnetGenerator(n_blocks=9, **kw),
    "resnet_6blocks": lambda **kw: ResnetGenerator(n_blocks=6, **kw),
    "unet_128": lambda **kw: UnetGenerator(num_downs=7, **kw),
    "unet_256": lambda **kw: UnetGenerator(num_downs=8, **kw),
}


UPSAMPLE_MODES = ("transpose", "resize_conv")


def make_generator(name: str, *, output_nc: int = 3, ngf: int = 64, norm: str = "instance",
                   use_dropout: bool = False, dtype: Dtype = None,
                   param_dtype: Dtype = jnp.float32, remat: bool = False,
                   upsample: str = "transpose") -> nn.Module:
  """`define_G`: a generator by its official `--netG` name.

  `remat` recomputes activations in the backward pass instead of storing them
  (ResNet: each residual block; U-Net: each level's way down and up).
  `upsample` chooses the ResNet generators' upsampling ('transpose', the
  official, or 'resize_conv'); the U-Nets have only 'transpose'.
  """
  if name not in GENERATORS:
    raise ValueError(f"unknown generator {name!r}; valid names: {sorted(GENERATORS)}")
  if upsample not in UPSAMPLE_MODES:
    raise ValueError(f"unknown upsample {upsample!r}; valid: {UPSAMPLE_MODES}")
  kwargs = dict(output_nc=output_nc, ngf=ngf, norm=norm, use_dropout=use_dropout, dtype=dtype,
                param_dtype=param_dtype, remat=remat)
  if name.startswith("resnet"):
    kwargs["upsample"] = upsample
  elif upsample != "transpose":
    raise ValueError(f"upsample={upsample!r} needs a ResNet generator; {name!r} is a U-Net "
                     f"(its upsampling is 'transpose')")
  return GENERATORS[name](**kwargs)


DISCRIMINATOR_NAMES = ("basic", "n_layers", "pixel")


def make_discriminator(name: str, *, ndf: int = 64, n_layers: int = 3, norm: str = "instance",
                       dtype: Dtype = None, param_dtype: Dtype = jnp.float32) -> nn.Module:
  """`define_D`: 'basic' (70x70 PatchGAN), 'n_layers' (n_layers PatchGAN) or 'pixel'."""
  if name == "basic":
    return NLayerDiscriminator(ndf=ndf, n_layers=3, norm=norm, dtype=dtype,
                               param_dtype=param_dtype)
  if name == "n_layers":
    return NLayerDiscriminator(ndf=ndf, n_layers=n_layers, norm=norm, dtype=dtype,
                               param_dtype=param_dtype)
  if name == "pixel":
    return PixelDiscriminator(ndf=ndf, norm=norm, dtype=dtype, param_dtype=param_dtype)
  raise ValueError(f"unknown discriminator {name!r}; valid names: {list(DISCRIMINATOR_NAMES)}")


def resnet_generator_torch_layers(n_blocks: int, use_dropout: bool = False) -> dict:
  """{our layer path: official module prefix} of `ResnetGenerator` (reflect padding), in the
  official order: `model` = [pad, conv, norm, ReLU] + 2 x [conv, norm, ReLU] + the
  blocks (each `conv_block` = [pad, conv, norm, ReLU, (dropout), pad, conv, norm]) +
  2 x [convT, norm, ReLU] + [pad, conv, tanh]."""
  layers = {("Conv_0",): "model.1", ("Norm_0",): "model.2", ("Conv_1",): "model.4",
            ("Norm_1",): "model.5", ("Conv_2",): "model.7", ("Norm_2",): "model.8"}
  second = 6 if use_dropout else 5
  for b in range(n_blocks):
    block = f"model.{10 + b}.conv_block"
    layers.update({(f"ResnetBlock_{b}", "Conv_0"): f"{block}.1",
                   (f"ResnetBlock_{b}", "Norm_0"): f"{block}.2",
                   (f"ResnetBlock_{b}", "Conv_1"): f"{block}.{second}",
                   (f"ResnetBlock_{b}", "Norm_1"): f"{block}.{second + 1}"})
  up = 10 + n_blocks
  layers.update({("ConvTranspose_0",): f"model.{up}", ("Norm_3",): f"model.{up + 1}",
                 ("ConvTranspose_1",): f"model.{up + 3}", ("Norm_4",): f"model.{up + 4}",
                 ("Conv_3",): f"model.{up + 7}"})
  return layers


def generator_torch_layers(name: str, use_dropout: bool = False) -> dict:
  """The official checkpoint layout (`unet_torch_layers`, `resnet_generator_torch_layers`) of
  the generator `make_generator(name)` with the official transposed-conv upsampling."""
  if name not in GENERATORS:
    raise ValueError(f"unknown generator {name!r}; valid names: {sorted(GENERATORS)}")
  if name.startswith("unet"):
    return unet_torch_layers(int(name.split("_")[1]).bit_length() - 1)
  return resnet_generator_torch_layers(int(name.split("_")[1][0]), use_dropout)


def discriminator_torch_layers(name: str, n_layers: int = 3) -> dict:
  """{our layer path: official module prefix} of `make_discriminator(name)`: the PatchGAN's
  `model` = [conv, LReLU] + n_layers x [conv, norm, LReLU] + [conv]; the PixelGAN's
  `net` = [conv, LReLU, conv, norm, LReLU, conv]."""
  if name == "pixel":
    return {("Conv_0",): "net.0", ("Conv_1",): "net.2", ("Norm_0",): "net.3",
            ("Conv_2",): "net.5"}
  if name not in DISCRIMINATOR_NAMES:
    raise ValueError(f"unknown discriminator {name!r}; valid names: {list(DISCRIMINATOR_NAMES)}")
  n = 3 if name == "basic" else n_layers
  layers = {("Conv_0",): "model.0"}
  for k in range(1, n + 1):
    layers[(f"Conv_{k}",)] = f"model.{3 * k - 1}"
    layers[(f"Norm_{k - 1}",)] = f"model.{3 * k}"
  layers[(f"Conv_{n + 1}",)] = f"model.{3 * n + 2}"
  return layers
