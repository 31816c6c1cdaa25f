"""Inversion by optimisation (`i2ijax.inversion`): L-BFGS reaches known minima, the
objective never rises, batched inversion equals per-image inversion, and feature /
pixel distances recover the latent that made an image."""

import jax
from jax import test_util as jtu
import jax.numpy as jnp
import numpy as np
import pytest

from i2ijax import inversion


def test_lbfgs_solves_a_quadratic_and_never_rises():
  with jax.enable_x64(True):
    rng = np.random.default_rng(0)
    m = rng.normal(size=(6, 6))
    a = jnp.asarray(m @ m.T + 0.5 * np.eye(6))
    b = jnp.asarray(rng.normal(size=6))

    def objective(z):
      return 0.5 * z @ a @ z - b @ z

    z, values = jax.jit(lambda z0: inversion.minimize_lbfgs(objective, z0, steps=30))(
        jnp.zeros(6))
    exact = np.linalg.solve(np.asarray(a), np.asarray(b))
    np.testing.assert_allclose(np.asarray(z), exact, rtol=0, atol=1e-8)
    assert values.shape == (31,)
    assert values[0] == 0.0
    assert np.all(np.diff(np.asarray(values)) <= 1e-12)
    np.testing.assert_allclose(values[-1], objective(jnp.asarray(exact)), rtol=1e-12)


def test_lbfgs_walks_the_rosenbrock_valley():
  with jax.enable_x64(True):
    def rosenbrock(z):
      return (1.0 - z[0]) ** 2 + 100.0 * (z[1] - z[0] ** 2) ** 2

    z, values = inversion.minimize_lbfgs(rosenbrock, jnp.array([-1.2, 1.0]), steps=60)
    np.testing.assert_allclose(np.asarray(z), [1.0, 1.0], atol=1e-6)
    assert values[-1] < 1e-12 < values[0]


def test_bad_settings_are_refused():
  with pytest.raises(ValueError, match="steps"):
    inversion.minimize_lbfgs(jnp.sum, jnp.zeros(2), steps=-1)
  with pytest.raises(ValueError, match="memory_size"):
    inversion.minimize_lbfgs(jnp.sum, jnp.zeros(2), steps=1, memory_size=0)
  with pytest.raises(ValueError, match="batch size"):
    inversion.invert(lambda z, y: z, inversion.pixel_distance, jnp.zeros((2, 1, 1, 1)),
                     jnp.zeros((3, 1)), jnp.zeros((2, 1)), steps=1)


def _generator_and_features():
  """A small conditional 'generator' G(z, y) = tanh of a linear map to 4x4x3 images,
  and a fixed random conv net as the feature extractor (an FR stand-in)."""
  rng = np.random.default_rng(1)
  w = jnp.asarray(rng.normal(size=(5, 48)) / np.sqrt(5))
  v = jnp.asarray(rng.normal(size=(2, 48)))
  kernel = jnp.asarray(rng.normal(size=(3, 3, 3, 8)) / 5.0)

  def generate(z, y):
    return jnp.tanh(0.7 * (z @ w + y @ v)).reshape(-1, 4, 4, 3)

  def features(images):
    h = jax.lax.conv_general_dilated(images, kernel, (1, 1), "SAME",
                                     dimension_numbers=("NHWC", "HWIO", "NHWC"))
    return jnp.tanh(h)

  return generate, features


def test_feature_inversion_recovers_the_latent_and_batches_like_single_images():
  with jax.enable_x64(True):
    generate, features = _generator_and_features()
    rng = np.random.default_rng(2)
    z_true = jnp.asarray(rng.normal(size=(3, 5)) * 0.5)
    y = jnp.asarray(np.eye(2)[[0, 1, 1]])
    targets = generate(z_true, y)
    z0 = z_true + jnp.asarray(rng.normal(size=(3, 5)) * 0.3)
    distance = inversion.feature_distance(features)
    run = jax.jit(lambda t, c, z: inversion.invert(generate, distance, t, c, z, steps=30))

    result = run(targets, y, z0)
    assert result.values.shape == (31, 3)
    values = np.asarray(result.values)
    assert np.all(np.diff(values, axis=0) <= 1e-12)
    assert np.all(values[-1] < 1e-3 * values[0])
    np.testing.assert_allclose(np.asarray(result.z), np.asarray(z_true), atol=1e-4)

    single = run(targets[1:2], y[1:2], z0[1:2])
    np.testing.assert_allclose(np.asarray(single.z[0]), np.asarray(result.z[1]), rtol=1e-10,
                               atol=1e-12)


def test_distances_and_their_gradients():
  with jax.enable_x64(True):
    generate, features = _generator_and_features()
    x = jnp.asarray(np.random.default_rng(3).uniform(-1, 1, size=(2, 4, 4, 3)))
    g = x.at[0, 0, 0, 0].add(0.3).at[1].multiply(0.5)
    expected = np.sqrt(np.sum(np.square(np.asarray(x - g)).reshape(2, -1), axis=1))
    np.testing.assert_allclose(np.asarray(inversion.pixel_distance(x, g)), expected, rtol=1e-12)
    np.testing.assert_allclose(np.asarray(inversion.pixel_distance(x, x)), [1e-12, 1e-12])
    assert np.all(np.isfinite(np.asarray(jax.grad(
        lambda t: inversion.pixel_distance(x, t).sum())(x))))

    distance = inversion.feature_distance(features)
    y = jnp.asarray(np.eye(2)[[0]])
    def objective(z):
      return distance(x[:1], generate(z[None], y))[0]
    jtu.check_grads(objective, (jnp.linspace(-1.0, 1.0, 5),), order=1,
                              modes=["rev"], eps=1e-6)
