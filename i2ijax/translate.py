"""Translate images with a trained model.

python -m i2ijax.translate --workdir=DIR --input=IMAGES --output=OUT --direction=AtoB

Loads the newest checkpoint of DIR (or --step) and the config saved beside it,
and translates every image (a file or all images under a folder) at its own
size: the networks are fully convolutional, so each image is reflect-padded to
the multiple its generator needs (4 for ResNets, 2^num_downs for U-Nets) and
cropped back. Grayscale or RGBA inputs are converted to the
model's channels with a warning. Outputs are PNGs named after the inputs.
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


def translate_images(workdir: str, inputs: str, output: str, direction: str = "AtoB",
                     step: int | None = None) -> list[str]:
  """Translates the image file or folder `inputs` into `output`; returns the written paths."""
  config = load_config(workdir)
  model = model_module(config.model_name)
  if direction not in model.TRANSLATORS:
    raise ValueError(f"direction must be one of {sorted(model.TRANSLATORS)} for "
                     f"{config.model_name}, got {direction!r}")
  model, state = load_state(workdir, config, step)
  net_name, channels_key = model.TRANSLATORS[direction]
  multiple = model.input_multiple(config)
  channels = config.data[channels_key]
  net = model.build_models(config)[net_name]
  params, stats = state.params[net_name], state.batch_stats[net_name]
  forward = jax.jit(lambda x: apply_module(net, params, stats, x, train=False)[0])

  paths = [inputs] if os.path.isfile(inputs) else image_io.list_images(inputs)
  if not paths:
    raise ValueError(f"no images found in {inputs}")
  os.makedirs(output, exist_ok=True)
  written = []
  for path in paths:
    image = image_io.load_image(path, channels)
    h, w = image.shape[:2]
    x = pad_to_multiple(image.astype(np.float32) / 127.5 - 1.0, multiple)
    y = np.asarray(forward(jnp.asarray(x[None])))[0, :h, :w]
    name = os.path.splitext(os.path.relpath(path, inputs) if os.path.isdir(inputs)
                            else os.path.basename(path))[0] + ".png"
    out_path = os.path.join(output, name)
    image_io.save_image(image_io.to_uint8(y), out_path)
    written.append(out_path)
  return written


FLAGS = flags.FLAGS
flags.DEFINE_string("workdir", None, "Training workdir (config.json + checkpoints/).")
flags.DEFINE_string("input", None, "An image file or a folder of images.")
flags.DEFINE_string("output", None, "Folder for the translated PNGs.")
flags.DEFINE_string("direction", "AtoB", "AtoB or BtoA (CycleGAN: G_A or G_B; pix2pix: AtoB).")
flags.DEFINE_integer("step", None, "Checkpoint step (default: newest).")


def main(argv):
  del argv
  written = translate_images(FLAGS.workdir, FLAGS.input, FLAGS.output, FLAGS.direction,
                             FLAGS.step)
  logging.info("wrote %d images to %s", len(written), FLAGS.output)


if __name__ == "__main__":
  flags.mark_flags_as_required(["workdir", "input", "output"])
  app.run(main)
