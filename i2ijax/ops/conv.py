"""Convolutions arranged for XLA:CPU, with the values of the plain lax ones.

`conv2d` is `lax.conv_general_dilated` on NHWC inputs and HWIO kernels;
`conv_transpose` is PyTorch's ConvTranspose2d. On accelerators `conv2d` is the
plain lax convolution. On the CPU both it and its derivatives are rewritten
into the forms XLA:CPU runs fastest (size-keeping stride-1 forward passes,
per-image weight gradients for small batches, the input gradient of a strided
convolution as a zero-free transposed convolution); `conv_transpose` never
inserts zeros. The numbers are those of the stock convolutions up to float
rounding (tests/models/test_layers.py).
"""

import contextlib
import functools

import jax
import jax.numpy as jnp
import numpy as np


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
