"""Translate images with a trained model.

python -m i2ijax.translate --workdir=DIR --input=IMAGES --output=OUT --direction=AtoB
    [--train_mode]                                   (two-domain and paired models)
python -m i2ijax.translate --workdir=DIR --input=IMAGES --output=OUT --domain=night
    [--seed=3 --num_styles=K | --reference=STYLE.jpg,...]   (multi-domain models)
python -m i2ijax.translate --workdir=DIR --input=IMAGES --output=OUT --direction=AtoB
    [--num_styles=K --seed=3 | --reference=STYLE.jpg,... | --interpolate=K
     [--reference=FIRST.jpg,SECOND.jpg]]             (multimodal two-domain models)
python -m i2ijax.translate --workdir=DIR --input=IMAGES --output=OUT
    [--attrs=Black_Hair=0,Blond_Hair=1,Male=1]      (multi-label models: StarGAN)
python -m i2ijax.translate --workdir=DIR --input=IMAGES --output=OUT --domain=happy
                                                    (single-label multi-label models: RaFD)
python -m i2ijax.translate --workdir=DIR --input=IMAGES --output=OUT --reference=REF.jpg
    [--strengths=Smiling=0.5,Young=1 | --interpolate=N]   (HomoInterpGAN)

Loads the newest checkpoint of DIR (or --step) and the config saved beside it,
and translates every image (a file or all images under a folder) with the
model's `registry.Translator`. Each model takes the options of its
`ModelSpec.translate_options`; any other option is refused by name before
anything is loaded. Fully convolutional models translate each image at its
own size: it is reflect-padded to the multiple the generator needs (4 for
ResNets, 2^num_downs for U-Nets) and cropped back; models with a fixed size
(StarGAN v2) resize the input to it (bilinear, as the official test loader)
and their outputs have that size. A folder is the official single-folder
layout (every image under it, recursively): files that cannot be read are
skipped and named, and grayscale, RGBA, CMYK or 16-bit inputs are converted to
the model's channels, each with one warning, before anything is translated.
Outputs are PNGs named after the inputs; where one input gives several
outputs (styles, references or an interpolation) they are NAME_000.png,
NAME_001.png, ... A model's additional outputs are saved beside each image
as NAME_<extra>.png (U-GAT-IT: NAME_heatmap.png, its attention map).

Multi-label models (attribute data: StarGAN) read the input's own
attributes with their discriminator's classifier. `--attrs=NAME=VALUE,...`
(names of the model's `config.model.attrs`, values in [0, 1]) sets those
attributes and keeps the others: one output. Without --attrs every official
single-attribute change is made, K outputs for K attributes: NAME_00k.png
is the change of attribute k (in the order of config.model.attrs) - for an
attribute of a group (e.g. hair colours) that attribute on and the group's
others off, else the attribute flipped. Models of single-label data (one
class per image, e.g. RaFD's expressions) take `--domain` = the class, by
index or by name (config.model.attrs).

HomoInterpGAN moves each input towards one `--reference` image:
`--strengths=GROUP=V,...` (a group of config.model.attrs, or one of its
attributes; the others stay 0) gives one output; without it, a strip of
`--interpolate` (default 5) strengths from 0 to 1 for each attribute group
alone, the residual branch, then every branch together.
"""

import dataclasses
import os

from absl import app, flags, logging
import jax.numpy as jnp
import numpy as np

from i2ijax import registry
from i2ijax.checkpoint import load_config, load_state  # noqa: F401 (part of this module's API)
from i2ijax.data import images as image_io
from i2ijax.registry import DataKind, TranslateRequest


def domain_index(config, domain) -> int:
  """A target domain given as an index or a name (the data's domain names) -> its index."""
  if domain is None:
    raise ValueError(f"{config.model_name} translates into a target domain: pass --domain "
                     f"(0..{config.model.num_domains - 1} or a domain name)")
  if isinstance(domain, int) or str(domain).isdigit():
    return int(domain)
  if registry.get(config.model_name).data_kind == DataKind.MULTI_LABEL:
    return class_index(config, domain)
  from i2ijax.data.sources import multi_domain_sources
  try:
    names, _ = multi_domain_sources(config.data, "train")
  except (OSError, ValueError) as e:
    raise ValueError(f"cannot look up domain name {domain!r} ({e}); pass its index instead") from e
  if domain not in names:
    raise ValueError(f"unknown domain {domain!r}; the domains are {names}")
  return names.index(domain)


def class_index(config, name: str) -> int:
  """A class of multi-label-kind data given by name -> its index in config.model.attrs (read
  from the config alone, no data)."""
  from i2ijax.data.attributes import parse_attrs
  names = parse_attrs(config.model.get("attrs", ""))
  if name not in names:
    raise ValueError(f"unknown class {name!r} for --domain; the model's classes "
                     f"(config.model.attrs): {names}")
  return names.index(name)


def to_input(image: np.ndarray, translator: registry.Translator) -> np.ndarray:
  """uint8 [H, W, C] -> float [H', W', C] in [-1, 1] as `translator` takes it.

  Resized to `translator.size` (bilinear) where set, else padded (reflect) to
  a multiple of `translator.multiple`.
  """
  if translator.size:
    image = image_io.resize(image, translator.size, translator.size, image_io.Image.BILINEAR)
  x = image.astype(np.float32) / 127.5 - 1.0
  return x if translator.size else image_io.pad_to_multiple(x, translator.multiple)


def translate_image(translator: registry.Translator, params, image: np.ndarray,
                    labels=None, *, extras: bool = False):
  """uint8 [H, W, C] -> uint8 [K, H, W, C_out] (K = translator.num_outputs).

  `params` = `translator.params(state)`; outputs of padded inputs are cropped
  back to the input's size, those of resized inputs keep `translator.size`.
  `labels` (multi-label models): the input's known attributes, float [K] of
  0/1, passed on to `translator.apply` (else the model reads them itself).
  With `extras`, returns (images, {name: uint8 [K, H, W, C]}) with the
  translator's additional outputs (`Translator.extras`, e.g. attention maps).
  """
  h, w = image.shape[:2]
  x = jnp.asarray(to_input(image, translator)[None])
  if labels is None:
    out = translator.apply(params, x)
  else:
    out = translator.apply(params, x, labels=jnp.asarray(labels, jnp.float32).reshape(1, -1))
  outputs = out if isinstance(out, dict) else {"image": out}
  crop = lambda a: image_io.to_uint8(np.asarray(a) if translator.size
                                     else np.asarray(a)[:, :h, :w])
  if not extras:
    return crop(outputs["image"])
  return crop(outputs["image"]), {name: crop(outputs[name]) for name in translator.extras}


def make_request(config, spec: registry.ModelSpec, direction: str = "AtoB", *, domain=None,
                 seed: int = 0, reference: str | None = None, num_styles: int = 1,
                 interpolate: int = 0, train_mode: bool = False,
                 attrs: str = "", strengths: str = "") -> TranslateRequest:
  """The checked `TranslateRequest` of the command-line options; references stay file paths.

  `domain` (an index or a domain name) is looked up for multi-domain data
  (and as a class of config.model.attrs for multi-label data); `reference`
  is one path or several, comma-separated; `attrs` "NAME=VALUE,..." for
  multi-label models.
  """
  if (domain is not None and "domain" not in spec.translate_options
      and "direction" in spec.translate_options):
    raise ValueError(f"{spec.name} translates between two domains: use --direction "
                     f"({' or '.join(spec.directions)}), not --domain (got {domain!r})")
  if spec.data_kind == DataKind.MULTI_DOMAIN and "domain" in spec.translate_options:
    domain = domain_index(config, domain)
  elif (spec.data_kind == DataKind.MULTI_LABEL and "domain" in spec.translate_options
        and domain is not None):
    domain = domain_index(config, domain)
  refs = tuple(p for p in (reference or "").split(",") if p)
  request = TranslateRequest(direction=direction, domain=domain, seed=seed,
                             num_styles=num_styles, references=refs, interpolate=interpolate,
                             train_mode=train_mode, attrs=attrs or "",
                             strengths=strengths or "")
  registry.check_request(spec, request)
  return request


def load_reference(path: str, translator: registry.Translator) -> np.ndarray:
  """A style reference file -> float [H, W, C_out] in [-1, 1] as `translator` takes it."""
  return to_input(image_io.load_image(path, translator.out_channels), translator)


def make_translator(workdir: str, direction: str = "AtoB", step: int | None = None, *,
                    train_mode: bool = False, domain=None, seed: int = 0,
                    reference: str | None = None, num_styles: int = 1, interpolate: int = 0,
                    attrs: str = "", strengths: str = ""):
  """(translate, config, step): `translate(uint8 [H, W, C]) -> [uint8 [H', W', C_out], ...]`.

  One output per style (`num_styles` from `seed`, or one per `reference`
  file; comma-separated paths), `interpolate` outputs between two styles, or
  else one. `direction` picks the network of two-domain and paired models,
  `domain` (index or name) the target of multi-domain models (the class of
  single-label multi-label models), `attrs` ("NAME=VALUE,...") the target
  attributes of multi-label models (without it: one output per attribute,
  each single-attribute change; see the module docstring). By default the
  networks run in eval mode (batch norm running averages, dropout off: the
  official `test.py --eval`); `train_mode` uses each image's own batch
  statistics and dropout instead (the official test default), where the
  model takes it. `translate.channels` is the input's channel count.
  """
  config = load_config(workdir)
  spec = registry.get(config.model_name)
  request = make_request(config, spec, direction, domain=domain, seed=seed, reference=reference,
                         num_styles=num_styles, interpolate=interpolate, train_mode=train_mode,
                         attrs=attrs, strengths=strengths)
  # Built without references first: bad options fail before the state is read, and the
  # references are prepared as this translator takes its inputs.
  translator = spec.translator(config, dataclasses.replace(request, references=()))
  if request.references:
    refs = tuple(load_reference(p, translator) for p in request.references)
    translator = spec.translator(config, dataclasses.replace(request, references=refs))
  _, state = load_state(workdir, config, step)
  params = translator.params(state)

  def translate(image: np.ndarray, extras: bool = False):
    """[uint8 outputs]; with `extras`, also {name: [uint8 outputs]} of the model's
    additional outputs (`translate.extras` names them)."""
    if not extras:
      return list(translate_image(translator, params, image))
    images, more = translate_image(translator, params, image, extras=True)
    return list(images), {k: list(v) for k, v in more.items()}

  translate.channels = translator.in_channels
  translate.extras = translator.extras
  return translate, config, int(state.step)


def translate_images(workdir: str, inputs: str, output: str, direction: str = "AtoB",
                     step: int | None = None, **options) -> list[str]:
  """Translates the image file or folder `inputs` into `output`; returns the written paths.

  `options`: domain, seed, reference, num_styles, interpolate, train_mode,
  attrs, strengths (see `make_translator`).
  """
  translate, _, _ = make_translator(workdir, direction, step, **options)
  if os.path.isfile(inputs):
    paths = [inputs]
  else:  # the single-folder layout: unusable files are named and skipped before any work
    paths = image_io.scan_folder(inputs, translate.channels).paths
  os.makedirs(output, exist_ok=True)
  written = []
  for path in paths:
    if path == inputs:  # a single file: converted with a warning here
      image = image_io.load_image(path, translate.channels)
    else:  # the scan has already named each conversion
      image = image_io.read_image(path, translate.channels)[0]
    stem = os.path.splitext(os.path.relpath(path, inputs) if os.path.isdir(inputs)
                            else os.path.basename(path))[0]
    # One output: NAME.png; several: NAME_000.png, ...; extras: NAME[_k]_<extra>.png.
    outputs, extras = translate(image, extras=True)
    stems = [stem] if len(outputs) == 1 else [f"{stem}_{k:03d}" for k in range(len(outputs))]
    files = [(out, f"{s}.png") for out, s in zip(outputs, stems)]
    for name, images in extras.items():
      files += [(out, f"{s}_{name}.png") for out, s in zip(images, stems)]
    for out, name in files:
      out_path = os.path.join(output, name)
      image_io.save_image(out, out_path)
      written.append(out_path)
  return written


FLAGS = flags.FLAGS


def define_flags() -> None:
  """The command-line flags (defined only when run as a program, so modules import freely)."""
  flags.DEFINE_string("workdir", None, "Training workdir (config.json + checkpoints/).")
  flags.DEFINE_string("input", None, "An image file or a folder of images.")
  flags.DEFINE_string("output", None, "Folder for the translated PNGs.")
  flags.DEFINE_string("direction", "AtoB",
                      "AtoB or BtoA (CycleGAN: G_A or G_B; pix2pix: AtoB).")
  flags.DEFINE_integer("step", None, "Checkpoint step (default: newest).")
  flags.DEFINE_string("domain", None, "Multi-domain models: the target domain (index or "
                      "name); single-label multi-label models (RaFD): the target class.")
  flags.DEFINE_string("attrs", "", "Multi-label models (StarGAN): target attributes "
                      "NAME=VALUE,... (e.g. Black_Hair=0,Blond_Hair=1,Male=1); the others keep "
                      "the input's. Default: one output per single-attribute change.")
  flags.DEFINE_string("strengths", "", "HomoInterpGAN: interpolation strengths towards "
                      "--reference, GROUP=VALUE,... (default: a strip per group).")
  flags.DEFINE_integer("seed", 0, "Multimodal models: the seed of the first random style.")
  flags.DEFINE_string("reference", None, "Multimodal models: images whose styles are used "
                      "(reference-guided), comma-separated, one output each (two for "
                      "--interpolate).")
  flags.DEFINE_integer("num_styles", 1, "Multimodal models: random styles (from --seed) per "
                       "input.")
  flags.DEFINE_integer("interpolate", 0, "MUNIT: outputs along a line between two styles "
                       "(two --reference images, or two random codes from --seed).")
  flags.DEFINE_bool("train_mode", False, "Batch statistics and dropout at test time (the "
                    "official test default) instead of running averages (its --eval).")
  flags.mark_flags_as_required(["workdir", "input", "output"])


def main(argv):
  del argv
  options = dict(domain=FLAGS.domain, seed=FLAGS.seed, reference=FLAGS.reference,
                 num_styles=FLAGS.num_styles, interpolate=FLAGS.interpolate,
                 train_mode=FLAGS.train_mode, attrs=FLAGS.attrs, strengths=FLAGS.strengths)
  written = translate_images(FLAGS.workdir, FLAGS.input, FLAGS.output, FLAGS.direction,
                             FLAGS.step, **options)
  logging.info("wrote %d images to %s", len(written), FLAGS.output)


if __name__ == "__main__":
  define_flags()
  app.run(main)
