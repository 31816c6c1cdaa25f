"""Building blocks shared by every generator and discriminator.

All modules take NHWC inputs. The initialisers and norm/bias conventions follow
junyanz/pytorch-CycleGAN-and-pix2pix `models/networks.py` (`init_weights`,
`get_norm_layer`), which several later models reuse.
"""

import contextlib
import functools
from typing import Any, Callable

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

Dtype = Any
NORMS = ("instance", "batch", "none")


def normal_init(std: float = 0.02) -> Callable:
  """N(0, std) kernel initialiser (`init_weights(init_type='normal')`)."""
  return nn.initializers.normal(stddev=std)


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
  batch: BatchNorm2d(affine=True), eps 1e-5, PyTorch momentum 0.1 (flax 0.9);
    batch statistics when `use_running_average` is False.
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
      return nn.BatchNorm(
          use_running_average=use_running_average, momentum=0.9, epsilon=1e-5,
          scale_init=batch_norm_scale_init(), dtype=self.dtype,
          param_dtype=self.param_dtype)(x)
    return x


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

  Parameters live under a submodule "conv" as {"kernel" [k, k, in, out],
  "bias" [out]}, the layout of `flax.linen.Conv`.
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
    return _ConvKernel(self.features, self.kernel, self.stride, pads, self.use_bias,
                       self.kernel_init, self.dtype, self.param_dtype, name="conv")(x)


class _ConvKernel(nn.Module):
  """The kernel and bias of `Conv` (the `nn.Conv` parameter layout) applied by `conv2d`."""

  features: int
  kernel: int
  stride: int
  pads: tuple
  use_bias: bool
  kernel_init: Callable
  dtype: Dtype
  param_dtype: Dtype

  @nn.compact
  def __call__(self, x):
    k = self.kernel
    w = self.param("kernel", self.kernel_init, (k, k, x.shape[-1], self.features), self.param_dtype)
    b = (self.param("bias", nn.initializers.zeros, (self.features,), self.param_dtype)
         if self.use_bias else None)
    x, w, b = nn.dtypes.promote_dtype(x, w, b, dtype=self.dtype)
    y = conv2d(x, w, self.stride, self.pads)
    return y + b if b is not None else y


def _lax_conv(x, w, stride, pads):
  return jax.lax.conv_general_dilated(x, w, (stride, stride), pads,
                                      dimension_numbers=("NHWC", "HWIO", "NHWC"))


def conv2d(x: jax.Array, w: jax.Array, stride: int, pads) -> jax.Array:
  """Cross-correlation of NHWC `x` with HWIO `w`, zero padding `pads` ((top, bottom), (left, right)).

  Equal to `lax.conv_general_dilated`. On the CPU the forward and backward
  passes are arranged for XLA:CPU's fast paths (see `_conv_cpu`): there the
  stock backward pass of a convolution runs at a fraction of the forward
  speed, and the weight gradient of a batch far slower than that of its images.
  """
  pads = tuple((int(lo), int(hi)) for lo, hi in pads)
  if jax.default_backend() != "cpu" or not _CPU_FORMULATION[0]:
    return _lax_conv(x, w, stride, pads)
  return _conv_cpu(x, w, int(stride), pads)


_CPU_FORMULATION = [True]


@contextlib.contextmanager
def stock_convolutions():
  """Within this context `conv2d` traces to the plain lax convolution and its stock derivatives.

  The computed values are the same; used to count a model's convolution
  FLOPs independently of the CPU formulation (e.g. experiments/benchmark.py).
  It acts at trace time: a function jitted inside the context keeps the stock
  formulation in its compilation cache.
  """
  old = _CPU_FORMULATION[0]
  _CPU_FORMULATION[0] = False
  try:
    yield
  finally:
    _CPU_FORMULATION[0] = old


def _fast_forward(x, w, stride, pads):
  """The forward convolution on XLA:CPU.

  Stride-1 convolutions whose padding keeps the size run several times
  faster than others on XLA:CPU, so a stride-1 conv with an odd kernel pads
  zeros up to that size and crops the result back (the same numbers).
  """
  k = w.shape[0]
  if stride == 1 and k % 2 == 1:
    h = (k - 1) // 2
    extra = [(h - lo, h - hi) for lo, hi in pads]
    if all(a >= 0 and b >= 0 for a, b in extra):
      y = _lax_conv(x, w, 1, ((h, h), (h, h)))
      (t, bo), (l, r) = extra
      return y[:, t:y.shape[1] - bo, l:y.shape[2] - r]
  return _lax_conv(x, w, stride, pads)


# The batch sizes whose weight gradients are summed image by image (see _weight_grad).
PER_IMAGE_WEIGHT_GRAD_MAX_BATCH = 4


def _weight_grad(x, w, stride, pads, g):
  """dL/dw of the convolution, taken as the VALID convolution of the zero-padded input.

  On a single CPU device and small batches, the sum over images of each
  image's weight gradient (accumulated in at least float32): XLA:CPU computes the weight
  gradient of a batch several times slower than its images' (a 3x3 256->256
  conv on 64x64 maps: 130 ms for a batch of 2 against 2 x 24 ms). Sharded or
  large batches keep the single batched gradient, which slicing would gather.
  """
  xp = jax.lax.pad(x, jnp.zeros((), x.dtype), [(0, 0, 0)] + [(lo, hi, 0) for lo, hi in pads] + [(0, 0, 0)])
  grad = lambda xi, gi: jax.vjp(lambda v: _lax_conv(xi, v, stride, "VALID"), w)[1](gi)[0]
  n = x.shape[0]
  if n == 1 or n > PER_IMAGE_WEIGHT_GRAD_MAX_BATCH or jax.device_count() > 1:
    return grad(xp, g)
  acc = jnp.promote_types(w.dtype, jnp.float32)
  return sum(grad(xp[i:i + 1], g[i:i + 1]).astype(acc) for i in range(n)).astype(w.dtype)


def _input_grad(x, w, stride, pads, g):
  """dL/dx: for a strided conv the transposed convolution in phase form (no dilated conv)."""
  if stride == 1:
    return jax.vjp(lambda v: _lax_conv(v, w, 1, pads), x)[1](g)[0]
  # dx[i] = sum_{s o + t = i + lo} g[o] w[t]: PyTorch's ConvTranspose of g with
  # padding lo and kernel w read as [k, k, out=C_in, in=C_out].
  (top, _), (left, _) = pads
  return conv_transpose(g, w, stride, (top, left), x.shape[1:3])


@functools.partial(jax.custom_vjp, nondiff_argnums=(2, 3))
def _conv_cpu(x, w, stride, pads):
  return _fast_forward(x, w, stride, pads)


def _conv_cpu_fwd(x, w, stride, pads):
  return _fast_forward(x, w, stride, pads), (x, w)


def _conv_cpu_bwd(stride, pads, res, g):
  x, w = res
  return _input_grad(x, w, stride, pads, g), _weight_grad(x, w, stride, pads, g)


_conv_cpu.defvjp(_conv_cpu_fwd, _conv_cpu_bwd)


def _subpixel_taps(kernel: int, stride: int, padding: int):
  """Static tap table of a transposed conv split into `stride` phases per axis.

  PyTorch's ConvTranspose computes y[o] = sum_{o = s*i - p + t} x[i] w[t].
  Writing o = s*m + r, phase r is a plain correlation of x with taps
  w[r + p - s*d] at input offsets m + d. Returns (first offset d_min, length
  L, table [L, s] of tap indices with -1 where a phase has no tap).
  """
  d_min = -((kernel - 1 - padding) // stride)
  d_max = (stride - 1 + padding) // stride
  length = d_max - d_min + 1
  table = [[-1] * stride for _ in range(length)]
  for q in range(length):
    for r in range(stride):
      t = r + padding - stride * (q + d_min)
      if 0 <= t < kernel:
        table[q][r] = t
  return d_min, length, table


class ConvTranspose(nn.Module):
  """PyTorch ConvTranspose2d(kernel, stride, padding, output_padding), NHWC.

  The output side is (H - 1) * stride - 2 * padding + kernel + output_padding.
  Computed without inserting zeros: the kernel is split into stride x stride
  phase kernels, applied as one ordinary convolution with stride^2 * features
  outputs, and interleaved (depth to space). This is exactly the transposed
  convolution (tests/models compare it with the official network) and keeps
  both the forward and the backward pass free of dilated convolutions. The
  kernel is stored [kh, kw, out, in] (PyTorch's [in, out, kh, kw] transposed),
  under a submodule named "conv".
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


# On small maps with many channels (the inner U-Net levels) rebuilding the phase kernel costs
# far more than the convolution itself on CPU; there the matmul form is used. Measured on a
# 2-core CPU, forward / forward+backward: 2x2x1024 -> 4x4x512 210 / 473 ms (phase kernel) vs
# 7.5 / 7.9 ms (matmul); 16x16x1024 -> 32x32x256 67 / 167 vs 7.4 / 52 ms; on 32x32 and larger
# maps the phase-kernel convolution is faster.
MATMUL_CONV_TRANSPOSE_MAX_PIXELS = 16 * 16


def _matmul_conv_transpose(x, w, s: int, pads, out_size):
  """The transposed convolution as one matmul and an overlap-add (col2im).

  x [N, H, W, C_in], w [k, k, C_out, C_in]: every input pixel's k x k x C_out
  contribution x[n, i, j] . w is placed at rows i*s + a, columns j*s + b of
  the full (H - 1) s + k output (each tap (a, b) is one strided zero-interleave
  by lax.pad), the taps are summed, and the output window starting `pads`
  (top, left) into it, of `out_size`, is returned.
  """
  n, h, wd, _ = x.shape
  k = w.shape[0]
  z = jnp.einsum("nhwc,yxoc->nhwyxo", x, w)  # [N, H, W, k, k, C_out]
  (p_h, p_w), (out_h, out_w) = pads, out_size
  full_h, full_w = (h - 1) * s + k, (wd - 1) * s + k
  extra_h, extra_w = max(0, p_h + out_h - full_h), max(0, p_w + out_w - full_w)
  zero = jnp.zeros((), z.dtype)
  out = 0
  for a in range(k):
    for b in range(k):
      out = out + jax.lax.pad(z[:, :, :, a, b, :], zero, [
          (0, 0, 0), (a, full_h - a - (h - 1) * s - 1 + extra_h, s - 1),
          (b, full_w - b - (wd - 1) * s - 1 + extra_w, s - 1), (0, 0, 0)])
  return out[:, p_h:p_h + out_h, p_w:p_w + out_w]


def conv_transpose(x: jax.Array, w: jax.Array, stride: int, pads, out_size) -> jax.Array:
  """PyTorch's transposed convolution: y[o] = sum_{o = s i - p + t} x[i] w[t] per axis.

  x [N, H, W, C_in], w [k, k, C_out, C_in], `pads` the (top, left) padding p,
  `out_size` (H_out, W_out) (PyTorch: (H - 1) s - 2p + k + output_padding).
  Computed without inserting zeros: the kernel is split into s x s phase
  kernels applied as one ordinary stride-1 convolution with s^2 C_out outputs,
  then interleaved (depth to space); on small CPU maps as a matmul and an
  overlap-add. This is also the input gradient of a stride-s convolution.
  """
  s, k = stride, w.shape[0]
  n, h, wd, c_in = x.shape
  c_out = w.shape[2]
  out_h, out_w = out_size
  if h * wd <= MATMUL_CONV_TRANSPOSE_MAX_PIXELS and jax.default_backend() == "cpu":
    return _matmul_conv_transpose(x, w, s, pads, out_size)
  tables = [_subpixel_taps(k, s, p) for p in pads]
  (dh, lh, th), (dw, lw, tw) = tables
  th, tw = np.asarray(th), np.asarray(tw)  # [L, s] tap indices, -1 where a phase has none
  mask = jnp.asarray((th >= 0)[:, :, None, None] & (tw >= 0)[None, None, :, :], w.dtype)
  # phase kernel [L(qy), s(ry), L(qx), s(rx), out, in]
  wk = w[np.maximum(th, 0)[:, :, None, None], np.maximum(tw, 0)[None, None, :, :]] * mask[..., None, None]
  wk = wk.transpose(0, 2, 5, 1, 3, 4).reshape(lh, lw, c_in, s * s * c_out)
  m_h, m_w = -(-out_h // s), -(-out_w // s)
  conv_pads = [(-dh, m_h + lh - 1 - h + dh), (-dw, m_w + lw - 1 - wd + dw)]
  if min(min(pp) for pp in conv_pads) < 0:  # crop first (unusual padding > kernel - 1)
    x = jax.lax.pad(x, jnp.zeros((), x.dtype),
                    [(0, 0, 0)] + [(lo, hi, 0) for lo, hi in conv_pads] + [(0, 0, 0)])
    conv_pads = [(0, 0), (0, 0)]
  # Padding inside the conv keeps XLA:CPU on its fast path (the output has the input's size).
  y = conv2d(x, wk, 1, conv_pads)
  y = y.reshape(n, m_h, m_w, s, s, c_out).transpose(0, 1, 3, 2, 4, 5)
  return y.reshape(n, m_h * s, m_w * s, c_out)[:, :out_h, :out_w]


class _SubpixelConvTranspose(nn.Module):
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
  return nn.leaky_relu(x, negative_slope=slope)




def torch_default_params(params: Any, key: jax.Array) -> Any:
  """Re-draws a flax param tree as freshly constructed PyTorch modules would hold it.

  Conv2d/Linear (`kernel`, optional `bias`): kernel ~ U(-b, b) (kaiming_uniform
  with a = sqrt(5)) and bias ~ U(-b, b), b = 1 / sqrt(fan_in), fan_in the
  product of all kernel dims but the last (flax kernels end in the output
  features). Norm layers (`scale`, `bias` without a kernel): ones and zeros.
  Used where an official model keeps a copy made before its custom init
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
    return {k: rebuild(v, path + (k,)) for k, v in dict(node).items()}

  return rebuild(params, ())
