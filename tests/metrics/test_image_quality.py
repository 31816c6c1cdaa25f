"""PSNR and SSIM against hand-computed values and scikit-image's reference implementation."""

import numpy as np
import pytest
from skimage.metrics import peak_signal_noise_ratio, structural_similarity

from i2ijax.metrics.image_quality import psnr, ssim


def _pair(seed=0, shape=(2, 40, 48, 3)):
  rng = np.random.default_rng(seed)
  x = rng.integers(0, 256, shape).astype(np.uint8)
  noise = rng.normal(0, 20, shape)
  y = np.clip(x + noise, 0, 255).astype(np.uint8)
  return x, y


def test_psnr_hand_computed():
  x = np.zeros((1, 4, 4, 1), np.float32)
  y = np.full((1, 4, 4, 1), 10.0, np.float32)  # MSE 100 -> 10 log10(255^2 / 100)
  np.testing.assert_allclose(psnr(x, y), [10 * np.log10(255.0**2 / 100)], rtol=1e-6)
  assert np.isinf(psnr(x, x)[0])


def test_psnr_matches_skimage():
  x, y = _pair()
  ours = np.asarray(psnr(x, y))
  ref = [peak_signal_noise_ratio(a, b, data_range=255) for a, b in zip(x, y)]
  np.testing.assert_allclose(ours, ref, rtol=1e-5)


@pytest.mark.parametrize("channels", [1, 3])
def test_ssim_matches_skimage(channels):
  x, y = _pair(1, (2, 40, 48, channels))
  ours = np.asarray(ssim(x, y))
  ref = [structural_similarity(a, b, data_range=255, channel_axis=-1, gaussian_weights=True,
                               sigma=1.5, use_sample_covariance=False) for a, b in zip(x, y)]
  np.testing.assert_allclose(ours, ref, atol=2e-4)
  assert np.all(ours < 1.0)
  np.testing.assert_allclose(ssim(x, x), 1.0, atol=1e-5)


def test_ssim_rejects_small_or_mismatched_images():
  with pytest.raises(ValueError, match="at least 11x11"):
    ssim(np.zeros((1, 8, 8, 3)), np.zeros((1, 8, 8, 3)))
  with pytest.raises(ValueError, match="one shape"):
    ssim(np.zeros((1, 16, 16, 3)), np.zeros((1, 16, 17, 3)))
