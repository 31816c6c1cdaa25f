"""Building blocks shared by every generator and discriminator.

All modules take NHWC inputs. The initialisers and norm/bias conventions follow
junyanz/pytorch-CycleGAN-and-pix2pix `models/networks.py` (`init_weights`,
`get_norm_layer`), which several later models reuse. Every learned convolution
of the models is one of the modules here (`Conv`, `Conv2d`, `ConvTranspose`),
computed by `i2ijax.ops` (`conv2d`, `conv_transpose`).
"""

from typing import Any, Callable

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from i2ijax.ops import conv2d, conv_transpose

Dtype = Any
NORMS = ("instance", "batch", "none")


def normal_init(std: float = 0.02) -> Callable:
  """N(0, std) kernel initialiser (`init_weights(init_type='normal')`)."""
  return nn.initializers.normal(stddev=std)


def kaiming_normal() -> Callable:
  """PyTorch's `kaiming_normal_(w, a=0, mode='fan_in')`: N(0, 2 / fan_in), untruncated.

  The generator init of MUNIT/UNIT (`init: kaiming`) and every Conv/Linear of
  StarGAN v2 (`he_init`).
  """
  return nn.initializers.variance_scaling(2.0, "fan_in", "normal")


def batch_norm_scale_init(std: float = 0.02) -> Callable:
  """BatchNorm gamma ~ N(1, std), as the official `init_weights` sets it."""

  def init(key, shape, dtype=jnp.float32):
    return 1.0 + std * jax.random.normal(key, shape, dtype)

  return init


def check_norm(norm: str) -> str:
  if norm not in NORMS:
    raise ValueError(f"norm must be one of {NORMS}, got {norm!r}")
  return norm


def conv_bias_for(norm: str) -> bool:
  """The official bias rule: a conv followed by a norm has a bias only for IN.

  With BatchNorm the norm's beta replaces the bias; with norm 'none' the
  official code also drops it (`use_bias = norm_layer == InstanceNorm2d`).
  """
  return check_norm(norm) == "instance"


class Norm(nn.Module):
  """The `--norm` choice of the official code.

  instance: InstanceNorm2d(affine=False, track_running_stats=False), eps 1e-5,
    biased variance over H and W per sample and channel.
  batch: BatchNorm2d(affine=True), eps 1e-5, momentum 0.1 (`TorchBatchNorm`):
    batch statistics when `use_running_average` is False, and then the
    running variance is updated with the unbiased batch variance, as PyTorch
    does (`unbiased_running_variance`).
  none: identity.
  """

  kind: str = "instance"
  dtype: Dtype = None  # computation dtype; None: that of the inputs and parameters
  param_dtype: Dtype = jnp.float32

  @nn.compact
  def __call__(self, x, *, use_running_average: bool = False):
    kind = check_norm(self.kind)
    if kind == "instance":
      return nn.InstanceNorm(
          epsilon=1e-5, use_bias=False, use_scale=False, dtype=self.dtype,
          param_dtype=self.param_dtype)(x)
    if kind == "batch":
      return TorchBatchNorm(dtype=self.dtype, param_dtype=self.param_dtype,
                            name="BatchNorm_0")(x, use_running_average=use_running_average)
    return x


class TorchBatchNorm(nn.Module):
  """`nn.BatchNorm2d(C)` on NHWC: params {scale (N(1, 0.02), the junyanz init), bias},
  batch_stats {mean (0), var (1)}, all in `param_dtype` (float64 runs keep float64
  statistics).

  Training mode (`use_running_average=False`): normalise by the batch mean and
  biased variance over N, H, W (eps 1e-5); when `batch_stats` is mutable,
  mean <- 0.9 mean + 0.1 batch mean and var <- `unbiased_running_variance`.
  Eval mode: the running mean and variance normalise. Statistics are reduced
  in float32 at least.
  """

  dtype: Dtype = None
  param_dtype: Dtype = jnp.float32

  @nn.compact
  def __call__(self, x, *, use_running_average: bool = False):
    c = x.shape[-1]
    scale = self.param("scale", batch_norm_scale_init(), (c,), self.param_dtype)
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
        m = BATCH_NORM_MOMENTUM
        mean_v.value = (m * mean_v.value + (1 - m) * mean).astype(mean_v.value.dtype)
        var_v.value = unbiased_running_variance(var_v.value, x)
    y = (xs - mean) * jax.lax.rsqrt(var + 1e-5)
    y = y * scale.astype(stat_dtype) + bias.astype(stat_dtype)
    return y.astype(self.dtype or jnp.promote_types(x.dtype, self.param_dtype))


# PyTorch's momentum 0.1: the running averages keep 0.9 of their old value.
BATCH_NORM_MOMENTUM = 0.9


def unbiased_running_variance(old_var, x):
  """PyTorch's BatchNorm2d running-variance update in training mode, per channel of NHWC `x`:
  m * old + (1 - m) * var_unbiased(x), var_unbiased = n / (n - 1) * the biased variance over
  the n = N * H * W values of each channel (m = 0.9). Normalisation itself uses the biased
  variance (flax and PyTorch alike); only the running average differs from flax's update.
  """
  n = x.size // x.shape[-1]
  if n < 2:
    raise ValueError(f"batch norm in training mode needs more than one value per channel, got "
                     f"an input of shape {x.shape} (PyTorch refuses it too)")
  dtype = jnp.promote_types(old_var.dtype, jnp.float32)
  var = jnp.var(x.astype(dtype), axis=tuple(range(x.ndim - 1))) * (n / (n - 1))
  return (BATCH_NORM_MOMENTUM * old_var + (1 - BATCH_NORM_MOMENTUM) * var).astype(old_var.dtype)


class RunningInstanceNorm(nn.Module):
  """`nn.InstanceNorm2d(C, affine=True, track_running_stats=True)` on NHWC (StarGAN).

  Training mode (`use_running_average=False`, PyTorch's `.train()`): each
  sample and channel is normalised by its own mean and biased variance over
  H, W (eps 1e-5), then scaled and shifted (scale 1, bias 0 at init). When the
  `batch_stats` collection is mutable, the running statistics are updated as
  PyTorch updates them: mean <- 0.9 mean + 0.1 * (batch mean of the
  per-sample means), var <- 0.9 var + 0.1 * (batch mean of the per-sample
  UNBIASED variances, n = H * W). Eval mode (`use_running_average=True`,
  PyTorch's `.eval()`): the running mean and variance normalise every sample.
  Statistics are reduced in float32 at least (float64 inputs stay float64).
  """

  dtype: Dtype = None  # computation dtype; None: that of the inputs and parameters
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
    if use_running_average:
      mean = mean_v.value.astype(stat_dtype)
      var = var_v.value.astype(stat_dtype)
    else:
      mean = jnp.mean(xs, axis=(1, 2), keepdims=True)
      var = jnp.mean(jnp.square(xs - mean), axis=(1, 2), keepdims=True)
      if not self.is_initializing() and self.is_mutable_collection("batch_stats"):
        n = x.shape[1] * x.shape[2]
        if n < 2:
          raise ValueError(f"instance norm with running statistics needs more than one value "
                           f"per channel, got an input of shape {x.shape} (PyTorch refuses it too)")
        m = BATCH_NORM_MOMENTUM
        batch_mean = jnp.mean(mean[:, 0, 0], axis=0)
        batch_var = jnp.mean(var[:, 0, 0], axis=0) * (n / (n - 1))
        mean_v.value = (m * mean_v.value + (1 - m) * batch_mean).astype(mean_v.value.dtype)
        var_v.value = (m * var_v.value + (1 - m) * batch_var).astype(var_v.value.dtype)
    y = (xs - mean) * jax.lax.rsqrt(var + 1e-5)
    y = y * scale.astype(stat_dtype) + bias.astype(stat_dtype)
    out_dtype = self.dtype or jnp.promote_types(x.dtype, self.param_dtype)
    return y.astype(out_dtype)


def at_least_float32(x):
  """x in float32, or in its own dtype when that is wider (float64 runs stay float64)."""
  return x.astype(jnp.promote_types(x.dtype, jnp.float32))


def instance_normalize(x, eps: float = 1e-5):
  """(x - mean) / sqrt(var + eps) over H, W per sample and channel (biased variance, as
  `nn.InstanceNorm2d`), in float32 at least (`at_least_float32`)."""
  x32 = at_least_float32(x)
  mean = jnp.mean(x32, axis=(1, 2), keepdims=True)
  var = jnp.mean(jnp.square(x32 - mean), axis=(1, 2), keepdims=True)
  return (x32 - mean) * jax.lax.rsqrt(var + eps)


def reflect_pad(x: jax.Array, pad: int) -> jax.Array:
  """`nn.ReflectionPad2d(pad)` on an NHWC tensor."""
  return jnp.pad(x, ((0, 0), (pad, pad), (pad, pad), (0, 0)), mode="reflect")


class Conv(nn.Module):
  """PyTorch-style Conv2d: explicit padding (zero or reflect), then VALID conv.

  Attributes:
    features: output channels.
    kernel: square kernel size.
    stride: stride.
    padding: pixels padded on each side.
    pad_mode: 'zero' or 'reflect'.
    use_bias: whether the conv has a bias.
    kernel_init: kernel initialiser (default N(0, 0.02)); biases start at 0.

  Parameters live under a `Conv2d` submodule "conv" as {"kernel" [k, k, in,
  out], "bias" [out]}, the layout of `flax.linen.Conv`.
  """

  features: int
  kernel: int
  stride: int = 1
  padding: int = 0
  pad_mode: str = "zero"
  use_bias: bool = True
  kernel_init: Callable = normal_init()
  dtype: Dtype = None  # computation dtype; None: that of the inputs and parameters
  param_dtype: Dtype = jnp.float32

  @nn.compact
  def __call__(self, x):
    p = self.padding
    if self.pad_mode not in ("zero", "reflect"):
      raise ValueError(f"pad_mode must be 'zero' or 'reflect', got {self.pad_mode!r}")
    reflect = self.pad_mode == "reflect" and p > 0
    if reflect:
      x = reflect_pad(x, p)
    pads = ((0, 0), (0, 0)) if reflect else ((p, p), (p, p))
    return Conv2d(self.features, self.kernel, self.stride, pads, self.use_bias,
                  self.kernel_init, dtype=self.dtype, param_dtype=self.param_dtype,
                  name="conv")(x)


class Conv2d(nn.Module):
  """A zero-padded convolution with the parameters of `flax.linen.Conv`, computed by `ops.conv2d`.

  Parameters {"kernel" [k, k, in, out], "bias" [out]} live in the module
  itself, as in `nn.Conv(features, (k, k), strides=stride, padding=...)`;
  inputs, kernel and bias are promoted to a common dtype (`dtype`, or that of
  the inputs and parameters when None) as `nn.Conv` does.

  Attributes:
    features: output channels.
    kernel: square kernel size.
    stride: stride.
    padding: zeros on each side, an int or ((top, bottom), (left, right)).
    use_bias: whether there is a bias.
    kernel_init, bias_init: initialisers (default N(0, 0.02) and zeros).
  """

  features: int
  kernel: int
  stride: int = 1
  padding: Any = 0
  use_bias: bool = True
  kernel_init: Callable = normal_init()
  bias_init: Callable = nn.initializers.zeros
  dtype: Dtype = None  # computation dtype; None: that of the inputs and parameters
  param_dtype: Dtype = jnp.float32

  @nn.compact
  def __call__(self, x):
    k, p = self.kernel, self.padding
    pads = ((p, p), (p, p)) if isinstance(p, int) else p
    w = self.param("kernel", self.kernel_init, (k, k, x.shape[-1], self.features), self.param_dtype)
    b = (self.param("bias", self.bias_init, (self.features,), self.param_dtype)
         if self.use_bias else None)
    x, w, b = nn.dtypes.promote_dtype(x, w, b, dtype=self.dtype)
    y = conv2d(x, w, self.stride, pads)
    return y + b if b is not None else y


class ConvTranspose(nn.Module):
  """PyTorch ConvTranspose2d(kernel, stride, padding, output_padding), NHWC.

  The output side is (H - 1) * stride - 2 * padding + kernel + output_padding.
  Computed by `ops.conv_transpose`, without inserting zeros (tests/models
  compare it with the official network). The kernel is stored [kh, kw, out,
  in] (PyTorch's [in, out, kh, kw] transposed), under a submodule named "conv".
  """

  features: int
  kernel: int
  stride: int = 2
  padding: int = 1
  output_padding: int = 1
  use_bias: bool = True
  dtype: Dtype = None  # computation dtype; None: that of the inputs and parameters
  param_dtype: Dtype = jnp.float32

  @nn.compact
  def __call__(self, x):
    return _SubpixelConvTranspose(self.features, self.kernel, self.stride, self.padding,
                                  self.output_padding, self.use_bias, self.dtype,
                                  self.param_dtype, name="conv")(x)


class _SubpixelConvTranspose(nn.Module):
  """The kernel [k, k, out, in] and bias [out] of `ConvTranspose`, applied by `ops.conv_transpose`."""

  features: int
  kernel: int
  stride: int
  padding: int
  output_padding: int
  use_bias: bool
  dtype: Dtype
  param_dtype: Dtype

  @nn.compact
  def __call__(self, x):
    k, s, p = self.kernel, self.stride, self.padding
    w = self.param("kernel", normal_init(), (k, k, self.features, x.shape[-1]), self.param_dtype)
    b = (self.param("bias", nn.initializers.zeros, (self.features,), self.param_dtype)
         if self.use_bias else None)
    x, w, b = nn.dtypes.promote_dtype(x, w, b, dtype=self.dtype)
    out = tuple((d - 1) * s - 2 * p + k + self.output_padding for d in x.shape[1:3])
    y = conv_transpose(x, w, s, (p, p), out)
    return y + b if b is not None else y


def upsample_nearest(x: jax.Array, factor: int = 2) -> jax.Array:
  """Nearest-neighbour upsampling of NHWC by `factor` (torch `nn.Upsample(scale_factor=factor)`,
  `F.interpolate(mode='nearest')`): output pixel (i, j) is input pixel (i // factor, j // factor)."""
  return jnp.repeat(jnp.repeat(x, factor, axis=1), factor, axis=2)


def count_params(tree: Any) -> int:
  """Number of scalars in a pytree of arrays or ShapeDtypeStructs."""
  leaves = jax.tree_util.tree_leaves(tree)
  total = 0
  for leaf in leaves:
    size = 1
    for d in leaf.shape:
      size *= int(d)
    total += size
  return total


def leaky_relu(x, slope: float = 0.2):
  """LeakyReLU with PyTorch's `negative_slope`, 0.2 as in every model here."""
  return nn.leaky_relu(x, negative_slope=slope)


def torch_default_params(params: Any, key: jax.Array) -> Any:
  """Re-draws a flax param tree as freshly constructed PyTorch modules would hold it.

  Conv2d/Linear (`kernel`, optional `bias`): kernel ~ U(-b, b) (kaiming_uniform
  with a = sqrt(5)) and bias ~ U(-b, b), b = 1 / sqrt(fan_in), fan_in the
  product of all kernel dims but the last (flax kernels end in the output
  features). Norm layers (`scale`, `bias` without a kernel): ones and zeros.
  Other parameters keep their values. Used where an official model keeps a copy made before its custom init
  (StarGAN v2's EMA networks).
  """
  leaves = []

  def walk(node, path):
    if isinstance(node, dict) or hasattr(node, "items"):
      node = dict(node)
      if "kernel" in node:
        fan_in = int(np.prod(node["kernel"].shape[:-1]))
        leaves.append((path, fan_in, node))
        return
      if "scale" in node:
        leaves.append((path, 0, node))
        return
      for k, v in node.items():
        walk(v, path + (k,))

  walk(params, ())
  keys = iter(jax.random.split(key, 2 * max(1, len(leaves))))
  new = {}
  for path, fan_in, node in leaves:
    out = {}
    for name, value in node.items():
      if fan_in:
        b = 1.0 / np.sqrt(fan_in)
        out[name] = jax.random.uniform(next(keys), value.shape, value.dtype, -b, b)
      else:
        out[name] = (jnp.ones if name == "scale" else jnp.zeros)(value.shape, value.dtype)
    new[path] = out

  def rebuild(node, path):
    if path in new:
      return new[path]
    if not (isinstance(node, dict) or hasattr(node, "items")):
      return node  # a parameter of no Conv/Linear/norm layer (e.g. U-GAT-IT's rho) keeps its init
    return {k: rebuild(v, path + (k,)) for k, v in dict(node).items()}

  return rebuild(params, ())


# ---------------------------------------------------------------- spectral norm
SPECTRAL_NORM_EPS = 1e-12


def _normalize(x, eps: float = SPECTRAL_NORM_EPS):
  """`F.normalize(x, dim=0, eps)`: x / max(||x||_2, eps)."""
  return x / jnp.maximum(jnp.sqrt(jnp.sum(jnp.square(x))), eps)


def _unit_normal(module: nn.Module, size: int, dtype):
  """A N(0, 1) vector of `size`, normalised, drawn from the module's "params" rng at init."""
  return lambda: _normalize(jax.random.normal(module.make_rng("params"), (size,), dtype))


def spectral_normalize(module: nn.Module, kernel: jax.Array, matrix: jax.Array,
                       update: bool) -> jax.Array:
  """`torch.nn.utils.spectral_norm` (one power iteration, eps 1e-12) of a kernel of `module`.

  `matrix` is `kernel` as PyTorch's [out, rest] weight matrix (its `dim=0`
  reshape). The vectors u [out] and v [rest] live in the module's
  `batch_stats` collection ("u", "v"; PyTorch's `weight_u`, `weight_v`
  buffers), drawn N(0, 1) and normalised at init without any iteration, as
  PyTorch does. With `update` (PyTorch's training mode: every call) one power
  iteration v <- normalize(W^T u), u <- normalize(W v) runs first, without
  gradient, and the new vectors are stored when the collection is mutable;
  otherwise the stored ones are used. Returns kernel / sigma, sigma = u^T W v
  (gradients flow through W in both, not through u and v).
  """
  dtype = jnp.promote_types(matrix.dtype, jnp.float32)
  w = matrix.astype(dtype)
  u_var = module.variable("batch_stats", "u", _unit_normal(module, w.shape[0], dtype))
  v_var = module.variable("batch_stats", "v", _unit_normal(module, w.shape[1], dtype))
  u, v = u_var.value.astype(dtype), v_var.value.astype(dtype)
  if update and not module.is_initializing():
    wd = jax.lax.stop_gradient(w)
    v = _normalize(wd.T @ u)
    u = _normalize(wd @ v)
    if module.is_mutable_collection("batch_stats"):
      u_var.value, v_var.value = u.astype(u_var.value.dtype), v.astype(v_var.value.dtype)
  sigma = jnp.dot(u, w @ v)
  return (kernel.astype(dtype) / sigma).astype(kernel.dtype)


class SpectralConv2d(nn.Module):
  """`spectral_norm(nn.Conv2d(...))` on NHWC, zero padding `padding` (reflect-pad before).

  Parameters {"kernel" [k, k, in, out] (PyTorch's `weight_orig`), "bias"};
  batch_stats {"u" [out], "v" [in * k * k]} in PyTorch's order (`spectral_normalize`).
  `update`: one power iteration (training mode).
  """

  features: int
  kernel: int
  stride: int = 1
  padding: int = 0
  use_bias: bool = True
  dtype: Dtype = None
  param_dtype: Dtype = jnp.float32

  @nn.compact
  def __call__(self, x, *, update: bool):
    k, p = self.kernel, self.padding
    w = self.param("kernel", normal_init(), (k, k, x.shape[-1], self.features), self.param_dtype)
    b = (self.param("bias", nn.initializers.zeros, (self.features,), self.param_dtype)
         if self.use_bias else None)
    w = spectral_normalize(self, w, jnp.transpose(w, (3, 2, 0, 1)).reshape(self.features, -1),
                           update)
    x, w, b = nn.dtypes.promote_dtype(x, w, b, dtype=self.dtype)
    y = conv2d(x, w, self.stride, ((p, p), (p, p)))
    return y + b if b is not None else y


class SpectralDense(nn.Module):
  """`spectral_norm(nn.Linear(in, features))`: params {"kernel" [in, features], "bias"},
  batch_stats {"u" [features], "v" [in]}. Returns (x W / sigma (+ b), the raw kernel), the
  raw kernel being what PyTorch's `module.parameters()` yields (`weight_orig`)."""

  features: int
  use_bias: bool = True
  dtype: Dtype = None
  param_dtype: Dtype = jnp.float32

  @nn.compact
  def __call__(self, x, *, update: bool):
    w = self.param("kernel", normal_init(), (x.shape[-1], self.features), self.param_dtype)
    b = (self.param("bias", nn.initializers.zeros, (self.features,), self.param_dtype)
         if self.use_bias else None)
    wn = spectral_normalize(self, w, w.T, update)
    xc, wc, bc = nn.dtypes.promote_dtype(x, wn, b, dtype=self.dtype)
    y = xc @ wc
    return (y + bc if bc is not None else y), w
