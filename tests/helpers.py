"""Shared test helpers: configs/ files, tiny model settings, resume and sharding helpers,
random weight files. Test modules import from here, never from each other."""

import importlib.util
import os
import re
import zlib

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FIXTURES = os.path.join(ROOT, "tests", "fixtures")

def load_config(name: str, arg: str | None = None):
  """`configs/<name>.py` -> get_config(arg)."""
  path = os.path.join(ROOT, "configs", f"{name}.py")
  spec = importlib.util.spec_from_file_location(f"configs_{name}", path)
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  return module.get_config(arg)


def tiny_cyclegan_config(size: int = 32):
  """The quickstart preset shrunk to seconds-per-run networks."""
  c = load_config("cyclegan", "quickstart")
  c.model.netG = "resnet_6blocks"
  c.model.ngf = 8
  c.model.ndf = 8
  c.data.load_size = size + 4
  c.data.crop_size = size
  c.data.embedded_images = 8
  c.data.prefetch = 1
  c.batch_size = 2
  return c


def tiny_stargan_v2_config(size: int = 32):
  """The StarGAN v2 quickstart preset shrunk to seconds-per-run networks."""
  c = load_config("stargan_v2", "quickstart")
  c.data.crop_size = size
  c.data.load_size = size + 8
  c.data.embedded_images = 8
  c.data.prefetch = 1
  c.model.dim_in = 8
  c.model.max_conv_dim = 16
  c.model.hidden_dim = 16
  c.model.style_dim = 8
  c.model.latent_dim = 4
  c.batch_size = 2
  return c


def _tiny_munit_family(name: str, size: int):
  c = load_config(name, "quickstart")
  c.data.crop_size = size
  c.data.load_size = size + 4
  c.data.embedded_images = 8
  c.data.prefetch = 1
  c.model.gen.dim = 8
  c.model.gen.n_res = 1
  c.model.dis.dim = 8
  c.model.dis.n_layer = 2
  c.model.dis.num_scales = 1  # three scales are checked by the parity tests; one compiles faster
  c.batch_size = 2
  if name == "munit":
    c.model.gen.mlp_dim = 16
    c.model.gen.style_dim = 4
    c.num_sample_styles = 2
  return c


def tiny_munit_config(size: int = 32):
  """The MUNIT quickstart preset shrunk to seconds-per-run networks."""
  return _tiny_munit_family("munit", size)


def tiny_unit_config(size: int = 32):
  """The UNIT quickstart preset shrunk to seconds-per-run networks."""
  return _tiny_munit_family("unit", size)


def tiny_stargan_config(size: int = 32):
  """The StarGAN quickstart preset shrunk to seconds-per-run networks (n_critic 2)."""
  c = load_config("stargan", "quickstart")
  c.data.crop_size = size
  c.data.load_size = size
  c.data.embedded_images = 8
  c.data.prefetch = 1
  c.model.g_conv_dim = 4
  c.model.d_conv_dim = 4
  c.model.g_repeat_num = 1
  c.model.d_repeat_num = 3
  c.model.n_critic = 2
  c.batch_size = 2
  return c


def tiny_homointerp_config(size: int = 32):
  """The HomoInterpGAN quickstart preset shrunk to seconds-per-run networks (n_discrim 2)."""
  c = load_config("homointerp", "quickstart")
  c.data.crop_size = size
  c.data.load_size = size
  c.data.embedded_images = 8
  c.data.prefetch = 1
  c.model.vgg_width = 2
  c.model.d_conv_dim = 4
  c.model.d_downsamples = {32: 2, 64: 3, 128: 4}[size]  # the quickstart's relu3_1: size / 4
  c.model.n_discrim = 2
  c.batch_size = 2
  return c


def tiny_ugatit_config(size: int = 32):
  """The U-GAT-IT quickstart preset shrunk to seconds-per-run networks (light generator;
  discriminators of 5 and 4 layers, the deepest that 32 px allow)."""
  c = load_config("ugatit", "quickstart")
  c.data.crop_size = size
  c.data.load_size = size + 4
  c.data.embedded_images = 8
  c.data.prefetch = 1
  c.model.ch = 4
  c.model.n_res = 1
  c.model.n_layers_global = {32: 5, 64: 6}[size]
  c.model.n_layers_local = 4
  c.batch_size = 2
  return c


def tiny_drit_config(size: int = 32):
  """The DRIT++ quickstart preset shrunk to seconds-per-run networks: ch 4, image
  discriminators of one scale and 3 layers (one scale compiles in about 60% of the time of
  three) and a content discriminator without 7x7 layers (what 32 px allow)."""
  c = load_config("drit", "quickstart")
  c.data.crop_size = size
  c.data.load_size = size + 4
  c.data.embedded_images = 8
  c.data.prefetch = 1
  c.model.ch = 4
  c.model.dis_scales = 1
  c.model.dis_layers = 3
  c.model.content_d_layers = 0
  c.batch_size = 2
  return c


def tiny_dualgan_config(size: int = 32):
  """The DualGAN quickstart preset shrunk to seconds-per-run networks (gcn = dcn = 4, U-Net
  levels down to 1x1: 5 at 32 px; critics of 3 normalised layers)."""
  c = load_config("dualgan", "quickstart")
  c.data.crop_size = size
  c.data.load_size = size
  c.data.embedded_images = 8
  c.data.prefetch = 1
  c.model.gcn = 4
  c.model.dcn = 4
  c.model.num_downs = {32: 5, 64: 6}[size]
  c.model.n_layers_D = {32: 3, 64: 3}[size]  # the critics end at 2x2 / 4x4 (1x1 is constant)
  c.batch_size = 2
  return c


def tiny_discogan_config(size: int = 64):
  """The DiscoGAN quickstart preset shrunk to seconds-per-run networks (width 2). 64 px at
  least, whatever `size` asks: the discriminator's last 4x4 conv needs a 4x4 map."""
  c = load_config("discogan", "quickstart")
  c.data.crop_size = c.data.load_size = max(size, 64)
  c.data.embedded_images = 8
  c.data.prefetch = 1
  c.model.ngf = c.model.ndf = 2
  c.batch_size = 2
  return c


def tiny_fader_config(size: int = 32):
  """The Fader Networks quickstart preset shrunk to seconds-per-run networks (widths 4-8-16,
  latent 16 x 4 x 4 at 32 px, hid_dim 8)."""
  c = load_config("fader", "quickstart")
  c.data.crop_size = size
  c.data.load_size = size
  c.data.embedded_images = 8
  c.data.prefetch = 1
  c.model.init_fm = 4
  c.model.max_fm = 16
  c.model.n_layers = {32: 3, 64: 4}[size]
  c.model.hid_dim = 8
  c.model.lambda_schedule = 2
  c.batch_size = 2
  return c


def tiny_genegan_config(size: int = 32):
  """The GeneGAN quickstart preset shrunk to seconds-per-run networks (widths 2, latent 8 x
  4 x 4 at 32 px, attribute part 2 channels); one critic step per iteration and a burst of
  one every 2nd: the library steps alternate D, G."""
  c = load_config("genegan", "quickstart")
  c.data.crop_size = c.data.load_size = size
  c.data.embedded_images = 8
  c.data.prefetch = 1
  c.model.ch_g = c.model.ch_d = 2
  c.model.d_burst = 1
  c.model.d_burst_every = 2
  c.batch_size = 2
  return c


def tiny_icgan_config(size: int = 16):
  """The IcGAN quickstart preset shrunk to seconds-per-run networks (G and D 4 filters,
  encoders 2 convs from 4 filters, fc 8, z of 6), 2 GAN iterations then 1 of both
  encoders (both stages and the switch between them)."""
  c = load_config("icgan", "quickstart")
  c.data.crop_size = c.data.load_size = size
  c.data.embedded_images = 8
  c.data.prefetch = 1
  c.model.ngf = c.model.ndf = c.model.enc_nf = 4
  c.model.enc_conv_layers = 2
  c.model.enc_z_fc = c.model.enc_y_fc = 8
  c.model.nz = 6
  c.model.gan_steps, c.model.enc_z_steps, c.model.enc_y_steps = 2, 1, 1
  c.num_train_steps = 3
  c.batch_size = 2
  return c


def tiny_face_age_config(size: int = 16):
  """The Face-Age quickstart preset at IcGAN's tiny sizes (`tiny_icgan_config`): 6 one-hot
  levels, 2 GAN iterations then 1 of both encoders, 2 L-BFGS iterations per edit."""
  c = load_config("face_age", "quickstart")
  tiny = tiny_icgan_config(size)
  for key in ("crop_size", "load_size", "embedded_images", "prefetch"):
    c.data[key] = tiny.data[key]
  for key in ("ngf", "ndf", "enc_nf", "enc_conv_layers", "enc_z_fc", "enc_y_fc", "nz",
              "gan_steps", "enc_z_steps", "enc_y_steps"):
    c.model[key] = tiny.model[key]
  c.num_train_steps, c.batch_size = tiny.num_train_steps, tiny.batch_size
  c.model.inversion_steps = 2
  return c


def tiny_dtn_config(size: int = 32):
  """The DTN quickstart preset shrunk to seconds-per-run networks (f 4-4-4-8, g 8-4-4,
  D 4-4-8), one iteration of f's pretraining, one g step per iteration, a 20-step target
  classifier, the paper's loss weights (alpha 15), two renderings of each source digit. 32 px
  whatever `size` asks (the digit networks' only size)."""
  del size
  c = load_config("dtn", "quickstart")
  c.data.prefetch = 1
  c.data.source_renderings = 2
  c.model.alpha = 15.0
  c.model.f_widths = (4, 4, 4, 8)
  c.model.g_widths = (8, 4, 4)
  c.model.d_widths = (4, 4, 8)
  c.model.f_pretrain_steps = 1
  c.model.g_steps = 1
  c.eval_classifier_steps = 20
  c.batch_size = 2
  return c


TINY_CONFIGS = {"cyclegan": tiny_cyclegan_config, "stargan_v2": tiny_stargan_v2_config,
                "munit": tiny_munit_config, "unit": tiny_unit_config,
                "stargan": tiny_stargan_config, "homointerp": tiny_homointerp_config,
                "ugatit": tiny_ugatit_config, "drit": tiny_drit_config,
                "discogan": tiny_discogan_config,
                "dualgan": tiny_dualgan_config,
                "fader": tiny_fader_config,
                "genegan": tiny_genegan_config,
                "icgan": tiny_icgan_config,
                "face_age": tiny_face_age_config,
                "dtn": tiny_dtn_config}


def random_batch(model_name: str, n: int, size: int, rng, dtype="float32", num_domains: int = 3):
  """A batch of uniform [-1, 1] images (and domain labels) in the layout `model_name` trains on."""
  image = lambda: rng.uniform(-1, 1, (n, size, size, 3)).astype(dtype)
  if model_name in ("stargan", "homointerp"):  # the embedded attributes' 5 labels
    return {"x": image(), "label": rng.integers(0, 2, (n, 5)).astype(dtype)}
  if model_name == "fader":  # the embedded attributes, and the discriminator step's own batch
    labels = lambda: rng.integers(0, 2, (n, 5)).astype(dtype)
    return {"x": image(), "label": labels(), "x_lat": image()[:, None],
            "label_lat": labels()[:, None]}
  if model_name == "icgan":  # the embedded attributes, with the fake and wrong labels
    labels = lambda: rng.integers(0, 2, (n, 5)).astype(dtype)
    return {"x": image(), "label": labels(), "label_fake": labels(), "label_wrong": labels()}
  if model_name == "face_age":  # 6 one-hot levels, with the fake and wrong labels
    labels = lambda: np.eye(6, dtype=dtype)[rng.integers(0, 6, n)]
    return {"x": image(), "label": labels(), "label_fake": labels(), "label_wrong": labels()}
  if model_name == "stargan_v2":
    label = lambda: rng.integers(0, num_domains, n).astype("int32")
    return {"x_src": image(), "y_src": label(), "x_ref": image(), "x_ref2": image(),
            "y_ref": label()}
  if model_name == "dtn":  # labelled RGB source, grey target
    return {"A": image(), "label_A": rng.integers(0, 10, n).astype("int32"),
            "B": image()[..., :1]}
  return {"A": image(), "B": image()}


def random_vgg19_state_dict(width: int, layout: str = "torchvision", seed: int = 0,
                            scale: float = 1.0) -> dict:
  """A random VGG19 state_dict (numpy, weights [out, in, 3, 3] of N(0, scale^2)) at `width`
  in torchvision's (`features.<i>`) or the official `vgg19g` (`features_<s>.convX_Y`) key
  layout; torchvision's also has a classifier entry, which the encoder does not use."""
  import numpy as np
  from i2ijax.models.homointerp import VGG19_TORCHVISION_INDEX
  rng = np.random.default_rng(seed)
  convs = [("conv1_1", 3, 1), ("conv1_2", 1, 1), ("conv2_1", 1, 2), ("conv2_2", 2, 2),
           ("conv3_1", 2, 4), ("conv3_2", 4, 4), ("conv3_3", 4, 4), ("conv3_4", 4, 4),
           ("conv4_1", 4, 8), ("conv4_2", 8, 8), ("conv4_3", 8, 8), ("conv4_4", 8, 8),
           ("conv5_1", 8, 8)]
  official_stage = {"conv1_1": 1, "conv1_2": 1, "conv2_1": 1, "conv2_2": 1, "conv3_1": 1,
                    "conv3_2": 2, "conv3_3": 2, "conv3_4": 2, "conv4_1": 2}
  sd = {}
  for name, cin, cout in convs:
    i = 3 if name == "conv1_1" else cin * width
    key = (f"features.{VGG19_TORCHVISION_INDEX[name]}" if layout == "torchvision"
           else f"features_{official_stage.get(name, 3)}.{name}")
    sd[f"{key}.weight"] = (scale * rng.normal(size=(cout * width, i, 3, 3))).astype(np.float32)
    sd[f"{key}.bias"] = (scale * rng.normal(size=(cout * width,))).astype(np.float32)
  if layout == "torchvision":
    sd["classifier.0.weight"] = rng.normal(size=(4, 4)).astype(np.float32)
  return sd


def lean_jit(fn, **jit_kwargs):
  """`jax.jit` at LLVM optimisation level 0: for a test that compiles a train step and runs it
  a few times (parity, static against traced phases, one-step checks), where compiling is the
  cost (about a third less). Values may differ from the session's level 1 in the last bit;
  a test that runs hundreds of steps keeps `jax.jit`, which runs faster."""
  import jax
  return jax.jit(fn, compiler_options={"xla_backend_optimization_level": 0}, **jit_kwargs)


def simulated_devices_env(devices: int, llvm_level: int | None = None, **extra) -> dict:
  """The environment of a subprocess with `devices` simulated CPU devices: this process's,
  XLA_FLAGS included (the session's flags from conftest), plus the device count.

  llvm_level: another --xla_backend_optimization_level for subprocesses whose results are
  compared only with each other's (0 cuts the compile time of a large train step by about
  a third and slows its run; for a few steps, a gain)."""
  flags = f"{os.environ.get('XLA_FLAGS', '')} --xla_force_host_platform_device_count={devices}"
  if llvm_level is not None:
    flags = re.sub(r"--xla_backend_optimization_level=\d+", "", flags)
    flags += f" --xla_backend_optimization_level={llvm_level}"
  return dict(os.environ, XLA_FLAGS=" ".join(flags.split()), JAX_PLATFORMS="cpu",
              PYTHONPATH=ROOT, **extra)


def train_straight_and_resumed(make_config, base, total: int, first: int) -> dict:
  """Runs `make_config(total)` in base/straight, and in base/resumed first
  `make_config(first)` then `make_config(total)` (a resume from step `first`).

  Returns {"straight", "resumed" (workdirs), "first_half" (checkpoint steps
  after the first part), "metrics" (of the resumed run's end)}.
  """
  import os
  from i2ijax import checkpoint
  from i2ijax.train.loop import train_and_evaluate
  straight, resumed = str(base / "straight"), str(base / "resumed")
  train_and_evaluate(make_config(total), straight)
  train_and_evaluate(make_config(first), resumed)
  first_half = sorted(os.listdir(checkpoint.checkpoint_dir(resumed)))
  metrics = train_and_evaluate(make_config(total), resumed)
  return {"straight": straight, "resumed": resumed, "first_half": first_half, "metrics": metrics}


def assert_same_states(workdir_a: str, workdir_b: str, config, atol: float = 1e-6) -> int:
  """The newest checkpoints of two workdirs hold equal states; returns the number of leaves."""
  import jax
  import numpy as np
  from i2ijax.translate import load_state
  _, a = load_state(workdir_a, config)
  _, b = load_state(workdir_b, config)
  assert int(a.step) == int(b.step)
  la, lb = jax.tree_util.tree_leaves_with_path(a), jax.tree_util.tree_leaves_with_path(b)
  assert len(la) == len(lb)
  for (path, x), (_, y) in zip(la, lb):
    np.testing.assert_allclose(np.asarray(x), np.asarray(y), rtol=0, atol=atol,
                               err_msg=jax.tree_util.keystr(path))
  return len(la)


def short_run(config, steps: int):
  """`config` as a `steps`-step run that logs every 2 steps, samples every 4 (2 images)
  and checkpoints every 2, keeping 2."""
  config.num_train_steps = steps
  config.log_every_steps = 2
  config.sample_every_steps = 4
  config.checkpoint_every_steps = 2
  config.max_to_keep = 2
  config.num_sample_images = 2
  return config


def random_state_dict(shapes, seed=0):
  """Deterministic random weights {key: float32 array} for {key: shape}.

  Each key draws from its own generator, seeded by (seed, crc32 of the key), so
  the order of `shapes` does not matter. Conv/linear weights are He-scaled
  normals (LPIPS heads `lin*` made nonnegative), BatchNorm scales and running
  variances uniform in [0.5, 1.5], biases and running means N(0, 0.1^2).
  """
  out = {}
  for key, shape in shapes.items():
    rng = np.random.default_rng([seed, zlib.crc32(key.encode())])
    leaf = key.rsplit(".", 1)[-1]
    if leaf in ("running_mean", "bias"):
      value = 0.1 * rng.standard_normal(shape)
    elif leaf == "running_var" or (leaf == "weight" and len(shape) == 1):
      value = rng.uniform(0.5, 1.5, shape)
    elif leaf == "weight":
      value = rng.standard_normal(shape) * np.sqrt(2.0 / np.prod(shape[1:]))
      if key.startswith("lin"):
        value = np.abs(value)
    else:
      raise ValueError(f"no random rule for {key}")
    out[key] = value.astype(np.float32)
  return out


def weight_envs():
  """The environment variables that point evaluation at metric weights (FID Inception, LPIPS)."""
  from i2ijax.metrics import inception, lpips
  return (inception.WEIGHTS_ENV, lpips.ENV_BACKBONE, lpips.ENV_HEADS)


def grid_body(png, rows: int, cols: int, cell: int = 34):
  """The image part of a labelled sample grid PNG of rows x cols cells (`cell` px each with its
  2 px border): the bottom-right block, after checking the label margin left of it is drawn."""
  import numpy as np
  h, w = rows * cell + 2, cols * cell + 2
  assert png.shape[0] >= h and png.shape[1] > w, (png.shape, h, w)
  assert (np.asarray(png)[-h:, :-w] < 128).any(), "no row labels drawn left of the grid"
  return png[-h:, -w:]


def random_vgg16_state_dict(seed: int = 0) -> dict:
  """A MUNIT `vgg16.weight`-style state_dict: [out, in, 3, 3] He-scaled kernels, N(0, 0.1^2)
  biases, for every conv of `perceptual.VGG16_LAYERS`."""
  import numpy as np
  from i2ijax.perceptual import VGG16_LAYERS
  rng = np.random.default_rng(seed)
  sd, channels = {}, 3
  for layer in VGG16_LAYERS:
    if layer != "pool":
      name, features = layer
      sd[f"{name}.weight"] = rng.normal(0, np.sqrt(2 / (9 * channels)),
                                        (features, channels, 3, 3)).astype(np.float32)
      sd[f"{name}.bias"] = rng.normal(0, 0.1, features).astype(np.float32)
      channels = features
  return sd


def check_random_reference_and_interpolated_styles(workdir: str, folder, ref_direction: str) -> str:
  """Translates a random 36x44 image from `workdir` (a two-domain model with a latent style or
  attribute code) with 3 seeded random codes, the codes of 2 reference images and 4 codes
  interpolated between them (`ref_direction`), and checks: the input's size, distinct random
  outputs, the same outputs for the same seed, and an interpolation that starts and ends at the
  references' outputs. Returns the input's path."""
  from PIL import Image
  from i2ijax.translate import translate_images
  rng = np.random.default_rng(0)
  Image.fromarray(rng.integers(0, 256, (36, 44, 3), dtype=np.uint8)).save(folder / "a.png")
  for name in ("r1", "r2"):
    Image.fromarray(rng.integers(0, 256, (32, 32, 3), dtype=np.uint8)).save(folder / f"{name}.png")
  src = str(folder / "a.png")
  read = lambda p: np.asarray(Image.open(p)).astype(int)
  three = translate_images(workdir, src, str(folder / "s"), "AtoB", num_styles=3, seed=0)
  assert [os.path.basename(p) for p in three] == ["a_000.png", "a_001.png", "a_002.png"]
  assert read(three[0]).shape == (36, 44, 3)  # the input's own size
  assert np.abs(read(three[0]) - read(three[1])).mean() > 0
  again = translate_images(workdir, src, str(folder / "s2"), "AtoB", num_styles=3, seed=0)
  assert all(np.array_equal(read(a), read(b)) for a, b in zip(three, again))
  refs = f"{folder / 'r1.png'},{folder / 'r2.png'}"
  by_ref = translate_images(workdir, src, str(folder / "r"), ref_direction, reference=refs)
  line = translate_images(workdir, src, str(folder / "i"), ref_direction, reference=refs,
                          interpolate=4)
  assert len(by_ref) == 2 and len(line) == 4
  assert np.abs(read(line[0]) - read(by_ref[0])).max() <= 1
  assert np.abs(read(line[-1]) - read(by_ref[1])).max() <= 1
  assert np.abs(read(line[1]) - read(line[2])).mean() > 0
  return src
