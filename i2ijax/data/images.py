"""Reading, preprocessing and writing images (host side, numpy).

Images inside the library are float32 NHWC in [-1, 1]; on disk and in memory
before preprocessing they are uint8 HWC RGB.
"""

import concurrent.futures
import dataclasses
import os

from absl import logging
import einops
import numpy as np
from PIL import Image

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".ppm", ".bmp", ".tif", ".tiff", ".webp")


def list_files(directory: str) -> list[str]:
  """Every file under `directory` (recursively), sorted as the official `make_dataset`."""
  if not os.path.isdir(directory):
    raise FileNotFoundError(f"image directory not found: {directory}")
  paths = []
  for root, dirs, files in os.walk(directory):
    dirs.sort()
    paths += [os.path.join(root, f) for f in sorted(files)]
  return paths


def list_images(directory: str) -> list[str]:
  """The files under `directory` with an image extension, sorted."""
  return [p for p in list_files(directory) if p.lower().endswith(IMAGE_EXTENSIONS)]


def to_array(image: Image.Image, channels: int = 3) -> tuple[np.ndarray, str | None]:
  """(uint8 [H, W, channels], what was converted or None) from any PIL mode.

  Transparency is composited on white (not black); 16-bit grayscale is scaled
  to 8 bits (x / 257) instead of being clipped; CMYK, palette, grayscale and
  the like go through PIL's conversion to RGB (or L for 1 channel).
  """
  target = "RGB" if channels == 3 else "L"
  note = None
  if image.mode != target:
    note = f"converted {image.mode} to {target}"
    if image.mode in ("I;16", "I;16B", "I;16L", "I", "F"):
      values = np.asarray(image, np.float64)
      scale = 257.0 if image.mode.startswith("I;16") or values.max() > 255 else 1.0
      image = Image.fromarray(np.clip(np.round(values / scale), 0, 255).astype(np.uint8), "L")
    elif image.mode in ("RGBA", "LA", "PA", "La", "RGBa") or (
        image.mode == "P" and "transparency" in image.info):
      image = image.convert("RGBA")
      background = Image.new("RGBA", image.size, (255, 255, 255, 255))
      image = Image.alpha_composite(background, image)
    image = image.convert(target)
  array = np.asarray(image, dtype=np.uint8)
  return (array[..., None] if array.ndim == 2 else array), note


def read_image(path: str, channels: int = 3) -> tuple[np.ndarray, str | None]:
  """(uint8 [H, W, channels], conversion note) of `path`; ValueError naming it if unreadable.

  The whole file is decoded, so truncated files fail here rather than later.
  """
  try:
    with Image.open(path) as im:
      im.load()
      return to_array(im, channels)
  except (OSError, ValueError, SyntaxError, Image.DecompressionBombError) as e:
    raise ValueError(f"cannot read image {path}: {e}") from e


def load_image(path: str, channels: int = 3) -> np.ndarray:
  """uint8 [H, W, channels] of `path`; logs one warning if it had to be converted."""
  array, note = read_image(path, channels)
  if note:
    logging.warning("%s: %s", path, note)
  return array


@dataclasses.dataclass
class ScannedFolder:
  """The usable images of a folder, and what was skipped or converted (path -> reason)."""
  directory: str
  paths: list[str]
  skipped: dict[str, str]
  converted: dict[str, str]

  def summary(self) -> str:
    return (f"{self.directory}: {len(self.paths)} usable images, {len(self.skipped)} skipped, "
            f"{len(self.converted)} converted")


def scan_folder(directory: str, channels: int = 3, min_size: int = 0,
                workers: int | None = None) -> ScannedFolder:
  """Decodes every file under `directory` once and sorts them into usable and skipped.

  Skipped, each named in one warning: files without an image extension, and
  files that cannot be decoded (truncated, corrupt, not an image). Converted
  (still used), each named in one warning: any mode other than the model's
  (grayscale, CMYK, RGBA, palette, 16-bit) and images with a side below
  `min_size` (they are upscaled at preprocessing). Then one summary line with
  the counts. A folder with no usable image raises ValueError at once.
  """
  files = list_files(directory)
  skipped, converted = {}, {}

  def check(path):
    if not path.lower().endswith(IMAGE_EXTENSIONS):
      return "not an image file (extension)", None
    try:
      array, note = read_image(path, channels)
    except ValueError as e:
      return str(e.__cause__ or e), None
    h, w = array.shape[:2]
    if min(h, w) < min_size:
      note = (note + "; " if note else "") + f"{h}x{w} is smaller than {min_size}: upscaled"
    return None, note

  workers = workers or min(16, (os.cpu_count() or 1) + 2)
  with concurrent.futures.ThreadPoolExecutor(workers) as pool:
    results = list(pool.map(check, files))
  paths = []
  for path, (problem, note) in zip(files, results):
    if problem:
      skipped[path] = problem
      logging.warning("skipping %s: %s", path, problem)
      continue
    paths.append(path)
    if note:
      converted[path] = note
      logging.warning("%s: %s", path, note)
  scanned = ScannedFolder(directory, paths, skipped, converted)
  if not paths:
    reasons = "; ".join(f"{os.path.basename(p)}: {r}" for p, r in list(skipped.items())[:5])
    raise ValueError(f"no usable image in {directory} ({len(files)} files"
                     f"{': ' + reasons if reasons else ''})")
  (logging.warning if skipped or converted else logging.info)("%s", scanned.summary())
  return scanned


def resize(image: np.ndarray, height: int, width: int,
           resample: int = Image.BICUBIC) -> np.ndarray:
  """Resize of uint8 [H, W, C] with PIL (bicubic by default, as the official pix2pix/CycleGAN)."""
  if image.shape[:2] == (height, width):
    return image
  mode = "L" if image.shape[2] == 1 else "RGB"
  out = Image.fromarray(image[..., 0] if mode == "L" else image, mode).resize(
      (width, height), resample)
  out = np.asarray(out, np.uint8)
  return out[..., None] if out.ndim == 2 else out


# StarGAN v2's RandomResizedCrop(img_size, scale=(0.8, 1.0), ratio=(0.9, 1.1)).
RANDOM_RESIZED_CROP_SCALE = (0.8, 1.0)
RANDOM_RESIZED_CROP_RATIO = (0.9, 1.1)


def random_resized_crop_box(height: int, width: int, rng: np.random.Generator,
                            scale=RANDOM_RESIZED_CROP_SCALE,
                            ratio=RANDOM_RESIZED_CROP_RATIO) -> tuple[int, int, int, int]:
  """(top, left, h, w) of torchvision's `RandomResizedCrop.get_params` for a height x width image.

  Up to 10 tries of an area fraction uniform in `scale` and an aspect ratio
  (w / h) log-uniform in `ratio`; a box that does not fit is retried. After
  10 misses, the center crop of the whole image clamped to `ratio`.
  """
  area = height * width
  log_ratio = (np.log(ratio[0]), np.log(ratio[1]))
  for _ in range(10):
    target_area = area * rng.uniform(scale[0], scale[1])
    aspect = float(np.exp(rng.uniform(log_ratio[0], log_ratio[1])))
    w = int(round(np.sqrt(target_area * aspect)))
    h = int(round(np.sqrt(target_area / aspect)))
    if 0 < w <= width and 0 < h <= height:
      top = int(rng.integers(0, height - h + 1))
      left = int(rng.integers(0, width - w + 1))
      return top, left, h, w
  in_ratio = width / height
  if in_ratio < min(ratio):
    w, h = width, int(round(width / min(ratio)))
  elif in_ratio > max(ratio):
    w, h = int(round(height * max(ratio))), height
  else:
    w, h = width, height
  return (height - h) // 2, (width - w) // 2, h, w


def crop_center(image: np.ndarray, height: int, width: int) -> np.ndarray:
  """The centre height x width window of uint8 [H, W, C], placed as torchvision's CenterCrop.

  The offsets are int(round((H - height) / 2)) and int(round((W - width) / 2))
  (Python's round, halves to even). The window must fit inside the image.
  """
  h, w = image.shape[:2]
  if height > h or width > w:
    raise ValueError(f"a {height}x{width} centre crop does not fit a {h}x{w} image")
  top, left = int(round((h - height) / 2.0)), int(round((w - width) / 2.0))
  return image[top:top + height, left:left + width]


def resize_short_side(image: np.ndarray, size: int, resample: int = Image.BILINEAR) -> np.ndarray:
  """uint8 [H, W, C] resized so its shorter side is `size`, the aspect ratio kept.

  As torchvision's Resize(int) (`_compute_resized_output_size`): the long
  side becomes int(size * long / short), truncated.
  """
  h, w = image.shape[:2]
  if h <= w:
    return resize(image, size, int(size * w / h), resample)
  return resize(image, int(size * h / w), size, resample)


def crop_offset_replicate(image: np.ndarray, size: int, offset) -> np.ndarray:
  """HomoInterpGAN's `util.center_crop(img, (size, size), bias=offset)`: the size x size
  window at rows (H - size) // 2 + offset[0] and columns (W - size) // 2 + offset[1],
  the image's edge pixels repeated where the window leaves it (cv2.BORDER_REPLICATE
  padding of |offset| on each side)."""
  h, w = image.shape[:2]
  dy, dx = (int(o) for o in offset)
  top, left = (h - size) // 2 + dy, (w - size) // 2 + dx
  rows = np.clip(np.arange(top, top + size), 0, h - 1)
  cols = np.clip(np.arange(left, left + size), 0, w - 1)
  if top < -abs(dy) or left < -abs(dx) or top + size > h + abs(dy) or left + size > w + abs(dx):
    raise ValueError(f"a {size}x{size} crop offset by {(dy, dx)} does not fit a {h}x{w} image "
                     "padded by the offset (config.data.center_crop, center_crop_offset)")
  return image[rows][:, cols]


def stretch_to_full_range(image: np.ndarray) -> np.ndarray:
  """scipy.misc.imresize's conversion of a float32 image (`bytescale`): uint8 values v ->
  uint8 floor((v - min) * (255 / (max - min)) + 0.5), in float32 as there, min and max over
  the whole image (a constant image becomes 0)."""
  x = image.astype(np.float32)
  lo, hi = x.min(), x.max()
  scale = np.float32(255.0 / (float(hi - lo) or 1.0))
  return (np.clip((x - lo) * scale, 0, 255) + np.float32(0.5)).astype(np.uint8)


# config.data.resize_filter -> PIL filter of the resize_and_crop resize (and its test resize).
RESIZE_FILTERS = {"bicubic": Image.BICUBIC, "bilinear": Image.BILINEAR}


def preprocess(image: np.ndarray, rng: np.random.Generator, *, mode: str, load_size: int,
               crop_size: int, flip: bool, randcrop_prob: float = 0.5,
               center_crop: int = 0, center_crop_offset=(0, 0),
               stretch: bool = False, resize_filter: str = "bicubic") -> np.ndarray:
  """The official training transforms: uint8 [H, W, C] -> float32 [h, w, C] in [-1, 1].

  pix2pix / CycleGAN (`get_transform`):
    resize_and_crop: resize to load_size x load_size (bicubic; U-GAT-IT's
      torchvision Resize: `resize_filter` "bilinear"), random crop
      crop_size; crop: random crop crop_size; none: sides rounded to
      multiples of 4. An image smaller than the crop is first upscaled
      (bicubic) so its short side equals crop_size.
  StarGAN v2 (`get_train_loader`), img_size = crop_size, load_size unused:
    random_resized_crop: with probability `randcrop_prob` a
      RandomResizedCrop(crop_size, scale=(0.8, 1.0), ratio=(0.9, 1.1)) (see
      `random_resized_crop_box`), then a resize to crop_size x crop_size;
      both bilinear, so the output is always crop_size x crop_size.
  MUNIT / UNIT (`get_data_loader_folder`, new_size = load_size):
    resize_short_and_crop: resize (bilinear) so the shorter side is
      load_size, keeping the aspect ratio (the long side truncated as
      torchvision's Resize(int) does), then a random crop of crop_size.
  StarGAN (`data_loader.get_loader`), image_size = crop_size, load_size unused:
    center_crop_resize: a horizontal flip with probability 0.5 if `flip`
      (first, on the whole image, as the official RandomHorizontalFlip),
      then a centre crop of side `center_crop` (CenterCrop: CelebA 178,
      RaFD 256; 0 = no crop), then a bilinear resize of the short side to
      crop_size (Resize(image_size), the long side truncated, see
      `resize_short_side`). Where the result is not square (center_crop 0
      and a non-square image) its centre crop_size x crop_size is kept. An
      image smaller than `center_crop` in a side is an error (CenterCrop
      would pad it with black instead). The output is crop_size x crop_size.
      A non-zero `center_crop_offset` (rows, columns) places the crop as
      HomoInterpGAN does instead (`crop_offset_replicate`: CelebA 160 with
      (0, 15), 15 columns right of the floor-halved centre, edge columns
      repeated where it leaves the image). `stretch` then stretches the
      crop's values to 0..255 before the resize (`stretch_to_full_range`),
      as HomoInterpGAN's scipy.misc.imresize of a float image does.
  Then (except center_crop_resize, flipped first) a horizontal flip with
  probability 0.5 if `flip`, and x / 127.5 - 1 (Normalize(0.5, 0.5)).
  """
  if mode == "center_crop_resize":
    if flip and rng.random() < 0.5:
      image = image[:, ::-1]
    if center_crop:
      h, w = image.shape[:2]
      if h < center_crop or w < center_crop:
        raise ValueError(f"a {h}x{w} image is smaller than config.data.center_crop="
                         f"{center_crop} (the centre crop of preprocess=center_crop_resize)")
      image = (crop_offset_replicate(image, center_crop, center_crop_offset)
               if any(center_crop_offset) else crop_center(image, center_crop, center_crop))
    if stretch:
      image = stretch_to_full_range(image)
    image = resize_short_side(image, crop_size)
    image = crop_center(image, crop_size, crop_size)
    return image.astype(np.float32) / 127.5 - 1.0
  if mode == "random_resized_crop":
    if rng.random() < randcrop_prob:
      top, left, h, w = random_resized_crop_box(image.shape[0], image.shape[1], rng)
      image = resize(image[top:top + h, left:left + w], crop_size, crop_size, Image.BILINEAR)
    image = resize(image, crop_size, crop_size, Image.BILINEAR)
  elif mode == "resize_and_crop":
    image = resize(image, load_size, load_size, RESIZE_FILTERS[resize_filter])
  elif mode == "resize_short_and_crop":
    image = resize_short_side(image, load_size)
  elif mode == "none":
    h, w = image.shape[:2]
    image = resize(image, max(4, round(h / 4) * 4), max(4, round(w / 4) * 4))
  elif mode != "crop":
    raise ValueError("data.preprocess must be resize_and_crop, crop, none, random_resized_crop, "
                     f"resize_short_and_crop or center_crop_resize, got {mode!r}")
  if mode in ("resize_and_crop", "crop", "resize_short_and_crop"):
    h, w = image.shape[:2]
    if h < crop_size or w < crop_size:  # too small to crop: upscale the short side to crop_size
      scale = crop_size / min(h, w)
      image = resize(image, max(crop_size, round(h * scale)), max(crop_size, round(w * scale)))
      h, w = image.shape[:2]
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
  """Tiles equally sized uint8 [H, W, C] images into one uint8 image, row by row.

  Rows shorter than the longest are filled with white; `pad` white pixels
  separate the images and frame the grid.
  """
  h, w, c = rows[0][0].shape
  n_cols = max(len(r) for r in rows)
  blank = np.full((h, w, c), 255, np.uint8)
  cells = np.stack([np.stack(list(r) + [blank] * (n_cols - len(r))) for r in rows])
  cells = np.pad(cells, ((0, 0), (0, 0), (pad, 0), (pad, 0), (0, 0)), constant_values=255)
  grid = einops.rearrange(cells, "r c h w ch -> (r h) (c w) ch")
  return np.pad(grid, ((0, pad), (0, pad), (0, 0)), constant_values=255)


def render_grid(grid) -> np.ndarray:
  """uint8 [H, W, 3] of a `registry.Grid`: its images with the row labels on the left and
  the column labels on top, in black on white (PIL's built-in font)."""
  from PIL import ImageDraw, ImageFont
  body = make_grid(grid.lines)
  if body.shape[2] == 1:
    body = np.repeat(body, 3, axis=2)
  font = ImageFont.load_default()
  draw = ImageDraw.Draw(Image.new("RGB", (1, 1)))
  text_w = lambda t: int(np.ceil(draw.textlength(t, font=font)))
  line_h = 12
  cell_h = grid.lines[0][0].shape[0] + 2
  cell_w = grid.lines[0][0].shape[1] + 2
  left = max(text_w(t) for t in grid.row_labels) + 6 if grid.row_labels else 0
  width = left + body.shape[1]
  places = column_label_places([text_w(t) for t in grid.col_labels or ()], cell_w, left, width)
  lines = max((line for _, line in places), default=-1) + 1
  top = lines * line_h + 4 if lines else 0
  canvas = Image.new("RGB", (width, top + body.shape[0]), "white")
  canvas.paste(Image.fromarray(body), (left, top))
  draw = ImageDraw.Draw(canvas)
  for i, label in enumerate(grid.row_labels):
    draw.text((3, top + 2 + i * cell_h + (cell_h - line_h) // 2), label, fill="black", font=font)
  for (x, line), label in zip(places, grid.col_labels or ()):
    draw.text((x, 2 + line * line_h), label, fill="black", font=font)
  return np.asarray(canvas)


def column_label_places(widths, cell_w: int, left: int, width: int,
                        gap: int = 4) -> list[tuple[int, int]]:
  """(x, header line) of each column label of pixel width `widths[j]` over cells `cell_w`
  wide starting at `left`, in a canvas `width` px wide: centred on its cell (moved inwards
  where it would leave the canvas), on the first header line where it keeps `gap` pixels
  from the labels already there (labels wider than their cells are staggered over several
  lines instead of overlapping)."""
  ends, places = [], []  # ends[line]: where the last label on that line ends
  for j, w in enumerate(widths):
    x = max(0, min(width - w, left + 2 + j * cell_w + (cell_w - 2 - w) // 2))
    line = next((k for k, end in enumerate(ends) if x >= end + gap), len(ends))
    if line == len(ends):
      ends.append(0)
    ends[line] = x + w
    places.append((x, line))
  return places


def pad_to_multiple(x: np.ndarray, multiple: int = 4) -> np.ndarray:
  """Pads [H, W, C] at the bottom/right so both sides are multiples of `multiple`.

  Reflect padding where the image is large enough, edge padding otherwise.
  """
  h, w = x.shape[:2]
  ph, pw = (-h) % multiple, (-w) % multiple
  mode = "reflect" if ph < h and pw < w else "edge"
  return np.pad(x, ((0, ph), (0, pw), (0, 0)), mode=mode)


def save_image(image: np.ndarray, path: str) -> None:
  """Writes uint8 [H, W, 1|3] to `path` atomically (tmp file + rename)."""
  os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
  tmp = path + ".tmp"
  Image.fromarray(image[..., 0] if image.shape[2] == 1 else image).save(
      tmp, format=os.path.splitext(path)[1][1:].upper().replace("JPG", "JPEG") or "PNG")
  os.replace(tmp, path)
