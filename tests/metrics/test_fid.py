"""FID and KID against direct numpy/scipy computations of the reference formulas."""

import itertools

import numpy as np
import pytest
import scipy.linalg

from i2ijax.metrics.fid import (FeatureStatistics, fid_from_statistics, frechet_distance,
                                kernel_distance)


def _features(n, d, seed, shift=0.0):
  """n correlated Gaussian features (one fixed mixing per d), mean `shift`."""
  mixing = np.random.default_rng(d).normal(size=(d, d)) / np.sqrt(d)
  return np.random.default_rng(seed).normal(size=(n, d)) @ mixing + shift


def _reference_fid(x, y):
  """The pytorch-fid / TTUR computation: np.cov, scipy sqrtm of the product, real part."""
  mu1, mu2 = x.mean(0), y.mean(0)
  s1, s2 = np.cov(x, rowvar=False), np.cov(y, rowvar=False)
  covmean = scipy.linalg.sqrtm(s1 @ s2).real
  return float(np.sum((mu1 - mu2) ** 2) + np.trace(s1) + np.trace(s2) - 2 * np.trace(covmean))


def test_fid_matches_the_scipy_reference():
  x, y = _features(300, 24, 0), _features(250, 24, 1, shift=0.3)
  ours = frechet_distance(x.mean(0), np.cov(x, rowvar=False), y.mean(0), np.cov(y, rowvar=False))
  assert ours == pytest.approx(_reference_fid(x, y), abs=1e-6)
  assert ours > 1.0


def test_fid_of_a_set_with_itself_is_zero():
  x = _features(400, 32, 2)
  a = FeatureStatistics(32).update(x)
  assert abs(fid_from_statistics(a, a)) < 1e-6


def test_streamed_statistics_equal_all_at_once():
  x = _features(301, 16, 3, shift=50.0)  # a large mean: the shifted sums keep precision
  stats = FeatureStatistics(16)
  for start in range(0, len(x), 37):
    stats.update(x[start:start + 37])
  assert stats.count == 301
  np.testing.assert_allclose(stats.mean, x.mean(0), rtol=0, atol=1e-10)
  np.testing.assert_allclose(stats.covariance, np.cov(x, rowvar=False), rtol=0, atol=1e-10)
  y = _features(200, 16, 4, shift=50.2)
  whole = frechet_distance(x.mean(0), np.cov(x, rowvar=False), y.mean(0), np.cov(y, rowvar=False))
  assert fid_from_statistics(stats, FeatureStatistics(16).update(y)) == pytest.approx(whole, abs=1e-6)
  with pytest.raises(ValueError, match=r"features must be \[n, 16\], got shape \(3, 15\)"):
    stats.update(np.zeros((3, 15)))


def test_kid_is_the_unbiased_polynomial_mmd():
  x, y = _features(9, 4, 5), _features(9, 4, 6, shift=0.5)
  k = lambda a, b: (a @ b / 4 + 1) ** 3
  m = 9
  within = sum(k(x[i], x[j]) + k(y[i], y[j]) for i, j in itertools.permutations(range(m), 2))
  across = sum(k(x[i], y[j]) for i in range(m) for j in range(m))
  expected = within / (m * (m - 1)) - 2 * across / m**2
  # One subset of all 9 features of each set (a permutation: the MMD does not depend on order).
  assert kernel_distance(x, y, num_subsets=1, subset_size=100) == pytest.approx(expected, abs=1e-6)


def test_kid_separates_distributions():
  x, x2 = _features(600, 16, 7), _features(600, 16, 8)
  y = _features(600, 16, 9, shift=0.5)
  same = kernel_distance(x, x2, num_subsets=20, subset_size=300)
  different = kernel_distance(x, y, num_subsets=20, subset_size=300)
  assert abs(same) < 0.05 * different
