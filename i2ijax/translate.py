"""Translate images with a trained model.

python -m i2ijax.translate --workdir=DIR --input=IMAGES --output=OUT --direction=AtoB
python -m i2ijax.translate --workdir=DIR --input=IMAGES --output=OUT --domain=night
    [--seed=3 | --reference=STYLE.jpg]        (StarGAN v2)
python -m i2ijax.translate --workdir=DIR --input=IMAGES --output=OUT --direction=AtoB
    [--num_styles=K --seed=3 | --reference=STYLE.jpg | --interpolate=K
     [--reference=FIRST.jpg,SECOND.jpg]]       (MUNIT; UNIT takes none of these)

Loads the newest checkpoint of DIR (or --step) and the config saved beside it,
and translates every image (a file or all images under a folder) at its own
size: the networks are fully convolutional, so each image is reflect-padded to
the multiple its generator needs (4 for ResNets, 2^num_downs for U-Nets) and
cropped back. A folder is the official single-folder layout (every image under
it, recursively): files that cannot be read are skipped and named, and
grayscale, RGBA, CMYK or 16-bit inputs are converted to the model's channels,
each with one warning, before anything is translated. Outputs are PNGs named
after the inputs; where one input gives several outputs (MUNIT's styles or an
interpolation) they are NAME_000.png, NAME_001.png, ...
"""

import json
import os

from absl import app, flags, logging
import jax
import jax.numpy as jnp
import ml_collections
import numpy as np

from i2ijax import checkpoint
from i2ijax.data import images as image_io
from i2ijax.train.common import apply_module
from i2ijax.train.loop import model_module


def load_config(workdir: str) -> ml_collections.ConfigDict:
  path = os.path.join(workdir, "config.json")
  if not os.path.exists(path):
    raise FileNotFoundError(f"{path} not found: is {workdir!r} a training workdir?")
  with open(path) as f:
    return ml_collections.ConfigDict(json.load(f))


def load_state(workdir: str, config, step: int | None = None):
  """The train state of checkpoint `step` (default: newest) in `workdir`, on the CPU/default device."""
  model = model_module(config.model_name)
  c = config.data.crop_size
  shapes = {"A": (c, c, config.data.input_nc), "B": (c, c, config.data.output_nc)}
  if hasattr(model, "image_shapes"):
    shapes = model.image_shapes(config)
  abstract = jax.eval_shape(lambda k: model.create_state(config, k, shapes, 1), jax.random.key(0))
  sharding = jax.sharding.SingleDeviceSharding(jax.devices()[0])
  manager = checkpoint.make_manager(workdir, None)
  try:
    state = checkpoint.restore(manager, checkpoint.abstract_like(abstract, sharding), step)
  finally:
    manager.close()
  if state is None:
    raise FileNotFoundError(f"no checkpoint in {checkpoint.checkpoint_dir(workdir)}")
  return model, state


def pad_to_multiple(x: np.ndarray, multiple: int = 4) -> np.ndarray:
  """Pads [H, W, C] at the bottom/right so both sides are multiples of `multiple`.

  Reflect padding where the image is large enough, edge padding otherwise.
  """
  h, w = x.shape[:2]
  ph, pw = (-h) % multiple, (-w) % multiple
  mode = "reflect" if ph < h and pw < w else "edge"
  return np.pad(x, ((0, ph), (0, pw), (0, 0)), mode=mode)


def domain_index(config, domain) -> int:
  """A target domain given as an index or a name (the data's domain names) -> its index."""
  if domain is None:
    raise ValueError(f"{config.model_name} translates into a target domain: pass --domain "
                     f"(0..{config.model.num_domains - 1} or a domain name)")
  if isinstance(domain, int) or str(domain).isdigit():
    return int(domain)
  from i2ijax.data.sources import multi_domain_sources
  try:
    names, _ = multi_domain_sources(config.data, "train")
  except (OSError, ValueError) as e:
    raise ValueError(f"cannot look up domain name {domain!r} ({e}); pass its index instead") from e
  if domain not in names:
    raise ValueError(f"unknown domain {domain!r}; the domains are {names}")
  return names.index(domain)


def make_translator(workdir: str, direction: str = "AtoB", step: int | None = None, *,
                    train_mode: bool = False, domain=None, seed: int = 0,
                    reference: str | None = None, num_styles: int = 1, interpolate: int = 0):
  """(translate, config, step): `translate(uint8 [H, W, C]) -> uint8 [H, W, C_out]`.

  The network of `direction` from checkpoint `step` (default: newest) of
  `workdir`. By default it runs in eval mode (batch norm running averages,
  dropout off: the official `test.py --eval`); `train_mode` uses each image's
  own batch statistics and dropout instead (the official test default).
  Multi-domain models (StarGAN v2) instead translate into `domain` (index or
  name) with the style of latent `seed` or of the image file `reference`;
  inputs are resized to the trained size (bilinear, as the official test
  loader) and outputs have that size.
  Multimodal two-domain models (MUNIT, UNIT) return a list of outputs per
  image: `num_styles` random styles from `seed`, the style of each image of
  the comma-separated `reference` files (example-guided), or `interpolate`
  steps between two styles (two references, or two random codes).
  """
  config = load_config(workdir)
  model = model_module(config.model_name)
  if getattr(model, "MULTIMODAL", False):
    if domain is not None:
      raise ValueError(f"{config.model_name} translates between two domains: use --direction "
                       "(AtoB or BtoA), not --domain")
    return _multimodal_translator(workdir, config, model, direction, step, seed=seed,
                                  reference=reference, num_styles=num_styles,
                                  interpolate=interpolate)
  if getattr(model, "MULTI_DOMAIN", False):
    if num_styles != 1 or interpolate:
      raise ValueError(f"{config.model_name} takes one style per run: --num_styles and "
                       "--interpolate apply to MUNIT")
    index = domain_index(config, domain)
    model, state = load_state(workdir, config, step)
    size = config.data.crop_size
    to_input = lambda image: image_io.resize(image, size, size, image_io.Image.BILINEAR
                                             ).astype(np.float32) / 127.5 - 1.0
    ref = None if reference is None else to_input(image_io.load_image(reference, 3))
    g = model.make_multi_domain_translator(config, state, index, seed=seed, reference=ref)

    def translate(image: np.ndarray) -> np.ndarray:
      return image_io.to_uint8(np.asarray(g(jnp.asarray(to_input(image)))))

    translate.channels = 3
    return translate, config, int(state.step)
  if domain is not None or reference or num_styles != 1 or interpolate:
    raise ValueError(f"{config.model_name} has one output per direction: --domain, --reference, "
                     "--num_styles and --interpolate do not apply")
  if direction not in model.TRANSLATORS:
    raise ValueError(f"direction must be one of {sorted(model.TRANSLATORS)} for "
                     f"{config.model_name}, got {direction!r}")
  model, state = load_state(workdir, config, step)
  net_name, channels_key = model.TRANSLATORS[direction]
  multiple = model.input_multiple(config)
  net = model.build_models(config)[net_name]
  params, stats = state.params[net_name], state.batch_stats[net_name]
  key = jax.random.key(config.seed) if train_mode and config.model.get("use_dropout") else None
  forward = jax.jit(lambda x: apply_module(net, params, stats, x, train=train_mode, key=key)[0])

  def translate(image: np.ndarray) -> np.ndarray:
    h, w = image.shape[:2]
    x = pad_to_multiple(image.astype(np.float32) / 127.5 - 1.0, multiple)
    return image_io.to_uint8(np.asarray(forward(jnp.asarray(x[None])))[0, :h, :w])

  translate.channels = config.data[channels_key]
  return translate, config, int(state.step)


def _multimodal_translator(workdir, config, model, direction, step, *, seed, reference,
                           num_styles, interpolate):
  """MUNIT / UNIT: `translate(uint8 [H, W, C]) -> [uint8 [H, W, C_out], ...]` at the input's size."""
  if direction not in ("AtoB", "BtoA"):
    raise ValueError(f"direction must be AtoB or BtoA for {config.model_name}, got {direction!r}")
  _, state = load_state(workdir, config, step)
  multiple = model.input_multiple(config)
  target_nc = config.data.output_nc if direction == "AtoB" else config.data.input_nc
  refs = []
  for path in (reference.split(",") if reference else []):
    image = image_io.load_image(path, target_nc).astype(np.float32) / 127.5 - 1.0
    refs.append(pad_to_multiple(image, multiple))
  g = model.make_style_translator(config, state, direction, seed=seed, num_styles=num_styles,
                                  references=refs, interpolate=interpolate)

  def translate(image: np.ndarray) -> list[np.ndarray]:
    h, w = image.shape[:2]
    x = pad_to_multiple(image.astype(np.float32) / 127.5 - 1.0, multiple)
    return list(image_io.to_uint8(np.asarray(g(jnp.asarray(x)))[:, :h, :w]))

  translate.channels = config.data.input_nc if direction == "AtoB" else config.data.output_nc
  return translate, config, int(state.step)


def translate_images(workdir: str, inputs: str, output: str, direction: str = "AtoB",
                     step: int | None = None, **multi_domain) -> list[str]:
  """Translates the image file or folder `inputs` into `output`; returns the written paths.

  `multi_domain`: domain, seed, reference for StarGAN v2; seed, num_styles,
  reference, interpolate for MUNIT (see `make_translator`).
  """
  translate, _, _ = make_translator(workdir, direction, step, **multi_domain)
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
    name = os.path.splitext(os.path.relpath(path, inputs) if os.path.isdir(inputs)
                            else os.path.basename(path))[0] + ".png"
    outputs = translate(image)
    if isinstance(outputs, list):  # several per input: NAME_000.png, ... (one: NAME.png)
      stem = name[:-len(".png")]
      names = [name] if len(outputs) == 1 else [f"{stem}_{k:03d}.png" for k in range(len(outputs))]
    else:
      outputs, names = [outputs], [name]
    for out, out_name in zip(outputs, names):
      out_path = os.path.join(output, out_name)
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
  flags.DEFINE_string("domain", None, "StarGAN v2: the target domain (index or name).")
  flags.DEFINE_integer("seed", 0, "StarGAN v2: the latent code's seed (latent-guided style).")
  flags.DEFINE_string("reference", None, "StarGAN v2 / MUNIT: an image whose style is used "
                      "(reference-guided) instead of a latent code; MUNIT takes several, "
                      "comma-separated (one output each; two for --interpolate).")
  flags.DEFINE_integer("num_styles", 1, "MUNIT: random styles (from --seed) per input.")
  flags.DEFINE_integer("interpolate", 0, "MUNIT: outputs along a line between two styles "
                       "(two --reference images, or two random codes from --seed).")
  flags.mark_flags_as_required(["workdir", "input", "output"])


def main(argv):
  del argv
  multi_domain = dict(domain=FLAGS.domain, seed=FLAGS.seed, reference=FLAGS.reference,
                      num_styles=FLAGS.num_styles, interpolate=FLAGS.interpolate)
  written = translate_images(FLAGS.workdir, FLAGS.input, FLAGS.output, FLAGS.direction,
                             FLAGS.step, **multi_domain)
  logging.info("wrote %d images to %s", len(written), FLAGS.output)


if __name__ == "__main__":
  define_flags()
  app.run(main)
