"""StarGAN networks: official parameter counts and the instance norm with running statistics."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from i2ijax.models.layers import RunningInstanceNorm, count_params
from i2ijax.models.stargan import Discriminator, Generator


def _counts(g_c_dim, d_c_dim, size=128):
  g = jax.eval_shape(lambda: Generator(c_dim=g_c_dim).init(
      jax.random.key(0), jnp.zeros((1, size, size, 3)), jnp.zeros((1, g_c_dim))))
  d = jax.eval_shape(lambda: Discriminator(image_size=size, c_dim=d_c_dim).init(
      jax.random.key(0), jnp.zeros((1, size, size, 3))))
  return count_params(g["params"]), count_params(d["params"]), count_params(g["batch_stats"])


@pytest.mark.parametrize("setting,g_c_dim,d_c_dim,g_count,d_count", [
    # CelebA: c_dim 5 (official print_network: G 8,430,528, D 44,762,048).
    ("celeba", 5, 5, 8_430_528, 44_762_048),
    # RaFD: c_dim 8; the first conv grows by 3 * 64 * 49, the class head by 3 * 2048 * 2 * 2.
    ("rafd", 8, 8, 8_430_528 + 3 * 64 * 49, 44_762_048 + 3 * 2048 * 4),
    # Both: G takes c_dim + c2_dim + 2 mask bits = 15, D classifies c_dim + c2_dim = 13.
    ("joint", 15, 13, 8_430_528 + 10 * 64 * 49, 44_762_048 + 8 * 2048 * 4),
])
def test_official_parameter_counts(setting, g_c_dim, d_c_dim, g_count, d_count):
  g, d, stats = _counts(g_c_dim, d_c_dim)
  assert (g, d) == (g_count, d_count), setting
  # Running mean and variance of the 15 instance norms (64 + 128 + 256 + 12 * 256 + 128 + 64).
  assert stats == 2 * (64 + 128 + 256 + 12 * 256 + 128 + 64)


def test_running_instance_norm_matches_pytorch_rule():
  rng = np.random.default_rng(0)
  x = rng.normal(2.0, 3.0, (3, 5, 4, 2))
  norm = RunningInstanceNorm(param_dtype=jnp.float64)
  with jax.enable_x64(True):
    v = norm.init(jax.random.key(0), jnp.asarray(x))
    params = {"scale": jnp.asarray([1.5, 0.5]), "bias": jnp.asarray([0.1, -0.2])}
    y, upd = norm.apply({"params": params, "batch_stats": v["batch_stats"]}, jnp.asarray(x),
                        mutable=["batch_stats"])
    mu = x.mean(axis=(1, 2), keepdims=True)
    var = x.var(axis=(1, 2), keepdims=True)
    want = (x - mu) / np.sqrt(var + 1e-5) * np.array([1.5, 0.5]) + np.array([0.1, -0.2])
    np.testing.assert_allclose(np.asarray(y), want, rtol=1e-12, atol=1e-12)
    # Running stats: 0.9 * init + 0.1 * batch mean of the per-sample mean / UNBIASED variance.
    unbiased = x.var(axis=(1, 2), ddof=1).mean(0)
    np.testing.assert_allclose(np.asarray(upd["batch_stats"]["mean"]), 0.1 * mu.mean((0, 1, 2)),
                               rtol=1e-12)
    np.testing.assert_allclose(np.asarray(upd["batch_stats"]["var"]), 0.9 + 0.1 * unbiased,
                               rtol=1e-12)
    # Eval mode normalises with the running statistics and changes nothing.
    stats = upd["batch_stats"]
    y_eval = norm.apply({"params": params, "batch_stats": stats}, jnp.asarray(x),
                        use_running_average=True)
    want = ((x - np.asarray(stats["mean"])) / np.sqrt(np.asarray(stats["var"]) + 1e-5)
            * np.array([1.5, 0.5]) + np.array([0.1, -0.2]))
    np.testing.assert_allclose(np.asarray(y_eval), want, rtol=1e-12, atol=1e-12)
    # Without a mutable collection the statistics are not touched (and no error is raised).
    norm.apply({"params": params, "batch_stats": stats}, jnp.asarray(x))


def test_generator_conditions_on_the_label_and_discriminator_shapes():
  g = Generator(conv_dim=4, c_dim=3, repeat_num=1)
  x = jnp.asarray(np.random.default_rng(0).uniform(-1, 1, (2, 16, 16, 3)), jnp.float32)
  c0, c1 = jnp.zeros((2, 3)), jnp.ones((2, 3))
  v = g.init(jax.random.key(0), x, c0)
  out0 = g.apply(v, x, c0, mutable=["batch_stats"])[0]
  out1 = g.apply(v, x, c1, mutable=["batch_stats"])[0]
  assert out0.shape == x.shape and float(jnp.max(jnp.abs(out0))) < 1.0
  assert float(jnp.max(jnp.abs(out0 - out1))) > 1e-4
  with pytest.raises(ValueError, match="labels of 3 values"):
    g.apply(v, x, jnp.zeros((2, 4)), mutable=["batch_stats"])
  d = Discriminator(image_size=16, conv_dim=4, c_dim=3, repeat_num=2)
  src, cls = d.apply(d.init(jax.random.key(1), x), x)
  assert src.shape == (2, 4, 4, 1) and cls.shape == (2, 3)
  with pytest.raises(ValueError, match="takes 16 x 16 images"):
    d.apply(d.init(jax.random.key(1), x), jnp.zeros((1, 32, 32, 3)))


@pytest.mark.parametrize("preset,g_count,d_count", [
    ("celeba", 8_430_528, 44_762_048),
    ("rafd", 8_430_528 + 3 * 64 * 49, 44_762_048 + 3 * 2048 * 4),
    ("both", 8_430_528 + 10 * 64 * 49, 44_762_048 + 8 * 2048 * 4),
])
def test_presets_build_the_official_networks(preset, g_count, d_count):
  from i2ijax.train import stargan
  from tests.helpers import load_config
  config = load_config("stargan", preset)
  shapes = jax.eval_shape(lambda: stargan.create_state(config, jax.random.key(0),
                                                       stargan.image_shapes(config), 1))
  assert (count_params(shapes.params["G"]), count_params(shapes.params["D"])) == (g_count,
                                                                                   d_count)
  assert set(stargan.image_shapes(config)) == ({"x", "x2"} if preset == "both" else {"x"})
