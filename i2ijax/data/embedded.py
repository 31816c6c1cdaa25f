"""The embedded datasets, built from photographs that scikit-image ships (no network).

Unpaired: day photos (A) <-> the same kind of scene at night (B).
Paired: a degraded crop (A) -> the original crop (B): denoising (A has
Gaussian noise added), 4x super-resolution (A is the bicubic down/up-sampled
crop) or colorization (A is its luminance), with photos held out for the test
split.

For the unpaired set, A is crops of one set of photos and B is crops of a disjoint set re-graded as night
(darkened with a gamma curve, cooled to blue, desaturated, with a vignette).
The two domains share no image, so the task is unpaired, and a working
CycleGAN visibly turns day crops into dark blue night and back.
"""

import numpy as np
from PIL import Image

from i2ijax.data.sources import ArrayDomain

# Photos in scikit-image's own data directory (no download needed).
DAY_PHOTOS = ("astronaut", "coffee", "rocket")
NIGHT_PHOTOS = ("chelsea", "stereo_motorcycle", "immunohistochemistry")


def _photo(name: str) -> np.ndarray:
  import skimage.data
  image = getattr(skimage.data, name)()
  if isinstance(image, tuple):  # stereo_motorcycle: (left, right, disparity)
    image = image[0]
  return np.asarray(image, np.uint8)[..., :3]


def night_grade(image: np.ndarray) -> np.ndarray:
  """uint8 [H, W, 3] day image -> its 'night' version (uint8)."""
  x = image.astype(np.float32) / 255.0
  gray = x.mean(-1, keepdims=True)
  x = 0.4 * x + 0.6 * gray  # desaturate
  x = x ** 1.8  # darken the mid-tones
  x = x * np.array([0.45, 0.6, 1.0], np.float32) + np.array([0.0, 0.02, 0.1], np.float32)
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
