"""U-GAT-IT networks: official counts, AdaILN / ILN, spectral norm, the CAM block."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from i2ijax.models import ugatit
from i2ijax.models.layers import SpectralConv2d, SpectralDense, count_params
from tests.parity import load_fixture

# Counted with the official networks.py (the fixture script records them: meta/counts/...).
OFFICIAL_COUNTS = {"generator_full": 278_959_808, "generator_light": 10_589_888,
                   "discriminator_global": 53_130_176, "discriminator_local": 3_290_560}


def test_parameter_counts_at_the_official_defaults():
  fixture = load_fixture("ugatit")
  for name, n in OFFICIAL_COUNTS.items():
    assert int(fixture[f"meta/counts/{name}"]) == n, name
  x = jnp.zeros((1, 256, 256, 3))
  count = lambda module, **kw: count_params(
      jax.eval_shape(lambda k: module.init(k, x, **kw), jax.random.key(0))["params"])
  assert count(ugatit.ResnetGenerator(3, 64, 4, 256, light=False)) == 278_959_808
  assert count(ugatit.ResnetGenerator(3, 64, 4, 256, light=True)) == 10_589_888
  assert count(ugatit.Discriminator(64, 7)) == 53_130_176
  assert count(ugatit.Discriminator(64, 5)) == 3_290_560
  # 268,435,456 of the full generator's parameters are the MLP's first layer (64*64*256 -> 256).
  full = jax.eval_shape(lambda k: ugatit.ResnetGenerator(3, 64, 4, 256).init(k, x),
                        jax.random.key(0))["params"]
  assert full["FC_0"]["kernel"].shape == (64 * 64 * 256, 256)


def _unbiased_normalize(x, axes):
  mean = x.mean(axis=axes, keepdims=True)
  return (x - mean) / np.sqrt(x.var(axis=axes, ddof=1, keepdims=True) + 1e-5)


def test_adailn_is_instance_norm_at_rho_1_and_layer_norm_at_rho_0():
  """rho = 1: instance norm, rho = 0: layer norm, both with torch.var's unbiased variance."""
  x = np.random.default_rng(0).normal(size=(2, 5, 4, 3)) * 3 + 1
  gamma = np.array([[1.0, 2.0, 0.5], [0.1, -1.0, 3.0]])
  beta = np.array([[0.0, 1.0, -1.0], [2.0, 0.0, 0.5]])
  with jax.enable_x64(True):
    norm = ugatit.AdaILN(param_dtype=jnp.float64)
    params = norm.init(jax.random.key(0), x, gamma, beta)
    assert np.allclose(params["params"]["rho"], 0.9)
    for rho, axes in ((1.0, (1, 2)), (0.0, (1, 2, 3))):
      y = norm.apply({"params": {"rho": jnp.full(3, rho)}}, x, gamma, beta)
      want = _unbiased_normalize(x, axes) * gamma[:, None, None] + beta[:, None, None]
      np.testing.assert_allclose(y, want, rtol=1e-12, atol=1e-12)
    # The biased variance (flax's InstanceNorm) would differ visibly at 20 values per map.
    biased = (x - x.mean((1, 2), keepdims=True)) / np.sqrt(x.var((1, 2), keepdims=True) + 1e-5)
    y = norm.apply({"params": {"rho": jnp.ones(3)}}, x, np.ones((2, 3)), np.zeros((2, 3)))
    assert np.max(np.abs(np.asarray(y) - biased)) > 1e-2
    iln = ugatit.ILN(param_dtype=jnp.float64)
    p = iln.init(jax.random.key(0), x)["params"]
    assert (np.all(p["rho"] == 0) and np.all(p["gamma"] == 1) and np.all(p["beta"] == 0))
    half = iln.apply({"params": {**p, "rho": jnp.full(3, 0.5)}}, x)
    want = 0.5 * _unbiased_normalize(x, (1, 2)) + 0.5 * _unbiased_normalize(x, (1, 2, 3))
    np.testing.assert_allclose(half, want, rtol=1e-12, atol=1e-12)


def test_spectral_norm_is_one_torch_power_iteration_per_call():
  rng = np.random.default_rng(1)
  x = rng.normal(size=(1, 6, 6, 3))
  with jax.enable_x64(True):
    conv = SpectralConv2d(4, 3, param_dtype=jnp.float64)
    v = conv.init(jax.random.key(0), x, update=True)
    kernel, u0, v0 = (np.asarray(a) for a in (v["params"]["kernel"], v["batch_stats"]["u"],
                                              v["batch_stats"]["v"]))
    assert u0.shape == (4,) and v0.shape == (27,)
    np.testing.assert_allclose([np.linalg.norm(u0), np.linalg.norm(v0)], 1.0, rtol=1e-12)
    w = kernel.transpose(3, 2, 0, 1).reshape(4, -1)  # PyTorch's weight.view(out, -1)
    # Training mode: v = normalize(W^T u), u = normalize(W v), sigma = u^T W v.
    y, new = conv.apply(v, x, update=True, mutable=["batch_stats"])
    v1 = w.T @ u0 / np.linalg.norm(w.T @ u0)
    u1 = w @ v1 / np.linalg.norm(w @ v1)
    np.testing.assert_allclose(new["batch_stats"]["u"], u1, rtol=1e-12)
    np.testing.assert_allclose(new["batch_stats"]["v"], v1, rtol=1e-12)
    plain = jax.lax.conv_general_dilated(x, kernel / (u1 @ w @ v1), (1, 1), "VALID",
                                         dimension_numbers=("NHWC", "HWIO", "NHWC"))
    np.testing.assert_allclose(y, plain + v["params"]["bias"], rtol=1e-10, atol=1e-12)
    # Eval mode: the stored vectors, no iteration, nothing changes.
    y_eval = conv.apply(v, x, update=False)
    plain0 = jax.lax.conv_general_dilated(x, kernel / (u0 @ w @ v0), (1, 1), "VALID",
                                          dimension_numbers=("NHWC", "HWIO", "NHWC"))
    np.testing.assert_allclose(y_eval, plain0 + v["params"]["bias"], rtol=1e-10, atol=1e-12)
    # Repeated calls converge to the largest singular value.
    stats = v["batch_stats"]
    for _ in range(200):
      _, new = conv.apply({"params": v["params"], "batch_stats": stats}, x, update=True,
                          mutable=["batch_stats"])
      stats = new["batch_stats"]
    sigma = np.asarray(stats["u"]) @ w @ np.asarray(stats["v"])
    assert sigma == pytest.approx(np.linalg.svd(w, compute_uv=False)[0], rel=1e-8)
    # A linear layer returns its raw kernel beside the normalised output (the CAM weights).
    dense = SpectralDense(1, use_bias=False, param_dtype=jnp.float64)
    dv = dense.init(jax.random.key(1), x[:, 0, 0], update=True)
    (out, raw) = dense.apply(dv, x[:, 0, 0], update=False)
    np.testing.assert_array_equal(raw, dv["params"]["kernel"])
    wd = np.asarray(dv["params"]["kernel"]).T
    sigma = np.asarray(dv["batch_stats"]["u"]) @ wd @ np.asarray(dv["batch_stats"]["v"])
    np.testing.assert_allclose(out, x[:, 0, 0] @ wd.T / sigma, rtol=1e-12)


def test_generator_outputs_cam_logits_and_a_quarter_size_heatmap():
  g = ugatit.ResnetGenerator(3, 4, 1, 32, light=False)
  x = jnp.asarray(np.random.default_rng(0).uniform(-1, 1, (2, 32, 32, 3)), jnp.float32)
  params = g.init(jax.random.key(0), x)
  image, cam, heat = g.apply(params, x)
  assert image.shape == (2, 32, 32, 3) and cam.shape == (2, 2) and heat.shape == (2, 8, 8, 1)
  assert float(jnp.max(jnp.abs(image))) <= 1.0 and float(jnp.min(heat)) >= 0.0  # tanh; ReLU sum
  with pytest.raises(ValueError, match="takes 32x32 inputs"):
    g.apply(params, x[:, :16, :16])
  light = ugatit.ResnetGenerator(3, 4, 1, 32, light=True)
  lp = light.init(jax.random.key(0), x)
  assert light.apply(lp, x[:, :16, :16])[0].shape == (2, 16, 16, 3)  # any side: pooled MLP
