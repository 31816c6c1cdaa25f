"""The embedded datasets, built from photographs that scikit-image ships (no network).

Unpaired: day photos (A) <-> the same kind of scene at night (B).
Paired: a degraded crop (A) -> the original crop (B): denoising (A has
Gaussian noise added), 4x super-resolution (A is the bicubic down/up-sampled
crop) or colorization (A is its luminance), with photos held out for the test
split.
Multi-domain (StarGAN v2): three photo gradings, each with a per-image style.

For the unpaired set, A is crops of one set of photos and B is crops of a disjoint set re-graded as night
(darkened with a gamma curve, cooled to blue, desaturated, with a vignette).
The two domains share no image, so the task is unpaired, and a working
CycleGAN visibly turns day crops into dark blue night and back.

For the multi-domain set (`style_domains`), every domain holds crops of the
same photos (`STYLE_PHOTOS`), cut independently per domain and per split, so
no image is in two domains or in both splits. Each crop gets its own random
style parameters (drawn uniformly in the ranges below), which is what a
StarGAN v2 style code should capture and a reference image should transfer:
  day      natural colours with a per-image exposure (gain 0.8..1.25),
           saturation (0.6..1.5) and warmth (red up / blue down by -0.12..0.12);
  night    `night_grade` with a per-image tint (hue 170..290 degrees: teal,
           blue, violet; HSV saturation 0.45..0.75), darkness (gamma 1.5..2.3,
           gain 0.6..1.0), a lift of the shadows towards the tint and a vignette;
  duotone  the luminance mapped linearly from a dark colour (HSV value
           0.06..0.2, saturation 0.4..0.8) to a light colour (value 0.88..1.0,
           saturation 0.15..0.45) of a per-image hue (any: sepia, rose, green,
           blue...; the light colour's hue within 25 degrees of the dark's),
           like a two-ink print: bright, one hue per image.
Night is dark and cool; duotone is as bright as day but has a single hue
per image; day has the photos' own varied colours.
"""

import colorsys

import numpy as np
from PIL import Image

from i2ijax.data.domains import ArrayDomain

# Photos in scikit-image's own data directory (no download needed).
DAY_PHOTOS = ("astronaut", "coffee", "rocket")
NIGHT_PHOTOS = ("chelsea", "stereo_motorcycle", "immunohistochemistry")


def _photo(name: str) -> np.ndarray:
  import skimage.data
  image = getattr(skimage.data, name)()
  if isinstance(image, tuple):  # stereo_motorcycle: (left, right, disparity)
    image = image[0]
  return np.asarray(image, np.uint8)[..., :3]


def night_grade(image: np.ndarray, tint=(0.45, 0.6, 1.0), lift=(0.0, 0.02, 0.1),
                gamma: float = 1.8) -> np.ndarray:
  """uint8 [H, W, 3] day image -> its 'night' version (uint8).

  Desaturated, darkened (x ** gamma), multiplied by the RGB `tint` (in [0, 1];
  the default is the fixed blue of the unpaired set), shadows lifted by
  `lift`, vignetted.
  """
  x = image.astype(np.float32) / 255.0
  gray = x.mean(-1, keepdims=True)
  x = 0.4 * x + 0.6 * gray  # desaturate
  x = x ** gamma  # darken the mid-tones
  x = x * np.asarray(tint, np.float32) + np.asarray(lift, np.float32)
  h, w = x.shape[:2]
  yy, xx = np.mgrid[-1:1:h * 1j, -1:1:w * 1j]
  x = x * (1.0 - 0.35 * (xx**2 + yy**2) / 2.0)[..., None]  # vignette
  return np.clip(x * 255.0 + 0.5, 0, 255).astype(np.uint8)


def _crops(photos, n: int, size: int, rng: np.random.Generator) -> list[np.ndarray]:
  out = []
  for i in range(n):
    photo = photos[i % len(photos)]
    h, w = photo.shape[:2]
    side = int(rng.integers(min(h, w) // 3, min(h, w) // 3 * 2 + 1))
    y, x = int(rng.integers(0, h - side + 1)), int(rng.integers(0, w - side + 1))
    crop = Image.fromarray(photo[y:y + side, x:x + side]).resize((size, size), Image.BICUBIC)
    out.append(np.asarray(crop, np.uint8))
  return out


def day_night_domains(n: int, size: int, split: str = "train"):
  """(A: n day crops, B: n night crops), uint8 [size, size, 3] each; fixed per split."""
  rng = np.random.default_rng({"train": 0, "test": 1}.get(split, 2))
  day = _crops([_photo(p) for p in DAY_PHOTOS], n, size, rng)
  night = [night_grade(c) for c in _crops([_photo(p) for p in NIGHT_PHOTOS], n, size, rng)]
  return (ArrayDomain(f"embedded-day:{split}", day), ArrayDomain(f"embedded-night:{split}", night))


# Multi-domain set: every domain is crops of these photos, re-graded.
STYLE_PHOTOS = ("astronaut", "coffee", "rocket", "chelsea", "stereo_motorcycle")
STYLE_DOMAINS = ("day", "night", "duotone")


def _hsv(hue_degrees: float, saturation: float, value: float) -> np.ndarray:
  return np.array(colorsys.hsv_to_rgb(hue_degrees / 360.0 % 1.0, saturation, value), np.float32)


def _to_uint8(x: np.ndarray) -> np.ndarray:
  return np.clip(x * 255.0 + 0.5, 0, 255).astype(np.uint8)


def day_style(image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
  """uint8 [H, W, 3] -> the same with a random exposure, saturation and warmth (uint8)."""
  exposure, saturation = rng.uniform(0.8, 1.25), rng.uniform(0.6, 1.5)
  warmth = rng.uniform(-0.12, 0.12)
  x = image.astype(np.float32) / 255.0
  gray = x.mean(-1, keepdims=True)
  x = (gray + saturation * (x - gray)) * exposure
  return _to_uint8(x * np.array([1.0 + warmth, 1.0, 1.0 - warmth], np.float32))


def night_style(image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
  """uint8 [H, W, 3] -> `night_grade` with a random cool tint and darkness (uint8)."""
  hue, sat = rng.uniform(170.0, 290.0), rng.uniform(0.45, 0.75)
  gamma, gain = rng.uniform(1.5, 2.3), rng.uniform(0.6, 1.0)
  tint = _hsv(hue, sat, 1.0)
  return night_grade(image, tint=gain * tint, lift=0.1 * tint ** 3, gamma=gamma)


def duotone_style(image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
  """uint8 [H, W, 3] -> its luminance mapped from a random dark to a light colour of one hue."""
  hue = rng.uniform(0.0, 360.0)
  dark = _hsv(hue, rng.uniform(0.4, 0.8), rng.uniform(0.06, 0.2))
  light = _hsv(hue + rng.uniform(-25.0, 25.0), rng.uniform(0.15, 0.45), rng.uniform(0.88, 1.0))
  luma = (image.astype(np.float32) / 255.0) @ np.array([0.299, 0.587, 0.114], np.float32)
  return _to_uint8(dark + (light - dark) * luma[..., None])


STYLES = {"day": day_style, "night": night_style, "duotone": duotone_style}


def style_domains(n: int, size: int, split: str = "train"):
  """(names, [ArrayDomain, ...]): n crops per domain of `STYLE_DOMAINS`, uint8 [size, size, 3].

  Label k is `names[k]` ("day", "night", "duotone"); see the module
  docstring for the styles. Fixed for a given (n, size, split); the crops
  of each domain and of each split are cut independently.
  """
  photos = [_photo(p) for p in STYLE_PHOTOS]
  split_seed = {"train": 20, "test": 21}.get(split, 22)
  domains = []
  for k, name in enumerate(STYLE_DOMAINS):
    rng = np.random.default_rng([split_seed, k])
    style = STYLES[name]
    domains.append(ArrayDomain(f"embedded-{name}:{split}",
                               [style(c, rng) for c in _crops(photos, n, size, rng)]))
  return list(STYLE_DOMAINS), domains


# Paired tasks: training photos and held-out test photos (no photo is in both).
PAIRED_TRAIN_PHOTOS = ("astronaut", "coffee", "chelsea", "stereo_motorcycle", "retina",
                       "hubble_deep_field")
PAIRED_TEST_PHOTOS = ("rocket", "immunohistochemistry")
PAIRED_TASKS = ("denoising", "super_resolution_4x", "colorization")
NOISE_SIGMA = 25.0  # denoising: Gaussian noise std on the 0..255 scale


def degrade(color: np.ndarray, task: str, rng: np.random.Generator) -> np.ndarray:
  """The input A of a pair whose target B is the uint8 [H, W, 3] `color`.

  denoising: additive white Gaussian noise of std 25 (0..255 scale), clipped
    and rounded to uint8 (the noisy input is the trivial baseline).
  super_resolution_4x: bicubic downsampling by 4 and bicubic upsampling back
    (the generator restores the detail; the input itself is the bicubic baseline).
  colorization: the luminance (PIL's ITU-R 601-2 `L`) in all three channels.
  """
  h, w = color.shape[:2]
  image = Image.fromarray(color)
  if task == "denoising":
    noisy = color.astype(np.float32) + rng.normal(0.0, NOISE_SIGMA, color.shape)
    return np.clip(np.round(noisy), 0, 255).astype(np.uint8)
  if task == "super_resolution_4x":
    small = image.resize((max(1, w // 4), max(1, h // 4)), Image.BICUBIC)
    return np.asarray(small.resize((w, h), Image.BICUBIC), np.uint8)
  if task == "colorization":
    return np.repeat(np.asarray(image.convert("L"))[..., None], 3, -1)
  raise ValueError(f"config.data.embedded_task={task!r} is not one of {list(PAIRED_TASKS)}")


def paired_domains(task: str, n: int, size: int, split: str = "train"):
  """(A: n degraded crops, B: the same n crops), uint8 [size, size, 3]; fixed per split."""
  if task not in PAIRED_TASKS:
    raise ValueError(f"config.data.embedded_task={task!r} is not one of {list(PAIRED_TASKS)}")
  photos = PAIRED_TRAIN_PHOTOS if split == "train" else PAIRED_TEST_PHOTOS
  rng = np.random.default_rng({"train": 10, "test": 11}.get(split, 12))
  color = _crops([_photo(p) for p in photos], n, size, rng)
  return (ArrayDomain(f"embedded-{task}-input:{split}", [degrade(c, task, rng) for c in color]),
          ArrayDomain(f"embedded-{task}-target:{split}", color))


def style_domain_features(images: np.ndarray) -> np.ndarray:
  """uint8 [N, H, W, 3] -> [N, 2]: mean brightness and log10 of the colour spread off one line.

  Day photos have full colour, night photos are dark, duotones lie on one line
  of RGB: these two numbers tell the embedded domains apart.
  """
  feats = []
  for image in np.asarray(images):
    x = image.reshape(-1, 3).astype(np.float64) / 255.0
    eigenvalues = np.linalg.eigvalsh(np.cov(x.T))  # ascending
    feats.append([x.mean(), np.log10(eigenvalues[1] / eigenvalues[2] + 1e-4)])
  return np.asarray(feats)


def fit_domain_classifier(domains):
  """A nearest-centroid classifier on `style_domain_features`, fitted on the images of `domains`.

  Returns predict(uint8 [N, H, W, 3]) -> int [N], domain k = domains[k]: a
  simple judge of which embedded domain an image (e.g. a translation) looks like.
  """
  feats = [style_domain_features(np.stack([d.load(i) for i in range(len(d))])) for d in domains]
  allf = np.concatenate(feats)
  mu, sd = allf.mean(0), allf.std(0) + 1e-12
  centroids = np.stack([((f - mu) / sd).mean(0) for f in feats])

  def predict(images):
    f = (style_domain_features(images) - mu) / sd
    return np.argmin(((f[:, None] - centroids) ** 2).sum(-1), axis=1)

  return predict
