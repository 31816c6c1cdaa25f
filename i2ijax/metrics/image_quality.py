"""Full-reference image quality: PSNR and SSIM (pure jnp, batched NHWC).

Inputs are images on a common scale with a known `data_range` (255 for uint8
values, 2 for [-1, 1] images). Both functions return one value per image.
"""

import jax
import jax.numpy as jnp


def psnr(x: jax.Array, y: jax.Array, data_range: float = 255.0) -> jax.Array:
  """Peak signal-to-noise ratio, [N, H, W, C] x 2 -> [N] in dB.

  PSNR = 10 log10(R^2 / MSE), the MSE over all pixels and channels of an
  image; identical images give +inf.
  """
  x, y = jnp.asarray(x, jnp.float32), jnp.asarray(y, jnp.float32)
  mse = jnp.mean((x - y) ** 2, axis=(1, 2, 3))
  return 10.0 * jnp.log10(data_range**2 / mse)


def gaussian_window(size: int = 11, sigma: float = 1.5) -> jax.Array:
  """Normalised 1-D Gaussian of `size` taps."""
  r = jnp.arange(size, dtype=jnp.float32) - (size - 1) / 2
  w = jnp.exp(-0.5 * (r / sigma) ** 2)
  return w / w.sum()


def _filter_valid(x: jax.Array, window: jax.Array) -> jax.Array:
  """Separable 'valid' filtering of [N, H, W, C] by `window` along H then W, per channel."""
  n, h, w, c = x.shape
  k = window.shape[0]
  planes = x.transpose(0, 3, 1, 2).reshape(n * c, 1, h, w)
  dn = ("NCHW", "OIHW", "NCHW")
  planes = jax.lax.conv_general_dilated(planes, window.reshape(1, 1, k, 1), (1, 1), "VALID",
                                        dimension_numbers=dn)
  planes = jax.lax.conv_general_dilated(planes, window.reshape(1, 1, 1, k), (1, 1), "VALID",
                                        dimension_numbers=dn)
  return planes.reshape(n, c, h - k + 1, w - k + 1).transpose(0, 2, 3, 1)


def ssim(x: jax.Array, y: jax.Array, data_range: float = 255.0, *, window_size: int = 11,
         sigma: float = 1.5, k1: float = 0.01, k2: float = 0.03) -> jax.Array:
  """Structural similarity (Wang et al. 2004, eq. 13), [N, H, W, C] x 2 -> [N].

  SSIM = (2 mu_x mu_y + C1)(2 s_xy + C2) / ((mu_x^2 + mu_y^2 + C1)(s_x^2 + s_y^2 + C2)),
  with C1 = (k1 R)^2, C2 = (k2 R)^2 and local statistics under an 11x11
  Gaussian window (sigma 1.5), averaged over the positions where the window
  fits and over channels: the paper's settings, equal to scikit-image's
  `structural_similarity(gaussian_weights=True, use_sample_covariance=False)`.
  """
  x, y = jnp.asarray(x, jnp.float32), jnp.asarray(y, jnp.float32)
  if x.shape != y.shape or x.ndim != 4:
    raise ValueError(f"ssim needs two [N, H, W, C] arrays of one shape, got {x.shape}, {y.shape}")
  if min(x.shape[1:3]) < window_size:
    raise ValueError(f"ssim needs images of at least {window_size}x{window_size}, got "
                     f"{x.shape[1]}x{x.shape[2]}")
  win = gaussian_window(window_size, sigma)
  mu_x, mu_y = _filter_valid(x, win), _filter_valid(y, win)
  var_x = _filter_valid(x * x, win) - mu_x**2
  var_y = _filter_valid(y * y, win) - mu_y**2
  cov = _filter_valid(x * y, win) - mu_x * mu_y
  c1, c2 = (k1 * data_range) ** 2, (k2 * data_range) ** 2
  s = ((2 * mu_x * mu_y + c1) * (2 * cov + c2)) / ((mu_x**2 + mu_y**2 + c1) * (var_x + var_y + c2))
  return s.mean(axis=(1, 2, 3))
