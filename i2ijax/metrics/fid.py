"""Fréchet distance (FID) and kernel distance (KID) between two sets of image features.

The features are any [N, D] arrays (for FID/KID proper, the 2048-d pool
features of the standard FID Inception network). Both distances are computed
on the host in float64, as the reference implementations do with numpy/scipy.

FID (Heusel et al. 2017, eq. 6): ||mu_1 - mu_2||^2 + Tr(S_1 + S_2 - 2 (S_1 S_2)^(1/2)),
with unbiased covariances (`np.cov`, ddof 1) as pytorch-fid and TTUR compute
them. Statistics stream: `FeatureStatistics.update` takes batches and keeps
only the count, the sum and the sum of outer products, so the features of a
large set never need to be held at once.

KID (Binkowski et al. 2018): the unbiased squared MMD with the cubic
polynomial kernel k(x, y) = (x.y / D + 1)^3, averaged over random subsets of
at most `subset_size` features of each set (100 subsets of 1,000 by default,
as the StyleGAN2-ADA and clean-fid implementations). It needs the features
themselves, not only their statistics.
"""

import numpy as np


class FeatureStatistics:
  """Running count, mean and covariance of feature vectors, fed in batches.

  Sums are accumulated in float64 around a shift (the first batch's mean), so
  the covariance stays accurate when the features have a large mean.
  """

  def __init__(self, dim: int):
    self.dim = dim
    self.count = 0
    self.shift = None
    self.sum = np.zeros(dim, np.float64)
    self.outer = np.zeros((dim, dim), np.float64)

  def update(self, features) -> "FeatureStatistics":
    """Adds a batch [n, dim] of features; returns self."""
    x = np.asarray(features, np.float64)
    if x.ndim != 2 or x.shape[1] != self.dim:
      raise ValueError(f"features must be [n, {self.dim}], got shape {x.shape}")
    if not len(x):
      return self
    if self.shift is None:
      self.shift = x.mean(0)
    x = x - self.shift
    self.count += len(x)
    self.sum += x.sum(0)
    self.outer += x.T @ x
    return self

  @property
  def mean(self) -> np.ndarray:
    return self.shift + self.sum / self.count

  @property
  def covariance(self) -> np.ndarray:
    """The unbiased covariance (divides by count - 1), as `np.cov(features, rowvar=False)`."""
    if self.count < 2:
      raise ValueError(f"a covariance needs at least 2 features, got {self.count}")
    centred_sum = self.sum / self.count
    return (self.outer - self.count * np.outer(centred_sum, centred_sum)) / (self.count - 1)


def frechet_distance(mu1, sigma1, mu2, sigma2) -> float:
  """FID from two means [D] and covariances [D, D].

  Tr((S_1 S_2)^(1/2)) is the sum of the square roots of the eigenvalues of the
  symmetric PSD matrix S_1^(1/2) S_2 S_1^(1/2), which equals scipy's
  `sqrtm(S_1 @ S_2)` trace without its complex intermediate steps; tiny
  negative eigenvalues from rounding are clipped to 0.
  """
  mu1, mu2 = np.asarray(mu1, np.float64), np.asarray(mu2, np.float64)
  s1, s2 = np.asarray(sigma1, np.float64), np.asarray(sigma2, np.float64)
  if mu1.shape != mu2.shape or s1.shape != s2.shape or s1.shape != mu1.shape * 2:
    raise ValueError(f"mismatched statistics: means {mu1.shape} {mu2.shape}, covariances "
                     f"{s1.shape} {s2.shape}")
  w, v = np.linalg.eigh((s1 + s1.T) / 2)
  root1 = (v * np.sqrt(np.clip(w, 0, None))) @ v.T
  middle = root1 @ s2 @ root1
  eig = np.linalg.eigvalsh((middle + middle.T) / 2)
  trace_sqrt = np.sum(np.sqrt(np.clip(eig, 0, None)))
  diff = mu1 - mu2
  return float(diff @ diff + np.trace(s1) + np.trace(s2) - 2.0 * trace_sqrt)


def fid_from_statistics(a: FeatureStatistics, b: FeatureStatistics) -> float:
  """FID between two streamed feature sets."""
  return frechet_distance(a.mean, a.covariance, b.mean, b.covariance)


def kernel_distance(features1, features2, *, num_subsets: int = 100, subset_size: int = 1000,
                    seed: int = 0) -> float:
  """KID: the unbiased MMD^2 with k(x, y) = (x.y / D + 1)^3, averaged over random subsets.

  Each subset draws m = min(|set 1|, |set 2|, subset_size) features from each
  set without replacement. Per subset
    MMD^2 = sum_{i != j} [k(x_i, x_j) + k(y_i, y_j)] / (m (m - 1)) - 2 sum_{i, j} k(x_i, y_j) / m^2.
  """
  x_all = np.asarray(features1, np.float64)
  y_all = np.asarray(features2, np.float64)
  if x_all.ndim != 2 or y_all.ndim != 2 or x_all.shape[1] != y_all.shape[1]:
    raise ValueError(f"features must be [n, D] with one D, got {x_all.shape} and {y_all.shape}")
  d = x_all.shape[1]
  m = min(len(x_all), len(y_all), subset_size)
  if m < 2:
    raise ValueError(f"KID needs at least 2 features per set, got {len(x_all)} and {len(y_all)}")
  rng = np.random.default_rng(seed)
  total = 0.0
  for _ in range(num_subsets):
    x = x_all[rng.choice(len(x_all), m, replace=False)]
    y = y_all[rng.choice(len(y_all), m, replace=False)]
    kxx = (x @ x.T / d + 1) ** 3
    kyy = (y @ y.T / d + 1) ** 3
    kxy = (x @ y.T / d + 1) ** 3
    within = (kxx.sum() - np.trace(kxx) + kyy.sum() - np.trace(kyy)) / (m * (m - 1))
    total += within - 2.0 * kxy.sum() / (m * m)
  return float(total / num_subsets)


def fid_of_features(features1, features2) -> float:
  """FID between two feature sets [N1, D] and [N2, D] (unbiased covariances, as `fid_from_statistics`).

  With fewer features than dimensions (max(N1, N2) <= D, e.g. a few hundred
  test images and D = 2048) it avoids the D x D matrix roots: for centred
  features scaled to A = (X - mu_X) / sqrt(N1 - 1) and B likewise, S_1 =
  A^T A and S_2 = B^T B, and the eigenvalues of S_1^(1/2) S_2 S_1^(1/2) are
  the squared singular values of A B^T, so Tr((S_1 S_2)^(1/2)) is the sum
  of the singular values of the N1 x N2 matrix A B^T (and Tr S_1 = |A|_F^2).
  Otherwise `fid_from_statistics`.
  """
  x, y = np.asarray(features1, np.float64), np.asarray(features2, np.float64)
  if x.ndim != 2 or y.ndim != 2 or x.shape[1] != y.shape[1]:
    raise ValueError(f"features must be [n, D] with one D, got {x.shape} and {y.shape}")
  if min(len(x), len(y)) < 2:
    raise ValueError(f"FID needs at least 2 features per set, got {len(x)} and {len(y)}")
  if max(len(x), len(y)) > x.shape[1]:
    stats = lambda f: FeatureStatistics(f.shape[1]).update(f)
    return fid_from_statistics(stats(x), stats(y))
  mx, my = x.mean(0), y.mean(0)
  a = (x - mx) / np.sqrt(len(x) - 1)
  b = (y - my) / np.sqrt(len(y) - 1)
  trace_sqrt = np.linalg.svd(a @ b.T, compute_uv=False).sum()
  diff = mx - my
  return float(diff @ diff + np.sum(a * a) + np.sum(b * b) - 2.0 * trace_sqrt)
