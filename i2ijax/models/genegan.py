"""GeneGAN's networks (Zhou et al., BMVC 2017), as the official TensorFlow 1 code builds them.

Follows `model.py` of Prinsphield/GeneGAN (`Model.splitter`, `Model.joiner`,
`Model.discriminator`, `make_conv`, `make_conv_bn`, `make_deconv`,
`make_deconv_bn`, `make_fc`). Images are NHWC in the official pixel range
[0, 255]; the splitter and the critics divide their input by 255 first, the
joiner ends in (tanh + 1) * 255 / 2, so its outputs are again in [0, 255].

- Splitter ("G_splitter"): three 4x4 stride-2 'SAME' convs without bias (ch,
  2 ch, 4 ch; ch = 128 officially), BatchNorm after the second and third,
  LeakyReLU 0.2 after each: [N, H, W, 3] -> [N, H/8, W/8, 4 ch] (512 x 8 x 8 at
  64 px). The last `int(4 ch * second_ratio)` channels (second_ratio 0.25: 128)
  are the attribute part x, the others (384) the background part A.
- Joiner ("G_joiner"): concat [A, x] -> two 4x4 stride-2 transposed convs
  without bias to 4 ch and 2 ch (each BatchNorm, ReLU) -> a transposed conv to
  3 channels, plus a bias "b" [3] -> (tanh + 1) 127.5: [N, H/8, W/8, 4 ch] ->
  [N, H, W, 3]. `tf.nn.conv2d_transpose` to twice the size with a 4x4 kernel
  pads one pixel before (the input gradient of the 'SAME' conv).
- Critic ("D_Ax", "D_Be", one per domain): 4x4 stride-2 'SAME' convs without bias
  to ch, 2 ch, 4 ch, 4 ch, BatchNorm after the last three, LeakyReLU 0.2 after
  each, then a dense layer (kernel "W", bias "b") on the row-major flattened
  [N, H/16 * W/16 * 4 ch] features to one raw score per image (no sigmoid).
Every kernel ~ N(0, 0.02) (`tf.random_normal_initializer(stddev=0.02)`), biases 0.
The norm is TF 1.0's `tf.layers.batch_normalization` (`TFBatchNorm`).
"""

from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp

from i2ijax.models.dualgan import same_pads
from i2ijax.models.layers import Conv2d, at_least_float32, leaky_relu, normal_init
from i2ijax.ops import conv_transpose

Dtype = Any
PIXEL_MAX = 255.0
TF_BN_MOMENTUM = 0.99  # tf.layers.batch_normalization defaults
TF_BN_EPS = 1e-3


class TFBatchNorm(nn.Module):
  """TF 1.0's `tf.layers.batch_normalization(x, training=...)` on NHWC: params {scale
  (gamma, ones), bias (beta, zeros)}, batch_stats {mean (0), var (1)}.

  Training (`use_running_average=False`): normalise by the batch mean and biased
  variance over N, H, W (`tf.nn.moments`), eps 1e-3; when `batch_stats` is
  mutable, mean <- 0.99 mean + 0.01 batch mean and var <- 0.99 var + 0.01 biased
  batch variance (`assign_moving_average(..., zero_debias=False)`). Eval: the
  running averages normalise. Statistics in float32 at least.
  """

  dtype: Dtype = None
  param_dtype: Dtype = jnp.float32

  @nn.compact
  def __call__(self, x, *, use_running_average: bool = False):
    c = x.shape[-1]
    scale = self.param("scale", nn.initializers.ones, (c,), self.param_dtype)
    bias = self.param("bias", nn.initializers.zeros, (c,), self.param_dtype)
    mean_v = self.variable("batch_stats", "mean", lambda: jnp.zeros((c,), self.param_dtype))
    var_v = self.variable("batch_stats", "var", lambda: jnp.ones((c,), self.param_dtype))
    stat_dtype = jnp.promote_types(jnp.promote_types(x.dtype, self.param_dtype), jnp.float32)
    xs = x.astype(stat_dtype)
    axes = tuple(range(x.ndim - 1))
    if use_running_average:
      mean, var = mean_v.value.astype(stat_dtype), var_v.value.astype(stat_dtype)
    else:
      mean = jnp.mean(xs, axis=axes)
      var = jnp.mean(jnp.square(xs - mean), axis=axes)
      if not self.is_initializing() and self.is_mutable_collection("batch_stats"):
        m = TF_BN_MOMENTUM
        mean_v.value = (m * mean_v.value + (1 - m) * mean).astype(mean_v.value.dtype)
        var_v.value = (m * var_v.value + (1 - m) * var).astype(var_v.value.dtype)
    y = (xs - mean) * jax.lax.rsqrt(var + TF_BN_EPS)
    y = y * scale.astype(stat_dtype) + bias.astype(stat_dtype)
    return y.astype(self.dtype or jnp.promote_types(x.dtype, self.param_dtype))


class TFSameConv(nn.Module):
  """`tf.nn.conv2d(x, W, strides 2, 'SAME')` without bias (`make_conv`): kernel "kernel"
  [4, 4, C, features] ~ N(0, 0.02). [N, H, W, C] -> [N, ceil(H / 2), ceil(W / 2), features]."""

  features: int
  kernel: int = 4
  stride: int = 2
  dtype: Dtype = None
  param_dtype: Dtype = jnp.float32

  @nn.compact
  def __call__(self, x):
    pads = tuple(same_pads(d, self.kernel, self.stride) for d in x.shape[1:3])
    return Conv2d(self.features, self.kernel, self.stride, pads, False, normal_init(),
                  dtype=self.dtype, param_dtype=self.param_dtype, name="conv")(x)


class TFDeconv(nn.Module):
  """`tf.nn.conv2d_transpose(x, W, [N, 2H, 2W, features], strides 2, 'SAME')` without bias
  (`make_deconv`): kernel [k, k, features, C] ~ N(0, 0.02). [N, H, W, C] -> [N, 2H, 2W,
  features]."""

  features: int
  kernel: int = 4
  stride: int = 2
  dtype: Dtype = None
  param_dtype: Dtype = jnp.float32

  @nn.compact
  def __call__(self, x):
    k, s = self.kernel, self.stride
    w = self.param("kernel", normal_init(), (k, k, self.features, x.shape[-1]), self.param_dtype)
    x, w = nn.dtypes.promote_dtype(x, w, dtype=self.dtype)
    out = tuple(d * s for d in x.shape[1:3])
    pads = tuple(same_pads(o, k, s)[0] for o in out)
    return conv_transpose(x, w, s, pads, out)


def attribute_channels(channels: int, second_ratio: float) -> int:
  """Channels of the attribute part: `int(channels * second_ratio)` (the official num_ch)."""
  return int(channels * second_ratio)


class Splitter(nn.Module):
  """`Model.splitter`: image [N, H, W, 3] in [0, 255] (H, W multiples of 8) -> (A [N, H/8,
  W/8, 4 ch - n_x], x [N, H/8, W/8, n_x]), n_x = int(4 ch * second_ratio): the background and
  the attribute part (the last channels)."""

  ch: int = 128
  second_ratio: float = 0.25
  dtype: Dtype = None
  param_dtype: Dtype = jnp.float32

  @nn.compact
  def __call__(self, image, *, train: bool = True):
    kw = dict(dtype=self.dtype, param_dtype=self.param_dtype)
    h = image / PIXEL_MAX
    h = leaky_relu(TFSameConv(self.ch, name="conv1", **kw)(h))
    h = TFSameConv(2 * self.ch, name="conv2", **kw)(h)
    h = leaky_relu(TFBatchNorm(name="bn2", **kw)(h, use_running_average=not train))
    h = TFSameConv(4 * self.ch, name="conv3", **kw)(h)
    h = leaky_relu(TFBatchNorm(name="bn3", **kw)(h, use_running_average=not train))
    n_x = attribute_channels(h.shape[-1], self.second_ratio)
    return h[..., :-n_x], h[..., -n_x:]


class Joiner(nn.Module):
  """`Model.joiner`: (A, x) -> image [N, 8 h, 8 w, out_channels] in [0, 255]:
  (tanh(deconv3(relu(bn(deconv2(relu(bn(deconv1([A, x]))))))) + b) + 1) 255 / 2."""

  ch: int = 128
  out_channels: int = 3
  dtype: Dtype = None
  param_dtype: Dtype = jnp.float32

  @nn.compact
  def __call__(self, a, x, *, train: bool = True):
    kw = dict(dtype=self.dtype, param_dtype=self.param_dtype)
    h = jnp.concatenate([a, x], axis=-1)
    h = TFDeconv(4 * self.ch, name="deconv1", **kw)(h)
    h = nn.relu(TFBatchNorm(name="bn1", **kw)(h, use_running_average=not train))
    h = TFDeconv(2 * self.ch, name="deconv2", **kw)(h)
    h = nn.relu(TFBatchNorm(name="bn2", **kw)(h, use_running_average=not train))
    h = TFDeconv(self.out_channels, name="deconv3", **kw)(h)
    b = self.param("b", nn.initializers.zeros, (self.out_channels,), self.param_dtype)
    h = at_least_float32(h + b.astype(h.dtype))
    return (jnp.tanh(h) + 1.0) * (PIXEL_MAX / 2.0)


class Critic(nn.Module):
  """`Model.discriminator`: image [N, H, W, 3] in [0, 255] (H, W multiples of 16) -> raw
  scores [N, 1]."""

  ch: int = 128
  dtype: Dtype = None
  param_dtype: Dtype = jnp.float32

  @nn.compact
  def __call__(self, image, *, train: bool = True):
    kw = dict(dtype=self.dtype, param_dtype=self.param_dtype)
    h = image / PIXEL_MAX
    h = leaky_relu(TFSameConv(self.ch, name="conv1", **kw)(h))
    for i, mult in ((2, 2), (3, 4), (4, 4)):
      h = TFSameConv(mult * self.ch, name=f"conv{i}", **kw)(h)
      h = leaky_relu(TFBatchNorm(name=f"bn{i}", **kw)(h, use_running_average=not train))
    flat = h.reshape(h.shape[0], -1)
    out = nn.Dense(1, kernel_init=normal_init(), name="fct", **kw)(flat)
    return at_least_float32(out)
