"""Shared layers and the convolutions of i2ijax.ops against XLA's own formulations."""

import os

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from i2ijax import ops
from i2ijax.models.layers import Conv2d, ConvTranspose, Norm, upsample_nearest
from i2ijax.ops import conv as conv_ops
from tests.helpers import FIXTURES


@pytest.mark.parametrize("k,s,p,op,h,w", [
    (3, 2, 1, 1, 5, 7),  # the ResNet generator's upsampling
    (4, 2, 1, 0, 6, 5),  # U-Net / DCGAN style
    (3, 1, 1, 0, 4, 4),
    (5, 3, 2, 2, 4, 6),
    (3, 2, 0, 0, 3, 3),
])
@pytest.mark.parametrize("max_matmul_pixels", [0, 10**6], ids=["phase_kernel", "matmul"])
def test_conv_transpose_equals_dilated_convolution(k, s, p, op, h, w, max_matmul_pixels,
                                                   monkeypatch):
  """Both CPU formulations (chosen by map size) equal the zero-inserting reference."""
  monkeypatch.setattr(conv_ops, "MATMUL_CONV_TRANSPOSE_MAX_PIXELS", max_matmul_pixels)
  x = jax.random.normal(jax.random.key(0), (2, h, w, 3))
  ct = ConvTranspose(4, k, s, p, op)
  v = ct.init(jax.random.key(1), x)
  y = ct.apply(v, x)
  assert y.shape == (2, (h - 1) * s - 2 * p + k + op, (w - 1) * s - 2 * p + k + op, 4)
  lo = k - 1 - p
  ref = nn.ConvTranspose(4, (k, k), strides=(s, s), padding=((lo, lo + op), (lo, lo + op)),
                         transpose_kernel=True)
  y_ref = ref.apply({"params": v["params"]["conv"]}, x)
  np.testing.assert_allclose(y, y_ref, atol=1e-6)
  # Gradients agree as well.
  g = jax.grad(lambda x: jnp.sum(ct.apply(v, x) ** 2))(x)
  g_ref = jax.grad(lambda x: jnp.sum(ref.apply({"params": v["params"]["conv"]}, x) ** 2))(x)
  np.testing.assert_allclose(g, g_ref, atol=1e-5)


def test_instance_norm_is_per_sample_per_channel_biased_variance():
  x = jax.random.normal(jax.random.key(0), (2, 5, 6, 3)) * 3 + 1
  y = Norm("instance").apply({}, x)
  mean = x.mean(axis=(1, 2), keepdims=True)
  var = x.var(axis=(1, 2), keepdims=True)  # biased, as PyTorch's InstanceNorm2d
  np.testing.assert_allclose(y, (x - mean) / jnp.sqrt(var + 1e-5), atol=1e-5)


def _reference_conv(x, w, stride, pads):
  return jax.lax.conv_general_dilated(x, w, (stride, stride), pads,
                                      dimension_numbers=("NHWC", "HWIO", "NHWC"),
                                      precision=jax.lax.Precision.HIGHEST)


@pytest.mark.parametrize("n,h,k,stride,pads", [
    (1, 9, 3, 1, ((1, 1), (1, 1))),   # residual-block conv
    (3, 9, 3, 1, ((0, 0), (0, 0))),   # reflect-padded conv (padding done before), batch of 3
    (5, 6, 3, 1, ((1, 1), (1, 1))),   # a batch above PER_IMAGE_WEIGHT_GRAD_MAX_BATCH
    (2, 12, 7, 1, ((3, 3), (3, 3))),
    (2, 8, 2, 1, ((0, 1), (0, 1))),   # phase kernel of the transposed conv
    (2, 8, 3, 2, ((1, 1), (1, 1))),   # stride-2 downsampling
    (3, 9, 4, 2, ((1, 1), (1, 1))),   # PatchGAN, odd side
    (2, 7, 4, 1, ((1, 1), (1, 1))),   # PatchGAN stride-1 layers
    (1, 11, 5, 3, ((2, 0), (1, 2))),  # asymmetric padding, stride 3
])
def test_conv2d_value_and_gradients_equal_xla(n, h, k, stride, pads):
  """`conv2d` (the CPU forward/backward formulation) equals lax's convolution and its derivatives."""
  kx, kw, kg = jax.random.split(jax.random.key(0), 3)
  x = jax.random.normal(kx, (n, h, h + 1, 3))
  w = jax.random.normal(kw, (k, k, 3, 5))
  y_ref = _reference_conv(x, w, stride, pads)
  y = ops.conv2d(x, w, stride, pads)
  np.testing.assert_allclose(y, y_ref, rtol=1e-4, atol=1e-4)
  g = jax.random.normal(kg, y_ref.shape)
  dx, dw = jax.vjp(lambda a, b: ops.conv2d(a, b, stride, pads), x, w)[1](g)
  dx_ref, dw_ref = jax.vjp(lambda a, b: _reference_conv(a, b, stride, pads), x, w)[1](g)
  np.testing.assert_allclose(dx, dx_ref, rtol=1e-4, atol=1e-4)
  np.testing.assert_allclose(dw, dw_ref, rtol=1e-4, atol=1e-3)
  # Second order, as a gradient penalty takes it: d/dw of |dL/dx|^2.
  gp = lambda conv: jax.grad(lambda b: jnp.sum(jax.grad(
      lambda a: jnp.sum(jnp.tanh(conv(a, b, stride, pads))))(x) ** 2))(w)
  np.testing.assert_allclose(gp(ops.conv2d), gp(_reference_conv), rtol=1e-3, atol=1e-3)


def test_stock_convolutions_trace_the_plain_lax_derivatives():
  """FLOP counting (experiments/benchmark.py) sees the model's convolutions, not the CPU formulation."""
  x, w = jnp.ones((2, 8, 8, 3)), jnp.ones((3, 3, 3, 4))
  pads = ((1, 1), (1, 1))

  def primitives(conv):
    loss = lambda a, b: jnp.sum(conv(a, b) ** 2)
    return [e.primitive.name for e in jax.make_jaxpr(jax.grad(loss, (0, 1)))(x, w).jaxpr.eqns]

  stock = primitives(lambda a, b: jax.lax.conv_general_dilated(
      a, b, (1, 1), pads, dimension_numbers=("NHWC", "HWIO", "NHWC")))
  assert stock.count("conv_general_dilated") == 3  # forward, input gradient, weight gradient
  with ops.stock_convolutions():
    assert primitives(lambda a, b: ops.conv2d(a, b, 1, pads)) == stock
  assert primitives(lambda a, b: ops.conv2d(a, b, 1, pads)) != stock  # restored on exit


@pytest.mark.parametrize("dtype,param_dtype", [(None, jnp.float32), (jnp.bfloat16, jnp.float32),
                                               (None, jnp.bfloat16)])
@pytest.mark.parametrize("k,stride,p,use_bias", [(3, 1, 1, True), (1, 1, 0, True), (4, 2, 1, False)])
def test_conv2d_module_is_a_drop_in_for_flax_conv(k, stride, p, use_bias, dtype, param_dtype):
  """Same parameter tree, initial values, output and output dtype as `nn.Conv`."""
  x = jax.random.normal(jax.random.key(0), (2, 9, 8, 3))
  init = nn.initializers.variance_scaling(2.0, "fan_in", "normal")
  kw = dict(use_bias=use_bias, kernel_init=init, dtype=dtype, param_dtype=param_dtype)
  ours = Conv2d(5, k, stride, p, **kw)
  ref = nn.Conv(5, (k, k), (stride, stride), ((p, p), (p, p)), **kw)
  v = ours.init(jax.random.key(1), x)
  v_ref = ref.init(jax.random.key(1), x)
  assert jax.tree.map(lambda a: (a.shape, a.dtype), v) == jax.tree.map(lambda a: (a.shape, a.dtype), v_ref)
  jax.tree.map(np.testing.assert_array_equal, v, v_ref)
  if use_bias:  # a nonzero bias, to see it added
    v = {"params": {**v["params"], "bias": jnp.arange(5, dtype=param_dtype)}}
  y, y_ref = ours.apply(v, x), ref.apply(v, x)
  assert y.dtype == y_ref.dtype
  tol = 1e-5 if y.dtype == jnp.float32 else 5e-2
  np.testing.assert_allclose(np.asarray(y, np.float32), np.asarray(y_ref, np.float32),
                             rtol=tol, atol=tol)


@pytest.mark.parametrize("k", [0, 1, 2])
def test_batch_norm_running_statistics_are_pytorchs(k):
  """Three training-mode calls of Norm("batch") against PyTorch's BatchNorm2d (fixture made by
  tests/fixtures/make/batch_norm_running_stats.py): outputs, running mean and the running
  variance, which PyTorch updates with the unbiased batch variance (n / (n - 1) larger)."""
  fx = np.load(os.path.join(FIXTURES, "torch_batch_norm_running_stats.npz"))
  norm = Norm("batch")
  x0 = jnp.asarray(fx[f"{k}/x0"], jnp.float32)
  variables = norm.init(jax.random.key(0), x0)
  params = {"BatchNorm_0": {"scale": jnp.asarray(fx[f"{k}/scale"], jnp.float32),
                            "bias": jnp.asarray(fx[f"{k}/bias"], jnp.float32)}}
  stats = variables["batch_stats"]
  n = x0.size // x0.shape[-1]
  for t in range(3):
    x = jnp.asarray(fx[f"{k}/x{t}"], jnp.float32)
    y, updates = norm.apply({"params": params, "batch_stats": stats}, x, mutable=["batch_stats"])
    stats = updates["batch_stats"]
    np.testing.assert_allclose(y, fx[f"{k}/y{t}"], rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(stats["BatchNorm_0"]["mean"], fx[f"{k}/mean{t}"], rtol=1e-5,
                               atol=1e-6)
    np.testing.assert_allclose(stats["BatchNorm_0"]["var"], fx[f"{k}/var{t}"], rtol=1e-5)
  # flax's own update (the biased variance) would be measurably off here, most at small n.
  biased = 0.9 + 0.1 * np.var(fx[f"{k}/x0"].reshape(n, -1), axis=0)
  assert np.max(np.abs(biased - fx[f"{k}/var0"]) / fx[f"{k}/var0"]) > 1e-3
  # Eval mode reads the running averages and leaves them alone.
  y_eval = norm.apply({"params": params, "batch_stats": stats}, x, use_running_average=True)
  scale, bias = fx[f"{k}/scale"], fx[f"{k}/bias"]
  expect = (fx[f"{k}/x2"] - fx[f"{k}/mean2"]) / np.sqrt(fx[f"{k}/var2"] + 1e-5) * scale + bias
  np.testing.assert_allclose(y_eval, expect, rtol=1e-4, atol=1e-5)


def test_upsample_nearest_copies_each_pixel_into_a_factor_by_factor_block():
  """torch `nn.Upsample(scale_factor=f)` (nearest): out[f*i + a, f*j + b] = in[i, j] for 0 <= a, b < f."""
  x = np.arange(2 * 3 * 4 * 5, dtype=np.float32).reshape(2, 3, 4, 5)
  for f in (2, 3):
    y = np.asarray(upsample_nearest(jnp.asarray(x), f))
    assert y.shape == (2, 3 * f, 4 * f, 5)
    for a in range(f):
      for b in range(f):
        np.testing.assert_array_equal(y[:, a::f, b::f], x)


def test_batch_norm_statistics_follow_param_dtype():
  """Float64 runs keep float64 running statistics (flax's BatchNorm stores them in float32)."""
  with jax.enable_x64(True):
    x = jnp.asarray(np.random.default_rng(0).normal(size=(2, 3, 3, 4)), jnp.float64)
    norm = Norm("batch", param_dtype=jnp.float64)
    v = norm.init(jax.random.key(0), x)
    assert {a.dtype for a in jax.tree_util.tree_leaves(v)} == {jnp.dtype("float64")}
    _, upd = norm.apply(v, x, mutable=["batch_stats"])
    stats = upd["batch_stats"]["BatchNorm_0"]
    assert stats["var"].dtype == jnp.float64
    want = 0.9 + 0.1 * np.asarray(x).reshape(-1, 4).var(0, ddof=1)
    np.testing.assert_allclose(np.asarray(stats["var"]), want, rtol=1e-14)
