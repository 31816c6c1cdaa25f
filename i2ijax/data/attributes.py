"""Attribute-labelled image sets (StarGAN; CelebA, RaFD, the embedded attribute set).

An attribute source (`AttributeSource`) has
  name          a description for messages;
  names         the K attribute names, in label order;
  groups        lists of label indices that are mutually exclusive categories
                (CelebA's hair colours, the embedded tints), [] if none;
  single_label  True where exactly one attribute is on (RaFD-like classes);
  len(), load(i) -> uint8 [H, W, 3], label(i) -> float32 [K] of 0/1.

Sources (`attribute_source` picks one from `config.data.source`):
  celeba         `CelebAAttributes`: `list_attr_celeba.txt` and its image
                 folder, with the official StarGAN split (below);
  class_folders  `ClassFolderAttributes`: RaFD's layout, one folder per class
                 (torchvision's ImageFolder), a one-hot label;
  tfds           `TfdsCelebAAttributes`: a prepared TFDS CelebA (`celeb_a`);
  embedded       `EmbeddedAttributes`: crops of scikit-image photos with
                 known, invertible edits as attributes (below), so the true
                 translation to any target label is computable;
  embedded_levels
                 `EmbeddedLevels`: the same crops with one edit at one of
                 `levels` strengths as a single label (ordinal classes, as
                 age groups are).

The official CelebA split (yunjey/stargan `data_loader.CelebA.preprocess`):
the lines after the two header lines of the attribute file are shuffled
with `random.seed(1234); random.shuffle(lines)`; the first 1,999 shuffled
lines ((i + 1) < 2000) are the test split, the rest the training split, each
in shuffled order. Label k of an image is (its value of attribute
selected[k] == 1).

The embedded attributes (`EMBEDDED_ATTRIBUTES`, label order): Warm_Tint,
Cool_Tint, Dark, Faded, Vignette; the two tints are one group (no tint,
warm or cool, as CelebA's hair colours). `render(clean, s)` applies them
with strengths s = (s0, s1, s2, s3, s4) in [0, 1] (s = the label for a
binary label) on x = clean / 255, per pixel, in this order:
  dark       x = x ** (1 + 1.5 s2)  (a gamma curve: the midtones darken,
             black and white stay; 0.5 -> 0.18 at full strength)
  vignette   x = x * (1 - s4 * min(1, 0.8 r^2)), r^2 = u^2 + v^2 with u, v
             evenly spaced from -1 (first column / row) to 1 (last): the
             centre keeps its value, the corners go to black at full strength
  faded      x = m + (1 - 0.8 s3) * (x - m), m the pixel's channel mean
             (chroma scaled down), then x = 0.5 + (1 - 0.5 s3) * (x - 0.5)
             (contrast lowered towards grey)
  warm tint  x = x * (1 + s0 * ((0.8, 0.7, 0.45) - 1)) + s0 * (0.2, 0.12, 0)
  cool tint  x = x * (1 + s1 * ((0.45, 0.7, 0.8) - 1)) + s1 * (0, 0.12, 0.2)
             (RGB gains and a colour cast: sepia-like, cyan-like)
then clipped to [0, 1] and rounded to uint8 (round(255 x)). Every step is a
per-pixel map that keeps [0, 1] in [0, 1], invertible wherever its scale is
not 0 (all but the vignette's corners), up to rounding; zero strengths leave
the image unchanged. All but dark are affine. Dark is a curve rather than a
gain because a global gain (or offset) in [-1, 1] is what an instance norm
after a bias-free convolution removes (StarGAN's generator): a network
built that way could not see how dark its input is, and so could not undo
it. The order keeps every edit visible on top of the others: the colour
casts come last, so a tint shows on a dark image too. Training and test
images carry random labels: no tint, warm or cool with probability 1/3 each,
each binary attribute on with probability `BINARY_PRIOR` (0.3).
"""

import os
import random
from typing import Protocol

from absl import logging
import numpy as np

from i2ijax.data import images as image_io
from i2ijax.data import sources

# StarGAN's default `--selected_attrs` and the attributes its test labels treat as one group.
CELEBA_DEFAULT_ATTRIBUTES = ("Black_Hair", "Blond_Hair", "Brown_Hair", "Male", "Young")
CELEBA_HAIR_COLORS = ("Black_Hair", "Blond_Hair", "Brown_Hair", "Gray_Hair")
CELEBA_SPLIT_SEED = 1234
CELEBA_TEST_IMAGES = 1999  # lines i with (i + 1) < 2000

EMBEDDED_ATTRIBUTES = ("Warm_Tint", "Cool_Tint", "Dark", "Faded", "Vignette")
EMBEDDED_GROUPS = [[0, 1]]
EMBEDDED_TRAIN_PHOTOS = ("astronaut", "coffee", "stereo_motorcycle", "hubble_deep_field",
                         "immunohistochemistry", "retina")
EMBEDDED_TEST_PHOTOS = ("chelsea", "rocket")
WARM_GAINS, WARM_CAST = (0.8, 0.7, 0.45), (0.2, 0.12, 0.0)
COOL_GAINS, COOL_CAST = (0.45, 0.7, 0.8), (0.0, 0.12, 0.2)
FADE_CHROMA, FADE_CONTRAST = 0.8, 0.5
DARK_GAMMA = 1.5  # the exponent at full strength is 1 + DARK_GAMMA
VIGNETTE = 0.8  # corners (r^2 = 2) black beyond r^2 = 1.25
BINARY_PRIOR = 0.3

SOURCES = ("embedded", "embedded_levels", "celeba", "class_folders", "tfds")


class AttributeSource(Protocol):
  name: str
  names: list[str]
  groups: list[list[int]]
  single_label: bool

  def __len__(self) -> int: ...

  def load(self, i: int) -> np.ndarray: ...

  def label(self, i: int) -> np.ndarray: ...


def _check_selected(selected, valid, where: str) -> list[str]:
  """`selected` as a list; ValueError naming config.model.attrs if empty, repeated or unknown."""
  selected = list(selected)
  if not selected:
    raise ValueError(f"config.model.attrs is empty: name attributes of {where}, e.g. "
                     f"{','.join(CELEBA_DEFAULT_ATTRIBUTES)}")
  repeated = sorted({a for a in selected if selected.count(a) > 1})
  if repeated:
    raise ValueError(f"config.model.attrs names {repeated} more than once")
  unknown = [a for a in selected if a not in valid]
  if unknown:
    raise ValueError(f"config.model.attrs: {unknown} not attributes of {where}; valid names: "
                     f"{', '.join(valid)}")
  return selected


def _hair_groups(selected) -> list[list[int]]:
  """[[indices of the selected hair colours]] if at least 2 are selected, else []."""
  hair = [k for k, a in enumerate(selected) if a in CELEBA_HAIR_COLORS]
  return [hair] if len(hair) >= 2 else []


class CelebAAttributes:
  """CelebA from its own files: `image_dir/<filename>` and `list_attr_celeba.txt` at `attr_path`.

  The attribute file: line 1 the image count, line 2 the attribute names,
  then `filename v1 ... vA` per image with values 1 / -1 (blank lines at the
  end are ignored). `split` "train" or "test" ("val" is the test split) as
  the official StarGAN split (see the module docstring); `selected` (the
  attribute names, config.model.attrs) gives label k = (value of selected[k]
  == 1). The whole file is checked and the split's images must exist at
  construction; images are decoded (to RGB) on `load`.
  """

  single_label = False

  def __init__(self, image_dir: str, attr_path: str,
               selected=CELEBA_DEFAULT_ATTRIBUTES, split: str = "train"):
    if split not in ("train", "test", "val"):
      raise ValueError(f"CelebA has a train and a test split, not {split!r}")
    if not attr_path:
      raise ValueError("config.data.attr_path is empty: set it to CelebA's list_attr_celeba.txt")
    if not os.path.isfile(attr_path):
      raise FileNotFoundError(f"config.data.attr_path={attr_path!r}: no such file (CelebA's "
                              "list_attr_celeba.txt)")
    if not image_dir:
      raise ValueError("config.data.path is empty: set it to CelebA's image folder "
                       "(img_align_celeba/)")
    if not os.path.isdir(image_dir):
      raise FileNotFoundError(f"config.data.path={image_dir!r} is not a directory (CelebA's "
                              "image folder, img_align_celeba/)")
    with open(attr_path) as f:
      lines = [line.rstrip() for line in f]
    while lines and not lines[-1].strip():
      lines.pop()
    if len(lines) < 3:
      raise ValueError(f"{attr_path} has {len(lines)} lines: expected the image count, the "
                       "attribute names and one line per image")
    if not lines[0].strip().isdigit():
      raise ValueError(f"{attr_path} line 1: {lines[0][:60]!r} is not the image count (is this "
                       "list_attr_celeba.txt?)")
    all_names = lines[1].split()
    self.all_names = all_names
    self.names = _check_selected(selected, all_names, f"{attr_path} (line 2)")
    self.groups = _hair_groups(self.names)
    columns = [all_names.index(a) for a in self.names]
    body = lines[2:]
    if int(lines[0]) != len(body):
      logging.warning("%s: line 1 says %s images, %d lines follow", attr_path, lines[0].strip(),
                      len(body))
    order = list(range(len(body)))  # shuffle's permutation depends only on the length
    random.Random(CELEBA_SPLIT_SEED).shuffle(order)
    order = order[:CELEBA_TEST_IMAGES] if split != "train" else order[CELEBA_TEST_IMAGES:]
    files, labels = [], np.zeros((len(order), len(columns)), np.float32)
    for row, j in enumerate(order):
      fields = body[j].split()
      where = f"{attr_path} line {j + 3}"
      if len(fields) != len(all_names) + 1:
        raise ValueError(f"{where}: {len(fields)} fields, expected a file name and "
                         f"{len(all_names)} values (one per attribute of line 2)")
      bad = [v for v in fields[1:] if v not in ("1", "-1")]
      if bad:
        raise ValueError(f"{where}: value {bad[0]!r} is not 1 or -1")
      files.append(fields[0])
      labels[row] = [fields[1 + c] == "1" for c in columns]
    self.name = f"celeba:{split}"
    self.split = split
    self.image_dir = image_dir
    self.files = files
    self.labels = labels
    present = set(os.listdir(image_dir))
    missing = [f for f in files if f not in present
               and not (os.sep in f and os.path.isfile(os.path.join(image_dir, f)))]
    if missing:
      raise FileNotFoundError(f"config.data.path={image_dir!r} lacks {len(missing)} of the "
                              f"{len(files)} {split} images listed in {attr_path}, e.g. "
                              f"{', '.join(missing[:3])}")

  def __len__(self):
    return len(self.files)

  def load(self, i):
    return image_io.read_image(os.path.join(self.image_dir, self.files[i]), 3)[0]

  def label(self, i):
    return self.labels[i].copy()


class ClassFolderAttributes:
  """RaFD's layout (torchvision ImageFolder): `path/<split>/<class>/**` images, one class each.

  The classes are the sub-folders in sorted order (hidden ones, ".name",
  ignored), at least 2; the label is the one-hot of the class. Where
  `path/<split>` does not exist, "train" uses `path` itself as the folder of
  classes and "test" uses `path/val`. Each class is a `sources.FolderDomain`
  (unusable files skipped and named at construction).
  """

  single_label = True

  def __init__(self, path: str, split: str = "train"):
    root, folder = path, split
    if split == "train" and path and not os.path.isdir(os.path.join(path, split)):
      # The official --rafd_image_dir names the folder of classes itself (data/RaFD/train).
      root, folder = os.path.dirname(os.path.normpath(path)), os.path.basename(os.path.normpath(path))
      if not os.path.isdir(path):
        root, folder = path, split  # let the shared scan name the missing directory
    self.names, self.classes = sources.folder_multi_domains(root, folder)
    self.name = os.path.dirname(self.classes[0].name)
    self.groups = [list(range(len(self.names)))]  # the classes exclude one another
    self._starts = np.cumsum([0] + [len(c) for c in self.classes])

  def __len__(self):
    return int(self._starts[-1])

  def _locate(self, i: int) -> tuple[int, int]:
    if not 0 <= i < len(self):
      raise IndexError(f"image {i} of {self.name} (it has {len(self)})")
    k = int(np.searchsorted(self._starts, i, side="right")) - 1
    return k, i - int(self._starts[k])

  def load(self, i):
    k, j = self._locate(i)
    return self.classes[k].load(j)

  def label(self, i):
    out = np.zeros(len(self.names), np.float32)
    out[self._locate(i)[0]] = 1.0
    return out


class TfdsCelebAAttributes:
  """A prepared TFDS CelebA (`celeb_a`): feature `image` and the booleans of `attributes`.

  Nothing is downloaded: an unprepared dataset fails at once and says how to
  provide it. `split` "train", "test" or "val" (TFDS "validation"); the
  images are kept encoded (JPEG bytes, `sources.EncodedDomain`) and decoded
  on `load`. Label k = attributes[selected[k]].
  """

  single_label = False

  def __init__(self, name: str = "celeb_a", data_dir: str = "", split: str = "train",
               selected=CELEBA_DEFAULT_ATTRIBUTES):
    import tensorflow_datasets as tfds
    try:
      builder = sources._tfds_builder(
          name, data_dir, "a folder with list_attr_celeba.txt (--config.data.attr_path=FILE)")
    except FileNotFoundError as e:  # CelebA's own files are the celeba source, not folder
      raise FileNotFoundError(str(e).replace("--config.data.source=folder",
                                             "--config.data.source=celeba")) from None
    split = {"val": "validation"}.get(split, split)
    sources._tfds_check(builder, split, ("image", "attributes"))
    features = builder.info.features
    attributes = features["attributes"]
    if not isinstance(attributes, tfds.features.FeaturesDict):
      raise ValueError(f"feature 'attributes' of TFDS dataset {builder.info.full_name} is "
                       f"{type(attributes).__name__}, not a dict of boolean attributes")
    self.names = _check_selected(selected, sorted(attributes.keys()),
                                 f"TFDS dataset {builder.info.full_name}")
    self.groups = _hair_groups(self.names)
    encoded = isinstance(features["image"], tfds.features.Image)
    decoders = {"image": tfds.decode.SkipDecoding()} if encoded else None
    images, labels = [], []
    for ex in tfds.as_numpy(builder.as_dataset(split=split, decoders=decoders)):
      images.append(ex["image"] if encoded else sources._to_channels(ex["image"], 3))
      labels.append([bool(ex["attributes"][a]) for a in self.names])
    self.name = f"{name}:{split}"
    self.images = (sources.EncodedDomain(self.name, images) if encoded
                   else sources.ArrayDomain(self.name, images))
    self.labels = np.asarray(labels, np.float32).reshape(-1, len(self.names))

  def __len__(self):
    return len(self.labels)

  def load(self, i):
    return self.images.load(i)

  def label(self, i):
    return self.labels[i].copy()


def render(clean: np.ndarray, strengths) -> np.ndarray:
  """uint8 [H, W, 3] clean image, float [5] strengths in [0, 1] -> uint8 [H, W, 3].

  The embedded attribute edits in label order (Warm_Tint, Cool_Tint, Dark,
  Faded, Vignette), applied as the module docstring states.
  """
  s = np.asarray(strengths, np.float64)
  if s.shape != (len(EMBEDDED_ATTRIBUTES),):
    raise ValueError(f"strengths must be [{len(EMBEDDED_ATTRIBUTES)}] "
                     f"({', '.join(EMBEDDED_ATTRIBUTES)}), got shape {s.shape}")
  if s.min() < 0.0 or s.max() > 1.0:
    raise ValueError(f"strengths must be in [0, 1], got {s.tolist()}")
  x = np.asarray(clean, np.float64) / 255.0
  x = x ** (1.0 + DARK_GAMMA * s[2])
  h, w = x.shape[:2]
  v, u = np.mgrid[-1:1:h * 1j, -1:1:w * 1j]
  x = x * (1.0 - s[4] * np.minimum(1.0, VIGNETTE * (u**2 + v**2)))[..., None]
  m = x.mean(-1, keepdims=True)
  x = m + (1.0 - FADE_CHROMA * s[3]) * (x - m)
  x = 0.5 + (1.0 - FADE_CONTRAST * s[3]) * (x - 0.5)
  x = x * (1.0 + s[0] * (np.asarray(WARM_GAINS) - 1.0)) + s[0] * np.asarray(WARM_CAST)
  x = x * (1.0 + s[1] * (np.asarray(COOL_GAINS) - 1.0)) + s[1] * np.asarray(COOL_CAST)
  return np.clip(np.round(x * 255.0), 0, 255).astype(np.uint8)


class EmbeddedAttributes:
  """n embedded crops (uint8 [size, size, 3]) with the attributes of `render` as labels.

  Crops (`embedded._crops`) of `EMBEDDED_TRAIN_PHOTOS` for split "train", of
  the held-out `EMBEDDED_TEST_PHOTOS` for any other split. Crop i has a fixed
  random label (tint none / warm / cool uniformly, Dark, Faded and Vignette
  each on with probability `BINARY_PRIOR`) and `load(i)` = render(clean(i), label(i));
  `truth(i, target)` is the true translation of image i to label `target`
  (binary or a strength in [0, 1] per attribute). Fixed for a given
  (n, size, split, seed).
  """

  single_label = False

  def __init__(self, n: int, size: int, split: str = "train", seed: int = 0):
    from i2ijax.data import embedded
    if n < 1 or size < 1:
      raise ValueError(f"the embedded attribute set needs n >= 1 images of size >= 1, got "
                       f"n={n}, size={size}")
    split_seed = {"train": 30, "test": 31}.get(split, 32)
    photos = EMBEDDED_TRAIN_PHOTOS if split == "train" else EMBEDDED_TEST_PHOTOS
    self.name = f"embedded-attributes:{split}"
    self.names = list(EMBEDDED_ATTRIBUTES)
    self.groups = [list(g) for g in EMBEDDED_GROUPS]
    self.photos = photos
    self.clean_images = embedded._crops([embedded._photo(p) for p in photos], n, size,
                                        np.random.default_rng([split_seed, seed, 0]))
    labels = np.zeros((n, len(EMBEDDED_ATTRIBUTES)), np.float32)
    for i in range(n):
      rng = np.random.default_rng([split_seed, seed, 1, i])
      tint = int(rng.integers(3))  # 0 none, 1 warm, 2 cool
      labels[i, :2] = (tint == 1, tint == 2)
      labels[i, 2:] = rng.random(3) < BINARY_PRIOR
    self.labels = labels
    self.images = [render(c, l) for c, l in zip(self.clean_images, labels)]

  render = staticmethod(render)

  def __len__(self):
    return len(self.images)

  def load(self, i):
    return self.images[i]

  def label(self, i):
    return self.labels[i].copy()

  def clean(self, i) -> np.ndarray:
    """uint8 [size, size, 3]: crop i without any attribute."""
    return self.clean_images[i]

  def truth(self, i, target) -> np.ndarray:
    """uint8 [size, size, 3]: crop i rendered with the label (or strengths) `target` [5]."""
    return render(self.clean_images[i], target)


class EmbeddedLevels(EmbeddedAttributes):
  """n embedded crops whose single label is one of `levels` strengths of one edit.

  An ordinal, single-label set (as age groups are): crop i carries class c(i)
  drawn uniformly from range(levels) and `load(i)` = render(clean(i), s) with
  the strength of `attribute` (one of `EMBEDDED_ATTRIBUTES`) s = c / (levels - 1)
  and every other edit off. Classes are named "<attribute>_<percent>" (e.g.
  Faded_0, Faded_20, ..., Faded_100); `truth(i, onehot)` renders crop i at the
  one-hot's level. The crops are `EmbeddedAttributes`' (same photos and split).
  """

  single_label = True

  def __init__(self, n: int, size: int, split: str = "train", attribute: str = "Faded",
               levels: int = 6, seed: int = 0):
    if attribute not in EMBEDDED_ATTRIBUTES:
      raise ValueError(f"config.data.level_attribute={attribute!r} is not one of "
                       f"{list(EMBEDDED_ATTRIBUTES)}")
    if levels < 2:
      raise ValueError(f"config.data.levels={levels!r} must be >= 2")
    super().__init__(n, size, split, seed)
    self.name = f"embedded-levels:{attribute}:{split}"
    self.attribute, self.levels = attribute, levels
    self.names = [f"{attribute}_{round(100 * c / (levels - 1))}" for c in range(levels)]
    self.groups = []
    split_seed = {"train": 40, "test": 41}.get(split, 42)
    classes = np.random.default_rng([split_seed, seed]).integers(levels, size=n)
    self.labels = np.eye(levels, dtype=np.float32)[classes]
    self.images = [self.truth(i, self.labels[i]) for i in range(n)]

  def truth(self, i, target) -> np.ndarray:
    """uint8 [size, size, 3]: crop i at the level of the one-hot `target` [levels]."""
    strengths = np.zeros(len(EMBEDDED_ATTRIBUTES))
    strengths[EMBEDDED_ATTRIBUTES.index(self.attribute)] = (
        int(np.argmax(target)) / (self.levels - 1))
    return render(self.clean_images[i], strengths)


def parse_attrs(attrs) -> list[str]:
  """config.model.attrs (a comma-separated string, a list, or None) -> a list of names."""
  if attrs is None:
    return []
  if isinstance(attrs, str):
    attrs = attrs.split(",")
  return [str(a).strip() for a in attrs if str(a).strip()]


def name_value_pairs(text: str, flag: str, example: str) -> list[tuple[str, str]]:
  """"NAME=VALUE,..." (a command-line list such as --attrs) -> [(name, value)] as stripped
  strings; ValueError names `flag` and shows `example` for an item without "="."""
  pairs = []
  for part in text.split(","):
    if part.strip():
      if "=" not in part:
        raise ValueError(f"{flag} item {part!r} must be {example}")
      name, value = part.split("=", 1)
      pairs.append((name.strip(), value.strip()))
  return pairs


def attribute_values(names, attrs) -> dict:
  """{attribute index: value} of `attrs` ("Blond_Hair=1,Male=0" or (name, value) pairs)
  over the attribute `names`; ValueError names an unknown attribute or a value outside [0, 1]
  (--attrs of the multi-label models)."""
  pairs = (name_value_pairs(attrs, "--attrs", f"NAME=VALUE, e.g. {names[0]}=1")
           if isinstance(attrs, str) else list(attrs))
  out = {}
  for name, value in pairs:
    if name not in names:
      raise ValueError(f"unknown attribute {name!r} in --attrs; the model's attributes "
                       f"(config.model.attrs): {names}")
    try:
      v = float(value)
    except ValueError:
      raise ValueError(f"--attrs {name}={value!r}: the value must be a number in [0, 1]") from None
    if not 0.0 <= v <= 1.0:
      raise ValueError(f"--attrs {name}={value}: the value must be in [0, 1]")
    out[names.index(name)] = v
  return out


def attribute_source(data_config, split: str = "train", attrs=None):
  """The attribute source of `data_config.source` for `split`:

  embedded: `EmbeddedAttributes` with data.embedded_images crops for train,
    max(8, embedded_images // 4) otherwise, at data.load_size px;
  embedded_levels: `EmbeddedLevels` of as many crops, data.levels (6) classes
    of the strength of data.level_attribute (Faded);
  celeba: `CelebAAttributes` (images data.path, attribute file data.attr_path);
  class_folders: `ClassFolderAttributes` on data.path;
  tfds: `TfdsCelebAAttributes` of data.tfds_name (default celeb_a) in
    data.tfds_data_dir.
  `attrs` is config.model.attrs (comma-separated or a list): for celeba and
  tfds the selected attributes (empty: StarGAN's default
  `CELEBA_DEFAULT_ATTRIBUTES`); for embedded and class_folders, if given, it
  must equal the source's attribute names.
  """
  wanted = parse_attrs(attrs)
  source = data_config.source
  if source in ("celeba", "tfds"):
    selected = wanted or list(CELEBA_DEFAULT_ATTRIBUTES)
    if source == "celeba":
      return CelebAAttributes(data_config.get("path", ""), data_config.get("attr_path", ""),
                              selected, split)
    return TfdsCelebAAttributes(data_config.get("tfds_name", "") or "celeb_a",
                                data_config.get("tfds_data_dir", ""), split, selected)
  if source == "embedded":
    n = data_config.embedded_images
    out = EmbeddedAttributes(n if split == "train" else max(8, n // 4), data_config.load_size,
                             split)
    where = "the embedded attribute set"
  elif source == "embedded_levels":
    n = data_config.embedded_images
    out = EmbeddedLevels(n if split == "train" else max(8, n // 4), data_config.load_size,
                         split, data_config.get("level_attribute", "Faded"),
                         data_config.get("levels", 6))
    where = "the embedded level set"
  elif source == "class_folders":
    out = ClassFolderAttributes(data_config.get("path", ""), split)
    where = out.name
  else:
    raise ValueError(f"config.data.source must be one of {list(SOURCES)} for attribute data, "
                     f"got {source!r}")
  if wanted and wanted != out.names:
    raise ValueError(f"config.model.attrs={','.join(wanted)!r} but {where} has the attributes "
                     f"{out.names} (in label order): set config.model.attrs="
                     f"{','.join(out.names)!r} or leave it empty")
  return out


def single_changes(labels, groups, single_label: bool):
  """StarGAN's test-time targets (`create_labels`): labels [..., K] -> [K, ..., K], target k first.

  Target k of each source: for single-label data the one-hot of class k;
  otherwise the source's labels with attribute k set on and the other
  members of its group (e.g. the other hair colours) off when k is in one of
  `groups` (lists of attribute indices), else with attribute k flipped
  (1 - value). Takes numpy or jax arrays (jit-able: `groups` is static).
  """
  import jax.numpy as jnp
  labels = jnp.asarray(labels, jnp.result_type(float, jnp.asarray(labels).dtype))
  k_dim = labels.shape[-1]
  eye = jnp.eye(k_dim, dtype=labels.dtype)
  out = []
  for k in range(k_dim):
    if single_label:
      out.append(jnp.broadcast_to(eye[k], labels.shape))
      continue
    group = next((g for g in groups if k in g), None)
    if group is not None:
      off = jnp.ones((k_dim,), labels.dtype).at[jnp.asarray(group)].set(0)
      out.append(labels * off + eye[k])
    else:
      out.append(labels * (1 - eye[k]) + (1 - labels) * eye[k])
  return jnp.stack(out)
