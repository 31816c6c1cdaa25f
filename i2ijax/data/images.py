"""Reading, preprocessing and writing images (host side, numpy).

Images inside the library are float32 NHWC in [-1, 1]; on disk and in memory
before preprocessing they are uint8 HWC RGB.
"""

import os
import warnings

import numpy as np
from PIL import Image

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".ppm", ".bmp", ".tif", ".tiff", ".webp")


def list_images(directory: str) -> list[str]:
  """Sorted image files under `directory` (recursively), as the official `make_dataset`."""
  if not os.path.isdir(directory):
    raise FileNotFoundError(f"image directory not found: {directory}")
  paths = []
  for root, _, files in sorted(os.walk(directory)):
    paths += [os.path.join(root, f) for f in sorted(files) if f.lower().endswith(IMAGE_EXTENSIONS)]
  return paths


def to_rgb(image: Image.Image, name: str, channels: int = 3) -> np.ndarray:
  """uint8 [H, W, channels] from any PIL mode; warns when it converts."""
  target = "RGB" if channels == 3 else "L"
  if image.mode != target:
    warnings.warn(f"{name}: converting {image.mode} image to {target}", stacklevel=2)
    if image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info):
      image = image.convert("RGBA")
      background = Image.new("RGBA", image.size, (255, 255, 255, 255))
      image = Image.alpha_composite(background, image)  # transparent -> white, not black
    image = image.convert(target)
  array = np.asarray(image, dtype=np.uint8)
  return array[..., None] if array.ndim == 2 else array


def load_image(path: str, channels: int = 3) -> np.ndarray:
  """Reads `path` as uint8 [H, W, channels]; a clear error for unreadable files."""
  try:
    with Image.open(path) as im:
      im.load()
      return to_rgb(im, path, channels)
  except (OSError, ValueError) as e:
    raise ValueError(f"cannot read image {path}: {e}") from e


def resize(image: np.ndarray, height: int, width: int) -> np.ndarray:
  """Bicubic resize of uint8 [H, W, C] (PIL, as torchvision's default on PIL images)."""
  if image.shape[:2] == (height, width):
    return image
  mode = "L" if image.shape[2] == 1 else "RGB"
  out = Image.fromarray(image[..., 0] if mode == "L" else image, mode).resize(
      (width, height), Image.BICUBIC)
  out = np.asarray(out, np.uint8)
  return out[..., None] if out.ndim == 2 else out


def preprocess(image: np.ndarray, rng: np.random.Generator, *, mode: str, load_size: int,
               crop_size: int, flip: bool) -> np.ndarray:
  """The official `get_transform` for training: uint8 [H, W, C] -> float32 in [-1, 1].

  resize_and_crop: resize to load_size x load_size (bicubic), random crop
    crop_size; crop: random crop crop_size; none: sides rounded to multiples
    of 4. Then a horizontal flip with probability 0.5 if `flip`, and
    x / 127.5 - 1 (Normalize(0.5, 0.5)).
  """
  if mode == "resize_and_crop":
    image = resize(image, load_size, load_size)
  elif mode == "none":
    h, w = image.shape[:2]
    image = resize(image, max(4, round(h / 4) * 4), max(4, round(w / 4) * 4))
  elif mode != "crop":
    raise ValueError(f"data.preprocess must be resize_and_crop, crop or none, got {mode!r}")
  if mode != "none":
    h, w = image.shape[:2]
    if h < crop_size or w < crop_size:
      raise ValueError(f"image of size {h}x{w} is smaller than crop_size {crop_size}")
    y = int(rng.integers(0, h - crop_size + 1))
    x = int(rng.integers(0, w - crop_size + 1))
    image = image[y:y + crop_size, x:x + crop_size]
  if flip and rng.random() < 0.5:
    image = image[:, ::-1]
  return image.astype(np.float32) / 127.5 - 1.0


def to_uint8(images: np.ndarray) -> np.ndarray:
  """[-1, 1] floats -> uint8, rounding as `util.tensor2im`-style saving does."""
  return np.clip(np.round((np.asarray(images, np.float32) + 1.0) * 127.5), 0, 255).astype(np.uint8)


def make_grid(rows: list[list[np.ndarray]], pad: int = 2) -> np.ndarray:
  """Tiles equally sized uint8 [H, W, C] images into one uint8 image, row by row."""
  h, w, c = rows[0][0].shape
  n_cols = max(len(r) for r in rows)
  grid = np.full((len(rows) * (h + pad) + pad, n_cols * (w + pad) + pad, c), 255, np.uint8)
  for i, row in enumerate(rows):
    for j, im in enumerate(row):
      y, x = pad + i * (h + pad), pad + j * (w + pad)
      grid[y:y + h, x:x + w] = im
  return grid


def save_image(image: np.ndarray, path: str) -> None:
  """Writes uint8 [H, W, 1|3] to `path` atomically (tmp file + rename)."""
  os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
  tmp = path + ".tmp"
  Image.fromarray(image[..., 0] if image.shape[2] == 1 else image).save(
      tmp, format=os.path.splitext(path)[1][1:].upper().replace("JPG", "JPEG") or "PNG")
  os.replace(tmp, path)
