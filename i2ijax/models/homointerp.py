"""HomoInterpGAN networks (Chen et al. 2019, "Homomorphic Latent Space Interpolation for
Unpaired Image-to-image Translation").

Mirrors `network/model.py` and `network/base_network.VGG` of
yingcong/HomoInterpGAN layer for layer, in the same order, so that official
state_dicts map one to one by creation order. Images are NHWC; the official
code feeds ImageNet-normalised images ((x01 - mean) / std, `to_vgg_space`)
and its decoder returns that space (no output activation).

* `Vgg19` (the encoder, the knowledge-guidance teacher and the perceptual
  network): VGG19 conv1_1 ... relu5_1, 3x3 convs with bias and ReLU, 2x2
  max pools after relu1_2, relu2_2, relu3_4 and relu4_4, in the official three
  stages (features_1 to relu3_1, features_2 to relu4_1, features_3 to
  relu5_1). `width` is the official `nChannel` (64): 12,944,960 parameters,
  a 512 x H/16 x W/16 feature.
* `Interpolator` (`interp_net`): `n_branch` branches T_i, each three 3x3
  convs (C -> C, bias) with ReLU between; F_out = F1 + sum_i v_i T_i(F2 - F1).
  The official model has one branch per attribute group plus one residual
  branch: 6 x 7,079,424 at five groups.
* `Decoder` (`decoder`, v1): 3x3 convs with BatchNorm and ReLU, four nearest
  x2 upsamplings, 512 -> 3 with no output activation: 6,201,603.
  Shallower encoders (`Vgg19.stages` < 3, a small-scale option of this
  library, not of the official code) pair with `Decoder.upsamplings` = stages + 1.
* `FeatureDiscriminator` (`discrim`): 1x1 conv -> IN -> LReLU 0.2, two 4x4
  stride-2 convs (each IN -> LReLU 0.2), a 2x2 conv (the trunk, 256
  channels); a 1x1 realness head of 256 outputs and one 1x1 attribute head per
  group: 2,562,575 at the default groups (sizes 2, 5, 4, 3, 1). IN is
  InstanceNorm2d(affine=True) without running statistics.
* The knowledge-guidance transform is a 1x1 conv C -> C with bias
  (`KGTransform`): 262,656.

The official code applies no initialisation of its own (PyTorch's defaults,
`layers.torch_default_params`) and starts the encoder from VGG19 weights;
here the encoder reads the VGG19 weights file when one is given
(`i2ijax.train.homointerp`), else keeps `Vgg19`'s He-normal init.
"""

from typing import Any, Sequence

import flax.linen as nn
import jax.numpy as jnp

from i2ijax.models.layers import Conv2d, Norm, kaiming_normal, leaky_relu, upsample_nearest

Dtype = Any

# The official VGG stages: (name, channels as a multiple of the width) for each 3x3 conv + ReLU,
# "pool" for a 2x2 max pool. torchvision's vgg19 `features` index of each conv is in
# `VGG19_TORCHVISION_INDEX`.
VGG19_STAGES = (
    (("conv1_1", 1), ("conv1_2", 1), "pool", ("conv2_1", 2), ("conv2_2", 2), "pool",
     ("conv3_1", 4)),
    (("conv3_2", 4), ("conv3_3", 4), ("conv3_4", 4), "pool", ("conv4_1", 8)),
    (("conv4_2", 8), ("conv4_3", 8), ("conv4_4", 8), "pool", ("conv5_1", 8)),
)
VGG19_CONVS = tuple(layer[0] for stage in VGG19_STAGES for layer in stage if layer != "pool")
# Each stage's output (relu3_1, relu4_1, relu5_1): channels as a multiple of the width, and the
# image-to-feature stride.
VGG19_STAGE_CHANNELS = (4, 8, 8)
VGG19_STAGE_STRIDES = (4, 8, 16)
VGG19_TORCHVISION_INDEX = dict(zip(VGG19_CONVS, (0, 2, 5, 7, 10, 12, 14, 16, 19, 21, 23, 25, 28)))
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def to_vgg_space(x):
  """Images in [-1, 1] -> the official input space: (x01 - ImageNet mean) / ImageNet std."""
  mean, std = jnp.asarray(IMAGENET_MEAN, x.dtype), jnp.asarray(IMAGENET_STD, x.dtype)
  return ((x + 1.0) * 0.5 - mean) / std


def from_vgg_space(y):
  """The inverse of `to_vgg_space`: decoder outputs -> images on the [-1, 1] scale (unclipped)."""
  mean, std = jnp.asarray(IMAGENET_MEAN, y.dtype), jnp.asarray(IMAGENET_STD, y.dtype)
  return (y * std + mean) * 2.0 - 1.0


class Vgg19(nn.Module):
  """VGG19 to relu5_1 in the official three stages: x (ImageNet-normalised, NHWC) ->
  (relu3_1, relu4_1, relu5_1). Parameters {conv1_1: {kernel, bias}, ..., conv5_1};
  random kernels are He-normal (biases 0), which keeps the activations' scale
  through the 13 layers (the official code always loads VGG19 weights).

  `stages` < 3 stops early (the perceptual loss needs relu3_1 only).
  """

  width: int = 64
  stages: int = 3
  dtype: Dtype = None
  param_dtype: Dtype = jnp.float32

  @nn.compact
  def __call__(self, x):
    outs = []
    for stage in VGG19_STAGES[:self.stages]:
      for layer in stage:
        if layer == "pool":
          x = nn.max_pool(x, (2, 2), strides=(2, 2))
          continue
        name, mult = layer
        x = nn.relu(Conv2d(self.width * mult, 3, padding=1, kernel_init=kaiming_normal(),
                           dtype=self.dtype, param_dtype=self.param_dtype, name=name)(x))
      outs.append(x)
    return tuple(outs)


class InterpBranch(nn.Module):
  """One interpolator branch (`_interp_branch`): conv3 -> ReLU -> conv3 -> ReLU -> conv3."""

  channels: int
  dtype: Dtype = None
  param_dtype: Dtype = jnp.float32

  @nn.compact
  def __call__(self, x):
    kw = dict(dtype=self.dtype, param_dtype=self.param_dtype)
    x = nn.relu(Conv2d(self.channels, 3, padding=1, **kw)(x))
    x = nn.relu(Conv2d(self.channels, 3, padding=1, **kw)(x))
    return Conv2d(self.channels, 3, padding=1, **kw)(x)


class Interpolator(nn.Module):
  """T(F1, F2, v) = F1 + sum_i v_i T_i(F2 - F1), the homomorphic interpolation (`interp_net`).

  feat1, feat2 [N, h, w, C]; v [N, n_branch] strengths (0: keep F1's attribute
  i, 1: take F2's). Returns [N, h, w, C].
  """

  n_branch: int
  channels: int = 512
  dtype: Dtype = None
  param_dtype: Dtype = jnp.float32

  @nn.compact
  def __call__(self, feat1, feat2, v):
    if v.shape[-1] != self.n_branch:
      raise ValueError(f"the interpolator has {self.n_branch} branches, got strengths of "
                       f"shape {v.shape}")
    diff = feat2 - feat1
    total = 0
    for i in range(self.n_branch):
      t = InterpBranch(self.channels, dtype=self.dtype, param_dtype=self.param_dtype,
                       name=f"branch_{i}")(diff)
      total = total + t * v[:, i, None, None, None].astype(t.dtype)
    return feat1 + total


def decoder_plan(width: int = 64, upsamplings: int = 4) -> tuple:
  """The decoder's layers in order: an int is a 3x3 conv to that many channels followed by
  BatchNorm and ReLU, "up" a nearest x2 upsampling (the final 3x3 conv to RGB not listed)."""
  if not 1 <= upsamplings <= 4:
    raise ValueError(f"the decoder has 1 to 4 upsamplings, got {upsamplings}")
  w = width
  sections = ((8 * w, "up"), (4 * w,) * 4 + ("up",), (2 * w,) * 4 + ("up",), (w, w, "up"),
              (w,))
  return sum(sections[4 - upsamplings:], ())


class Decoder(nn.Module):
  """The official decoder (v1): feature [N, h, w, 8 width] -> [N, 16 h, 16 w, 3] in the
  ImageNet-normalised space. Widths (official, width 64): 512, up, 256 x 4, up,
  128 x 4, up, 64 x 2, up, 64, then a 3x3 conv to 3 channels (bias, no
  activation); every other conv is followed by BatchNorm (PyTorch's, running
  statistics in `batch_stats`) and ReLU.

  `upsamplings` < 4 (the official 4) drops that many leading sections (up to
  and including an upsampling), for an encoder stopped at relu4_1 (3: a
  [N, h, w, 8 width] feature -> 8 h) or relu3_1 (2: [N, h, w, 4 width] -> 4 h).
  """

  width: int = 64
  upsamplings: int = 4
  dtype: Dtype = None
  param_dtype: Dtype = jnp.float32

  @nn.compact
  def __call__(self, x, *, train: bool = True):
    kw = dict(dtype=self.dtype, param_dtype=self.param_dtype)
    for item in decoder_plan(self.width, self.upsamplings):
      if item == "up":
        x = upsample_nearest(x, 2)
        continue
      x = Conv2d(item, 3, padding=1, **kw)(x)
      x = nn.relu(Norm("batch", **kw)(x, use_running_average=not train))
    y = Conv2d(3, 3, padding=1, **kw)(x)
    return y.astype(jnp.promote_types(y.dtype, jnp.float32))


class FeatureDiscriminator(nn.Module):
  """D(F [N, h, w, C]) -> (realness [N, h', w', 256], [attribute logits [N, k_g] per group]).

  The official trunk takes an 8 x 8 feature (128 px images) to 1 x 1 with
  `downsamples` = 2 stride-2 convs and a 2x2 conv; the attribute heads need
  that 1 x 1 map (the official `squeeze`), so h = 2 ** (downsamples + 1).
  """

  group_sizes: Sequence[int]
  conv_dim: int = 256
  downsamples: int = 2
  dtype: Dtype = None
  param_dtype: Dtype = jnp.float32

  @nn.compact
  def __call__(self, f):
    kw = dict(dtype=self.dtype, param_dtype=self.param_dtype)
    side = 2 ** (self.downsamples + 1)
    if f.shape[1] != side or f.shape[2] != side:
      raise ValueError(f"the feature discriminator takes {side} x {side} features (its "
                       f"attribute heads need a 1 x 1 map), got {f.shape[1:3]}")
    d = self.conv_dim

    def in_lrelu(y):
      y = nn.InstanceNorm(epsilon=1e-5, **kw)(y)
      return leaky_relu(y, 0.2)

    y = in_lrelu(Conv2d(d, 1, **kw)(f))
    for _ in range(self.downsamples):
      y = in_lrelu(Conv2d(d, 4, stride=2, padding=1, **kw)(y))
    y = Conv2d(d, 2, **kw)(y)
    real = Conv2d(d, 1, name="if_real", **kw)(y)
    attrs = [Conv2d(k, 1, name=f"attr_{i}", **kw)(y).reshape(y.shape[0], k)
             for i, k in enumerate(self.group_sizes)]
    f32 = lambda a: a.astype(jnp.promote_types(a.dtype, jnp.float32))
    return f32(real), [f32(a) for a in attrs]


class KnowledgeTransform(nn.Module):
  """The knowledge-guidance transform (`KGTransform`): a 1x1 conv C -> C with bias."""

  channels: int = 512
  dtype: Dtype = None
  param_dtype: Dtype = jnp.float32

  @nn.compact
  def __call__(self, f):
    return Conv2d(self.channels, 1, dtype=self.dtype, param_dtype=self.param_dtype)(f)
