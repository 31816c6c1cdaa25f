"""Labelled digit images in two renderings: a source and a target domain of the same ten classes.

The embedded set (`embedded_digit_domain`) is built from scikit-learn's 8x8
digits (`sklearn.datasets.load_digits`: 1,797 handwritten digits, 16 grey
levels, shipped with scikit-learn, nothing downloaded). The images are split
once, by a fixed permutation, into two disjoint halves, one per domain, so no
handwritten digit is in both domains; the last fifth of each half is the
held-out "test" split, the rest "train". Each digit is rendered at 32x32:
  source  "street-number" style, RGB: the 8x8 digit upsampled by pixel
          repetition (blocky) to 16..24 px, at a per-image random position,
          in a random stroke colour on a random background colour of a
          different brightness (either polarity), with Gaussian pixel noise;
  target  "pen-stroke" style, grey (one channel): the digit upsampled
          smoothly (bicubic) to 20x20, contrast-stretched and centred on a
          black background (white strokes), as MNIST digits are.
Every random choice is drawn from the image's index (and, for further source
renderings of the same digit, `renderings`, the rendering's number), so the
images do not depend on the split or on the order of reading.

`tfds_digit_domain` reads a prepared TFDS digit set (`svhn_cropped`,
`mnist`) as the same kind of labelled domain, resized to a common side (the
DTN paper's SVHN -> MNIST setting at 32x32); nothing is downloaded.

A labelled domain has `name`, `len()`, `load(i) -> uint8 [H, W, C]`,
`label(i) -> int` and `channels`; `LabelledUnalignedExamples` draws the
unpaired training examples of a (labelled source, target) pair.
"""

import numpy as np
from PIL import Image

DOMAINS = ("source", "target")
SIZE = 32
TEST_FRACTION = 0.2
_SPLIT_SEED = 20170424  # the fixed permutation that splits the digits between the domains


def load_digits():
  """(images float [1797, 8, 8] in [0, 1], labels int [1797]) of scikit-learn's digits."""
  try:
    from sklearn.datasets import load_digits as sklearn_digits
  except ImportError as e:  # pragma: no cover - depends on the environment
    raise ImportError("the embedded digits need scikit-learn (`pip install scikit-learn`); "
                      "its 8x8 digits ship with it, nothing is downloaded") from e
  d = sklearn_digits()
  return d.images.astype(np.float64) / 16.0, d.target.astype(np.int64)


def digit_indices(domain: str, split: str, total: int = 1797) -> np.ndarray:
  """Indices into `load_digits()` of one domain's split ("train" or "test"): the even (source)
  or odd (target) positions of a fixed permutation; the last `TEST_FRACTION` of them are test."""
  if domain not in DOMAINS:
    raise ValueError(f"digit domain must be one of {list(DOMAINS)}, got {domain!r}")
  if split not in ("train", "test"):
    raise ValueError(f"digit split must be 'train' or 'test', got {split!r}")
  perm = np.random.default_rng(_SPLIT_SEED).permutation(total)
  half = perm[DOMAINS.index(domain)::2]
  n_test = int(round(len(half) * TEST_FRACTION))
  return half[:-n_test] if split == "train" else half[-n_test:]


def _resize(image: np.ndarray, size: int, resample) -> np.ndarray:
  """float [h, w] in [0, 1] -> float [size, size] (PIL, float mode)."""
  out = Image.fromarray(image.astype(np.float32), mode="F").resize((size, size), resample)
  return np.clip(np.asarray(out, np.float64), 0.0, 1.0)


def _luminance(rgb) -> float:
  return float(0.299 * rgb[0] + 0.587 * rgb[1] + 0.114 * rgb[2])


def render_source(digit: np.ndarray, rng: np.random.Generator, size: int = SIZE) -> np.ndarray:
  """float [8, 8] in [0, 1] -> uint8 [size, size, 3]: the "street-number" rendering (module
  docstring): blocky, 16..24 px at a random position, random colours, pixel noise."""
  side = int(rng.integers(2, 4)) * 8  # 16 or 24: pixel repetition by 2 or 3
  glyph = np.repeat(np.repeat(digit, side // 8, 0), side // 8, 1)
  top, left = (int(rng.integers(0, size - side + 1)) for _ in range(2))
  mask = np.zeros((size, size))
  mask[top:top + side, left:left + side] = glyph
  while True:
    bg, fg = rng.uniform(0.0, 1.0, 3), rng.uniform(0.0, 1.0, 3)
    if abs(_luminance(bg) - _luminance(fg)) > 0.4:
      break
  image = bg * (1.0 - mask[..., None]) + fg * mask[..., None]
  image = image + rng.normal(0.0, 0.04, image.shape)
  return np.round(255.0 * np.clip(image, 0.0, 1.0)).astype(np.uint8)


def render_target(digit: np.ndarray, size: int = SIZE) -> np.ndarray:
  """float [8, 8] in [0, 1] -> uint8 [size, size, 1]: the "pen-stroke" rendering (module
  docstring): smooth 20x20 white strokes centred on black."""
  inner = (size * 5) // 8  # 20 of 32, as MNIST's 20x20 box in 28
  glyph = np.clip(1.6 * _resize(digit, inner, Image.BICUBIC) - 0.15, 0.0, 1.0)
  image = np.zeros((size, size))
  o = (size - inner) // 2
  image[o:o + inner, o:o + inner] = glyph
  return np.round(255.0 * image).astype(np.uint8)[..., None]


class ArrayLabelledDomain:
  """Labelled images in memory: `load(i)` uint8 [H, W, C], `label(i)` int."""

  def __init__(self, name: str, images: np.ndarray, labels: np.ndarray):
    if len(images) != len(labels) or not len(images):
      raise ValueError(f"digit domain {name} needs as many labels as images (at least one), "
                       f"got {len(images)} images and {len(labels)} labels")
    self.name = name
    self.images = np.asarray(images, np.uint8)
    self.labels = np.asarray(labels, np.int64)
    self.channels = int(self.images.shape[-1])

  def __len__(self):
    return len(self.images)

  def load(self, i):
    return self.images[i]

  def label(self, i):
    return int(self.labels[i])


_EMBEDDED_CACHE: dict = {}


def source_rng(index: int, rendering: int = 0) -> np.random.Generator:
  """The random draws of rendering `rendering` of digit `index` in the source style (rendering 0
  is the one every split has)."""
  seed = [_SPLIT_SEED, int(index)] + ([int(rendering)] if rendering else [])
  return np.random.default_rng(seed)


def embedded_digit_domain(domain: str, split: str = "train", size: int = SIZE,
                          renderings: int = 1):
  """The embedded digits of `domain` ("source" / "target") and `split` ("train" / "test") at
  `size` px (module docstring), an `ArrayLabelledDomain`.

  renderings: how many source-style renderings of each handwritten digit (each its own
  position, size, colours and noise; the first is the single rendering of renderings=1), as
  a large source set (SVHN) shows each digit shape in many styles. The target style has one
  rendering per digit, so it must be 1 there.
  """
  renderings = int(renderings)
  if renderings < 1 or (domain != "source" and renderings != 1):
    raise ValueError(f"renderings={renderings} must be >= 1, and 1 for the target domain "
                     f"(got domain {domain!r})")
  key = (domain, split, size, renderings)
  if key not in _EMBEDDED_CACHE:
    digits, labels = load_digits()
    idx = digit_indices(domain, split, len(digits))
    if domain == "source":
      images = [render_source(digits[i], source_rng(i, r), size)
                for r in range(renderings) for i in idx]
    else:
      images = [render_target(digits[i], size) for i in idx]
    _EMBEDDED_CACHE[key] = ArrayLabelledDomain(f"digits:{domain}:{split}", np.stack(images),
                                               np.tile(labels[idx], renderings))
  return _EMBEDDED_CACHE[key]


def tfds_digit_domain(name: str, data_dir: str, split: str, channels: int, size: int = SIZE,
                      limit: int | None = None):
  """A prepared TFDS digit set (features "image", "label"), e.g. "svhn_cropped" (splits
  train / test / extra) or "mnist" (train / test), as an `ArrayLabelledDomain` of uint8
  [size, size, channels] images (bilinear resize where the side differs: MNIST's 28 -> 32,
  as the DTN reimplementation's `prepro.py`; grey repeated to RGB, or RGB's first channel kept).
  Nothing is downloaded: an unprepared set fails at once. With `limit`, only the split's first
  `limit` examples are read."""
  import tensorflow_datasets as tfds
  from i2ijax.data.sources import _tfds_builder, _tfds_check, _to_channels
  builder = _tfds_builder(name, data_dir, "a prepared TFDS data_dir")
  _tfds_check(builder, split, ("image", "label"))
  images, labels = [], []
  for ex in tfds.as_numpy(builder.as_dataset(split=f"{split}[:{int(limit)}]" if limit else split)):
    image = _to_channels(ex["image"], channels)
    if image.shape[:2] != (size, size):
      image = np.stack([np.asarray(Image.fromarray(image[..., c]).resize((size, size),
                                                                        Image.BILINEAR))
                        for c in range(channels)], -1)
    images.append(image)
    labels.append(int(ex["label"]))
  return ArrayLabelledDomain(f"{name}:{split}", np.stack(images), np.asarray(labels))


def to_unit(image: np.ndarray) -> np.ndarray:
  """uint8 -> float32 in [-1, 1]."""
  return np.asarray(image, np.float32) / 127.5 - 1.0


class LabelledUnalignedExamples:
  """Unpaired training examples of a labelled source and a target domain, by example index.

  An epoch is len(source) examples: the source visits a fresh permutation each
  epoch; the target image is drawn uniformly at random. Example g:
    A: float32 [H, W, C_source] in [-1, 1], label_A: int32 (its class);
    B: float32 [H, W, C_target] in [-1, 1].
  Example g depends only on (seed, g), so a resumed run sees the same data.
  """

  def __init__(self, source, target, *, seed: int):
    self.source, self.target = source, target
    self.seed = seed
    self.size = len(source)
    self._perm_cache = (None, None)

  def _perm(self, epoch: int) -> np.ndarray:
    if self._perm_cache[0] != epoch:
      self._perm_cache = (epoch, np.random.default_rng([self.seed, epoch, 1]).permutation(self.size))
    return self._perm_cache[1]

  def __call__(self, g: int) -> dict:
    epoch, pos = divmod(g, self.size)
    i = int(self._perm(epoch)[pos])
    j = int(np.random.default_rng([self.seed, g, 2]).integers(len(self.target)))
    return {"A": to_unit(self.source.load(i)), "label_A": np.int32(self.source.label(i)),
            "B": to_unit(self.target.load(j))}
