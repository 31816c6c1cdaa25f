"""Where images come from: folders, TFDS, or the embedded photos.

A domain is any object with `len()` and `load(i) -> uint8 [H, W, C]`
(`domains.Domain`).
Two domains (A, B) for pix2pix / CycleGAN (`aligned_domains`,
`unaligned_domains`); K >= 2 labelled domains for StarGAN v2
(`multi_domain_sources`).
"""

import io
import os

from absl import logging
import numpy as np

from i2ijax.data import images as image_io
from i2ijax.data.domains import ArrayDomain


class FolderDomain:
  """The usable image files under a directory (see `images.scan_folder`), read on demand.

  Every file is decoded once at construction: unusable ones are skipped and
  named, conversions are named, and an empty result is an error, all before
  training starts. Should a file become unreadable later (changed or removed
  during the run), `load` warns and returns the next readable image instead
  of stopping the run.
  """

  def __init__(self, directory: str, channels: int = 3, min_size: int = 0,
               scanned: image_io.ScannedFolder | None = None):
    self.name = directory
    self.channels = channels
    self.scanned = scanned or image_io.scan_folder(directory, channels, min_size)
    self.paths = self.scanned.paths

  def __len__(self):
    return len(self.paths)

  def load(self, i):
    for j in range(len(self.paths)):
      path = self.paths[(i + j) % len(self.paths)]
      try:
        return image_io.read_image(path, self.channels)[0]
      except ValueError as e:
        logging.warning("%s; using the next image instead", e)
    raise ValueError(f"no image in {self.name} is readable any more")


class EncodedDomain:
  """Encoded image files (PNG, JPEG... bytes) held in memory and decoded on `load`.

  A TFDS split is kept this way rather than decoded: a few GB of JPEG
  instead of tens of GB of pixels for a dataset like AFHQ or CelebA-HQ.
  """

  def __init__(self, name: str, encoded, channels: int = 3):
    self.name = name
    self.encoded = list(encoded)
    self.channels = channels
    if not self.encoded:
      raise ValueError(f"domain {name} has no images")

  def __len__(self):
    return len(self.encoded)

  def load(self, i):
    try:
      return image_io.read_image(io.BytesIO(self.encoded[i]), self.channels)[0]
    except ValueError as e:
      raise ValueError(f"cannot decode image {i} of {self.name}: {e.__cause__ or e}") from e


class AlignedHalfDomain(FolderDomain):
  """One half of the official aligned layout: each file holds A | B side by side."""

  def __init__(self, directory: str, half: int, channels: int = 3,
               scanned: image_io.ScannedFolder | None = None):
    super().__init__(directory, channels, scanned=scanned)
    self.name = f"{directory}[{'AB'[half]}]"
    self.half = half

  def load(self, i):
    image = super().load(i)
    w = image.shape[1] // 2
    return image[:, :w] if self.half == 0 else image[:, w:2 * w]


def aligned_domains(data_config, split: str = "train"):
  """(A, B) index-aligned: `path/{split}/` (A|B files) or the embedded pairs (`data.embedded_task`)."""
  channels = (data_config.input_nc, data_config.output_nc)
  if data_config.source == "folder":
    path = data_config.path
    if not path:
      raise ValueError("config.data.path is empty: set --config.data.path to a directory with "
                       f"{split}/ holding A|B side-by-side images (or use data.source=embedded)")
    directory = os.path.join(path, split)
    if not os.path.isdir(directory):
      raise FileNotFoundError(f"config.data.path={path!r} has no {split}/ folder "
                              "(the aligned layout: train/ val/ test/ with A|B images)")
    scanned = image_io.scan_folder(directory, 3 if 3 in channels else 1)
    return (AlignedHalfDomain(directory, 0, channels[0], scanned),
            AlignedHalfDomain(directory, 1, channels[1], scanned))
  if data_config.source == "tfds":
    keys = (data_config.tfds_input_key, data_config.tfds_target_key)
    if not all(keys):
      raise ValueError("config.data.tfds_input_key and config.data.tfds_target_key must name "
                       f"the input and target image features of {data_config.tfds_name!r}")
    return tfds_paired_domains(data_config.tfds_name, data_config.tfds_data_dir, split, keys,
                               channels)
  if data_config.source == "embedded":
    from i2ijax.data.embedded import paired_domains
    n = data_config.embedded_images if split == "train" else max(4, data_config.embedded_images // 4)
    return paired_domains(data_config.embedded_task, n, data_config.load_size, split)
  raise ValueError(f"config.data.source must be folder, tfds or embedded for paired data, "
                   f"got {data_config.source!r}")


def folder_domains(path: str, split: str, names=("A", "B"), channels=(3, 3), min_size: int = 0):
  """The official unaligned layout: `path/{split}A`, `path/{split}B`."""
  if not path:
    raise ValueError("config.data.path is empty: set --config.data.path to a directory with "
                     f"{split}A/ and {split}B/ (or use data.source=embedded or tfds)")
  if not os.path.isdir(path):
    raise FileNotFoundError(f"config.data.path={path!r} is not a directory")
  domains = []
  for n, ch in zip(names, channels):
    d = os.path.join(path, f"{split}{n}")
    if not os.path.isdir(d):
      raise FileNotFoundError(f"config.data.path={path!r} has no {split}{n}/ folder "
                              f"(expected {split}A/ and {split}B/)")
    domains.append(FolderDomain(d, ch, min_size))
  return tuple(domains)


def _tfds_is_prepared(builder) -> bool:
  import tensorflow as tf
  return bool(tf.io.gfile.exists(builder.data_dir) and builder.info.splits)


def _tfds_builder(name: str, data_dir: str, layout_hint: str):
  """The TFDS builder of `name` in `data_dir`; fails at once if it is not prepared there."""
  import tensorflow_datasets as tfds  # heavy; only for this source
  builder = tfds.builder(name, data_dir=data_dir or None)
  if not _tfds_is_prepared(builder):
    raise FileNotFoundError(
        f"TFDS dataset {name!r} is not prepared in {builder.data_dir} and cannot be downloaded "
        f"here. On a machine with internet run `tfds build {name} --data_dir=DIR` and copy DIR, "
        f"then pass --config.data.tfds_data_dir=DIR; or put the images in {layout_hint} "
        "and use --config.data.source=folder --config.data.path=PATH.")
  return builder


def _to_channels(image: np.ndarray, channels: int) -> np.ndarray:
  """uint8 [H, W, C] (or [H, W]) -> uint8 [H, W, channels] (gray repeated, or the first channel)."""
  image = np.asarray(image)
  if image.ndim == 2:
    image = image[..., None]
  if image.shape[-1] != channels:
    image = np.repeat(image[..., :1], 3, -1) if channels == 3 else image[..., :1]
  return image.astype(np.uint8)


def _tfds_check(builder, split: str, keys) -> None:
  """ValueError unless `builder` has the split (when split metadata exists) and the features."""
  if builder.info.splits and split not in builder.info.splits:  # (split metadata may be absent)
    raise ValueError(f"TFDS dataset {builder.info.full_name} has no split {split!r}; it has "
                     f"{sorted(builder.info.splits)}")
  features = builder.info.features
  for key in keys:
    if key not in features:
      raise ValueError(f"TFDS dataset {builder.info.full_name} has no feature {key!r}; its "
                       f"features are {sorted(features)}")


def _tfds_images(builder, split: str, keys, channels) -> list[list[np.ndarray]]:
  """[[images of keys[0]], [images of keys[1]], ...] of one split, converted to `channels`."""
  import tensorflow_datasets as tfds
  _tfds_check(builder, split, keys)
  out = [[] for _ in keys]
  for ex in tfds.as_numpy(builder.as_dataset(split=split)):
    for images, key, ch in zip(out, keys, channels):
      images.append(_to_channels(ex[key], ch))
  return out


def tfds_domains(name: str, data_dir: str, split: str, names=("A", "B"), channels=(3, 3)):
  """Splits `{split}A`/`{split}B` of a prepared TFDS dataset (e.g. cycle_gan/horse2zebra).

  Nothing is downloaded: if the dataset is not prepared in `data_dir` this
  fails at once and says how to provide it.
  """
  builder = _tfds_builder(name, data_dir, f"{split}A/ {split}B/ folders")
  return tuple(ArrayDomain(f"{name}:{split}{n}", _tfds_images(builder, f"{split}{n}", ["image"],
                                                              [ch])[0])
               for n, ch in zip(names, channels))


def tfds_paired_domains(name: str, data_dir: str, split: str, keys, channels=(3, 3)):
  """(A, B) index-aligned from the features `keys` = (input, target) of a prepared TFDS set.

  For example div2k/bicubic_x4 with keys ("lr", "hr") (the low-resolution
  input is resized to the target's size by the preprocessing), or
  cityscapes/semantic_segmentation with ("segmentation_label", "image_left").
  The test split falls back to "validation" where a dataset has no "test".
  Nothing is downloaded: an unprepared dataset fails at once.
  """
  builder = _tfds_builder(name, data_dir, "aligned A|B files under train/ and test/")
  if split == "val" or (split == "test" and "test" not in builder.info.splits):
    split = "validation"
  a, b = _tfds_images(builder, split, keys, channels)
  return ArrayDomain(f"{name}:{split}:{keys[0]}", a), ArrayDomain(f"{name}:{split}:{keys[1]}", b)


def unaligned_domains(data_config, split: str = "train"):
  """(domain A, domain B) for `data_config.source` in folder | tfds | embedded.

  embedded: day -> night photos, or with `data.embedded_domains` = "X,Y" two
  of the style gradings of `embedded.style_domains` (day, night, duotone).
  """
  channels = (data_config.input_nc, data_config.output_nc)
  source = data_config.source
  if source == "folder":
    min_size = data_config.crop_size if data_config.preprocess == "crop" else 0
    return folder_domains(data_config.path, split, channels=channels, min_size=min_size)
  if source == "tfds":
    return tfds_domains(data_config.tfds_name, data_config.tfds_data_dir, split,
                        channels=channels)
  if source == "embedded":
    from i2ijax.data.embedded import day_night_domains, style_domains
    if channels != (3, 3):
      raise ValueError("the embedded dataset is RGB: data.input_nc and data.output_nc must be 3")
    n = data_config.embedded_images if split == "train" else max(4, data_config.embedded_images // 8)
    picked = data_config.get("embedded_domains", "")
    if not picked:
      return day_night_domains(n, data_config.load_size, split)
    # Two of the multi-domain gradings, each with its own per-image style.
    names, domains = style_domains(n, data_config.load_size, split)
    wanted = [p.strip() for p in picked.split(",")]
    if len(wanted) != 2 or any(w not in names for w in wanted) or wanted[0] == wanted[1]:
      raise ValueError(f"config.data.embedded_domains={picked!r} must name two different "
                       f"domains of {names}, e.g. 'day,duotone'")
    return tuple(domains[names.index(w)] for w in wanted)
  raise ValueError(f"config.data.source must be folder, tfds or embedded, got {source!r}")


def folder_multi_domains(path: str, split: str, channels: int = 3):
  """StarGAN v2's layout: `path/{split}/<domain>/**` images, domains in sorted folder order.

  Returns (names, [FolderDomain, ...]); label k is `names[k]`. For split
  "test" a missing test/ folder falls back to val/. Hidden sub-folders
  (".name") are ignored; fewer than 2 domain folders is an error.
  """
  if not path:
    raise ValueError("config.data.path is empty: set --config.data.path to a directory with "
                     f"{split}/<domain>/ sub-folders (or use data.source=embedded or tfds)")
  if not os.path.isdir(path):
    raise FileNotFoundError(f"config.data.path={path!r} is not a directory")
  directory = os.path.join(path, split)
  if split == "test" and not os.path.isdir(directory):
    directory = os.path.join(path, "val")
  if not os.path.isdir(directory):
    tried = "test/ (or val/)" if split == "test" else f"{split}/"
    raise FileNotFoundError(f"config.data.path={path!r} has no {tried} folder (the multi-domain "
                            f"layout: train/<domain>/ and val/<domain>/ with images)")
  entries = sorted(os.listdir(directory))
  names = [e for e in entries if os.path.isdir(os.path.join(directory, e)) and e[0] != "."]
  if len(names) < 2:
    others = [e for e in entries if e not in names]
    raise ValueError(
        f"{directory} has {len(names)} domain folder(s) {names} (and {len(others)} other "
        f"entries{': ' + ', '.join(others[:5]) if others else ''}): multi-domain data needs one "
        f"sub-folder per domain, at least 2 (e.g. {split}/cat/ and {split}/dog/)")
  return names, [FolderDomain(os.path.join(directory, n), channels) for n in names]


def tfds_labeled_domains(name: str, data_dir: str, split: str, image_key: str = "image",
                         label_key: str = "label", channels: int = 3):
  """One domain per class of the ClassLabel feature `label_key` of a prepared TFDS dataset.

  Returns (class names, [domain, ...]) in label order, the images of
  feature `image_key` (an Image feature is kept encoded, see
  `EncodedDomain`). "test" falls back to "validation" where a dataset has
  no "test" split. Nothing is downloaded: an unprepared dataset fails at once.
  """
  import tensorflow_datasets as tfds
  builder = _tfds_builder(name, data_dir, "train/<domain>/ folders")
  if split == "val" or (split == "test" and "test" not in builder.info.splits):
    split = "validation"
  _tfds_check(builder, split, (image_key, label_key))
  features = builder.info.features
  label = features[label_key]
  if not isinstance(label, tfds.features.ClassLabel):
    raise ValueError(f"feature {label_key!r} of TFDS dataset {builder.info.full_name} is "
                     f"{type(label).__name__}, not a ClassLabel: set config.data.tfds_label_key "
                     "to the class-label feature that names the domains")
  encoded = isinstance(features[image_key], tfds.features.Image)
  decoders = {image_key: tfds.decode.SkipDecoding()} if encoded else None
  per_class = [[] for _ in range(label.num_classes)]
  for ex in tfds.as_numpy(builder.as_dataset(split=split, decoders=decoders)):
    image = ex[image_key]
    per_class[int(ex[label_key])].append(image if encoded else _to_channels(image, channels))
  names = list(label.names)
  for n, images in zip(names, per_class):
    if not images:
      raise ValueError(f"TFDS dataset {builder.info.full_name} split {split!r} has no example "
                       f"of class {n!r} ({label_key}={names.index(n)}): every class is a domain")
  full = f"{name}:{split}"
  domains = [EncodedDomain(f"{full}:{n}", images, channels) if encoded
             else ArrayDomain(f"{full}:{n}", images) for n, images in zip(names, per_class)]
  return names, domains


def multi_domain_sources(data_config, split: str = "train", num_domains: int | None = None):
  """(domain names, [domain, ...]) with label k = index k, for `data_config.source`:

  folder: `data.path/{split}/<domain>/` (`folder_multi_domains`);
  tfds: the classes of `data.tfds_label_key` (default "label") of
    `data.tfds_name`, images `data.tfds_image_key` (default "image");
  embedded: `embedded.style_domains` (day / night / duotone), with
    `data.embedded_images` per domain for train, a quarter (at least 4)
    for other splits, at `data.load_size` px.
  If `num_domains` (config.model.num_domains) is given, it must equal the number found.
  """
  channels = data_config.get("input_nc", 3)
  source = data_config.source
  if source == "folder":
    names, domains = folder_multi_domains(data_config.path, split, channels)
    where = os.path.dirname(domains[0].name)  # (val/ where test/ fell back to it)
  elif source == "tfds":
    names, domains = tfds_labeled_domains(
        data_config.tfds_name, data_config.get("tfds_data_dir", ""), split,
        data_config.get("tfds_image_key", "image"), data_config.get("tfds_label_key", "label"),
        channels)
    where = f"TFDS dataset {data_config.tfds_name!r}"
  elif source == "embedded":
    from i2ijax.data.embedded import style_domains
    if channels != 3:
      raise ValueError(f"the embedded dataset is RGB: config.data.input_nc={channels} must be 3")
    n = data_config.embedded_images
    names, domains = style_domains(n if split == "train" else max(4, n // 4), data_config.load_size,
                                   split)
    where = "the embedded dataset"
  else:
    raise ValueError(f"config.data.source must be folder, tfds or embedded, got {source!r}")
  if num_domains is not None and num_domains != len(names):
    raise ValueError(f"config.model.num_domains={num_domains} but {where} has {len(names)} "
                     f"domains {names}: set config.model.num_domains={len(names)}")
  return names, domains
