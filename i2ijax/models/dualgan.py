"""DualGAN's networks (Yi et al. 2017), as the official TensorFlow code builds them.

Follows `model.py` / `ops.py` of duxingren14/DualGAN (`DualNet.fcn`,
`DualNet.discriminator`, `conv2d`, `deconv2d`, `batch_norm`, `linear`). The
generator is a U-Net like pix2pix's, but the official TF layers differ from the
junyanz PyTorch U-Net (`models/unet.py`) in nearly every detail, so it is built
here rather than as options of `UnetGenerator`:
- kernels: 5x5 for the first conv and the last transposed conv, 3x3 for all
  others (`conv2d`/`deconv2d` default k=3), stride 2 everywhere;
- TF 'SAME' padding: a stride-2 conv of an even side pads (k - 2) // 2 before
  and the rest after (3x3: 0 / 1; 5x5: 1 / 2), asymmetric where PyTorch pads
  both sides alike, and each transposed conv is the gradient of that conv
  (`tf.nn.conv2d_transpose` to twice the size);
- the norm (`ops.batch_norm`) is an instance norm: moments over H and W of each
  sample (`tf.nn.moments(x, [1, 2])`, biased variance), eps 1e-6, a learned
  scale ~ N(1, 0.02) and center 0; no running statistics, so training and test
  normalise alike (`TFInstanceNorm`);
- the innermost encoder level is normalised too: at 256 px (or any size where it
  is 1x1) every value equals its own mean, so e8 = `center` whatever the input
  and its conv gets no gradient (reproduced, see `DualGANGenerator`);
- every conv, transposed conv and dense layer has a bias (zeros at init); conv
  kernels ~ N(0, 0.02) truncated at 2 std (`truncated_normal_initializer`),
  transposed-conv and dense kernels ~ N(0, 0.02) untruncated;
- skips concatenate [decoder output, encoder output] (PyTorch: [input, output]);
- dropout after the norm of the first three decoder levels (d1-d3, innermost
  included) when `--dropout_rate` > 0, whose value TF1's
  `tf.nn.dropout(x, keep_prob)` takes as the probability of *keeping* a unit.
Channels: e1..e8 = gcn, 2, 4, 8, 8, 8, 8, 8 gcn; d1..d7 mirror e7..e1; d8 the
output channels. The discriminator: 5x5 conv (dcn), then 3x3 convs to 2, 4, 8,
8 dcn, each followed by the norm (not the first) and LeakyReLU 0.2; then
'globalgan' (official default): a dense layer on the flattened [N, H/32 * W/32
* 8 dcn] features (at the official 4 normalised layers) to one score per image; 'patchgan': a 3x3 stride-2 conv to
one channel ([N, H/64, W/64, 1]). Images NHWC in [-1, 1].
"""

from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp

from i2ijax.models.layers import Conv2d, at_least_float32, leaky_relu, normal_init
from i2ijax.ops import conv_transpose

Dtype = Any
DISC_TYPES = ("globalgan", "patchgan")
# The discriminator's normalised convs (names of the official variable scopes).
OFFICIAL_D_LAYERS = (("h1_conv", "bn1"), ("h2_conv", "bn2"), ("h3_conv", "bn3"),
                     ("h3_1_conv", "bn3_1"))
TF_NORM_EPS = 1e-6


def tf_truncated_normal(std: float = 0.02):
  """`tf.truncated_normal_initializer(stddev=std)`: N(0, std) with draws beyond 2 std redrawn
  (std is that of the untruncated normal, unlike flax's `truncated_normal`)."""

  def init(key, shape, dtype=jnp.float32):
    return std * jax.random.truncated_normal(key, -2.0, 2.0, shape, dtype)

  return init


def normal_scale_init(std: float = 0.02):
  """`tf.random_normal_initializer(1.0, std)`: the norm's scale ~ N(1, std)."""

  def init(key, shape, dtype=jnp.float32):
    return 1.0 + std * jax.random.normal(key, shape, dtype)

  return init


def same_pads(size: int, kernel: int, stride: int) -> tuple[int, int]:
  """TF 'SAME' padding (before, after) of one side of `size`: out = ceil(size / stride),
  total max((out - 1) stride + kernel - size, 0), the odd pixel after."""
  out = -(-size // stride)
  total = max((out - 1) * stride + kernel - size, 0)
  return total // 2, total - total // 2


class TFConv(nn.Module):
  """`ops.conv2d`: a k x k stride-2 'SAME' conv with a bias, kernel ~ truncated N(0, 0.02).

  [N, H, W, C] -> [N, ceil(H / 2), ceil(W / 2), features]. Parameters as `layers.Conv2d`
  ({"kernel" [k, k, C, features], "bias"}).
  """

  features: int
  kernel: int = 3
  stride: int = 2
  dtype: Dtype = None
  param_dtype: Dtype = jnp.float32

  @nn.compact
  def __call__(self, x):
    pads = tuple(same_pads(d, self.kernel, self.stride) for d in x.shape[1:3])
    return Conv2d(self.features, self.kernel, self.stride, pads, True, tf_truncated_normal(),
                  dtype=self.dtype, param_dtype=self.param_dtype, name="conv")(x)


class TFConvTranspose(nn.Module):
  """`ops.deconv2d`: `tf.nn.conv2d_transpose` with stride 2 to twice the input's size, plus a
  bias; kernel [k, k, features, C] ~ N(0, 0.02), bias 0.

  [N, H, W, C] -> [N, 2H, 2W, features]: the gradient (with respect to its input) of a
  stride-2 'SAME' conv of a 2H x 2W map, whose padding before is (k - 2) // 2; i.e. the
  PyTorch-style transposed conv with that padding, cropped to 2H x 2W.
  """

  features: int
  kernel: int = 3
  stride: int = 2
  dtype: Dtype = None
  param_dtype: Dtype = jnp.float32

  @nn.compact
  def __call__(self, x):
    k, s = self.kernel, self.stride
    w = self.param("kernel", normal_init(), (k, k, self.features, x.shape[-1]), self.param_dtype)
    b = self.param("bias", nn.initializers.zeros, (self.features,), self.param_dtype)
    x, w, b = nn.dtypes.promote_dtype(x, w, b, dtype=self.dtype)
    out = tuple(d * s for d in x.shape[1:3])
    pads = tuple(same_pads(o, k, s)[0] for o in out)
    return conv_transpose(x, w, s, pads, out) + b


class TFInstanceNorm(nn.Module):
  """The official `ops.batch_norm`, an instance norm: per sample and channel,
  (x - mean) / sqrt(var + 1e-6) * scale + center over H, W (biased variance), scale ~ N(1,
  0.02), center 0. No running statistics: the same in training and at test. Statistics in
  float32 at least. [N, H, W, C] -> same shape.
  """

  dtype: Dtype = None
  param_dtype: Dtype = jnp.float32

  @nn.compact
  def __call__(self, x):
    c = x.shape[-1]
    scale = self.param("scale", normal_scale_init(), (c,), self.param_dtype)
    center = self.param("bias", nn.initializers.zeros, (c,), self.param_dtype)
    xs = at_least_float32(x.astype(jnp.promote_types(x.dtype, self.param_dtype)))
    mean = jnp.mean(xs, axis=(1, 2), keepdims=True)
    var = jnp.mean(jnp.square(xs - mean), axis=(1, 2), keepdims=True)
    y = (xs - mean) * jax.lax.rsqrt(var + TF_NORM_EPS)
    y = y * scale.astype(y.dtype) + center.astype(y.dtype)
    return y.astype(self.dtype or jnp.promote_types(x.dtype, self.param_dtype))


def generator_channels(gcn: int, num_downs: int) -> list[int]:
  """Output channels of the encoder levels e1..e_num_downs: gcn, 2, 4, then 8 gcn."""
  if num_downs < 4:
    raise ValueError(f"num_downs must be >= 4, got {num_downs}")
  return [gcn, 2 * gcn, 4 * gcn] + [8 * gcn] * (num_downs - 3)


class DualGANGenerator(nn.Module):
  """`DualNet.fcn`: [N, H, W, C_in] in [-1, 1] -> [N, H, W, output_nc] in [-1, 1] (tanh).

  H, W multiples of 2^num_downs (8 officially: 256 px down to 1x1).
  Encoder: e1 = conv5(x); e_i = norm(conv3(lrelu(e_{i-1}))) for i >= 2.
  Decoder: d_j = concat([norm(deconv3(relu(d_{j-1})))(, dropout for j <= 3), e_{n-j}]) with
  d_0 = e_n, then the output tanh(deconv5(relu(d_{n-1}))).
  `dropout_rate`: the official flag, TF1's keep probability (0: no dropout); dropout is
  active when `train` (the official graph applies it in training and at test alike).
  """

  output_nc: int = 3
  gcn: int = 64
  num_downs: int = 8
  dropout_rate: float = 0.0
  dtype: Dtype = None
  param_dtype: Dtype = jnp.float32

  @nn.compact
  def __call__(self, x, *, train: bool = True):
    kw = dict(dtype=self.dtype, param_dtype=self.param_dtype)
    chans = generator_channels(self.gcn, self.num_downs)
    n = self.num_downs
    skips = []
    h = x
    for i, c in enumerate(chans):  # e1 .. e_n
      if i == 0:
        h = TFConv(c, 5, name="e1_conv", **kw)(h)
      else:
        h = TFConv(c, 3, name=f"e{i + 1}_conv", **kw)(leaky_relu(h))
        h = TFInstanceNorm(name=f"bn_e{i + 1}", **kw)(h)
      skips.append(h)
    for j in range(1, n):  # d1 .. d_{n-1}, each joined with e_{n-j}
      skip = skips[n - 1 - j]
      h = TFConvTranspose(skip.shape[-1], 3, name=f"d{j}", **kw)(nn.relu(h))
      h = TFInstanceNorm(name=f"bn_d{j}", **kw)(h)
      if self.dropout_rate > 0 and j <= 3:
        h = nn.Dropout(1.0 - self.dropout_rate, deterministic=not train)(h)
      h = jnp.concatenate([h, skip], axis=-1)
    h = TFConvTranspose(self.output_nc, 5, name=f"d{n}", **kw)(nn.relu(h))
    return jnp.tanh(at_least_float32(h))


class DualGANDiscriminator(nn.Module):
  """`DualNet.discriminator`: [N, H, W, C] in [-1, 1] -> scores, [N, 1] ('globalgan') or
  [N, ceil(H / 64), ceil(W / 64), 1] ('patchgan'); raw scores (no sigmoid).

  h0 = lrelu(conv5(x)); then `n_layers` (officially 4: h1, h2, h3, h3_1) lrelu(norm(conv3(.)))
  with 2, 4, 8, 8 dcn channels (min(2^i, 8) dcn); globalgan: dense(flatten(.)) (kernel ~
  N(0, 0.02), NHWC row-major flattening as `tf.reshape`); patchgan: conv3(.) to one channel.
  A last map of 1x1 makes the critic constant (each value is its own instance mean), so
  small images need fewer layers (`n_layers` is not an official option: the official 256
  px input ends at 8x8).
  """

  dcn: int = 64
  disc_type: str = "globalgan"
  n_layers: int = 4  # normalised 3x3 convs after h0 (official: h1, h2, h3, h3_1)
  dtype: Dtype = None
  param_dtype: Dtype = jnp.float32

  @nn.compact
  def __call__(self, x, *, train: bool = True):
    del train  # no running statistics, no dropout
    if self.disc_type not in DISC_TYPES:
      raise ValueError(f"disc_type must be one of {DISC_TYPES}, got {self.disc_type!r}")
    kw = dict(dtype=self.dtype, param_dtype=self.param_dtype)
    if self.n_layers < 1:
      raise ValueError(f"n_layers must be >= 1, got {self.n_layers}")
    h = leaky_relu(TFConv(self.dcn, 5, name="h0_conv", **kw)(x))
    for i in range(self.n_layers):
      conv, bn = OFFICIAL_D_LAYERS[i] if i < len(OFFICIAL_D_LAYERS) else (f"h{i}_conv", f"bn{i}")
      h = TFConv(self.dcn * min(2 ** (i + 1), 8), 3, name=conv, **kw)(h)
      h = leaky_relu(TFInstanceNorm(name=bn, **kw)(h))
    if self.disc_type == "patchgan":
      return at_least_float32(TFConv(1, 3, name="h4", **kw)(h))
    flat = h.reshape(h.shape[0], -1)
    out = nn.Dense(1, kernel_init=normal_init(), name="d_h3_lin", **kw)(flat)
    return at_least_float32(out)
