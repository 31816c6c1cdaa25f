"""MUNIT configurations.

`configs/munit.py` (no argument, or `:edges2handbags`) is the official
`configs/edges2handbags_folder.yaml` of NVlabs/MUNIT: gen dim 64, mlp_dim 256,
style_dim 8, relu, n_downsample 2, n_res 4, reflect padding; dis dim 64, no
norm, lrelu, n_layer 4, LSGAN, 3 scales; gan_w 1, recon_x_w 10, recon_s_w 1,
recon_c_w 1, recon_x_cyc_w 0, vgg_w 0; Adam lr 1e-4 (0.5, 0.999), weight decay
1e-4 (coupled, as torch.optim.Adam), StepLR x0.5 every 100,000 iterations;
1,000,000 iterations at batch 1; images: shorter side resized to 256, random
256 crop, horizontal flip. It reads the unaligned folder layout (trainA/,
trainB/, testA/, testB/) from `--config.data.path`. Presets
(`configs/munit.py:NAME`):
  quickstart   the embedded day photos <-> duotone prints (each print has its
               own hue, so domain B has a style to sample) at 64 px with
               narrow networks and the explicit cycle term (recon_x_cyc_w 10,
               as the official summer2winter photo config), 900 steps,
               about 14 minutes on a 2-core CPU.
"""

import ml_collections

from i2ijax.config_defaults import add_run_settings


def munit_family_config(model_name: str) -> ml_collections.ConfigDict:
  """The settings MUNIT's and UNIT's official configs share (edges2handbags)."""
  c = ml_collections.ConfigDict()
  c.model_name = model_name
  c.seed = 0
  c.batch_size = 1
  c.num_train_steps = 1_000_000  # max_iter

  c.data = ml_collections.ConfigDict()
  c.data.source = "folder"  # folder | tfds | embedded
  c.data.path = ""  # folder: a directory holding trainA/ trainB/ (testA/ testB/)
  c.data.tfds_name = ""
  c.data.tfds_data_dir = ""
  c.data.input_nc = 3  # input_dim_a
  c.data.output_nc = 3  # input_dim_b
  c.data.preprocess = "resize_short_and_crop"
  c.data.load_size = 256  # new_size: the shorter side
  c.data.crop_size = 256  # crop_image_height / _width
  c.data.flip = True
  c.data.embedded_images = 64
  c.data.embedded_domains = ""
  c.data.prefetch = 2

  c.model = ml_collections.ConfigDict()
  c.model.gen = ml_collections.ConfigDict()
  c.model.gen.dim = 64
  c.model.gen.activ = "relu"
  c.model.gen.n_downsample = 2
  c.model.gen.n_res = 4
  c.model.gen.pad_type = "reflect"
  c.model.dis = ml_collections.ConfigDict()
  c.model.dis.dim = 64
  c.model.dis.norm = "none"
  c.model.dis.activ = "lrelu"
  c.model.dis.n_layer = 4
  c.model.dis.gan_type = "lsgan"  # lsgan | nsgan
  c.model.dis.num_scales = 3
  c.model.dis.pad_type = "reflect"
  c.model.gan_w = 1.0
  c.model.recon_x_w = 10.0
  c.model.vgg_w = 0.0
  c.model.vgg_model_path = ""  # VGG16 weights for vgg_w > 0 (i2ijax.perceptual.load_vgg16)
  c.model.param_dtype = "float32"
  c.model.dtype = "float32"  # "bfloat16": mixed precision

  c.optimizer = ml_collections.ConfigDict()
  c.optimizer.lr = 1e-4
  c.optimizer.beta1 = 0.5
  c.optimizer.beta2 = 0.999
  c.optimizer.weight_decay = 1e-4
  c.optimizer.lr_policy = "step"  # step | constant
  c.optimizer.step_size = 100_000
  c.optimizer.gamma = 0.5

  add_run_settings(c)
  c.log_every_steps = 10  # log_iter
  c.sample_every_steps = 10_000  # image_save_iter
  c.checkpoint_every_steps = 10_000  # snapshot_save_iter
  c.num_sample_images = 16  # display_size
  return c


def quickstart(c: ml_collections.ConfigDict) -> ml_collections.ConfigDict:
  """The embedded day <-> duotone task at 64 px with narrow networks."""
  c.data.source = "embedded"
  c.data.embedded_domains = "day,duotone"
  c.data.load_size = 72
  c.data.crop_size = 64
  c.data.embedded_images = 48
  c.model.gen.dim = 16
  c.model.gen.n_res = 2
  c.model.dis.dim = 16
  c.model.dis.n_layer = 3
  c.batch_size = 4
  c.optimizer.lr = 2e-4  # twice the official rate, for a run of minutes
  c.log_every_steps = 50
  c.sample_every_steps = 250
  c.checkpoint_every_steps = 250
  c.num_sample_images = 4
  return c


def get_config(arg: str | None = None) -> ml_collections.ConfigDict:
  c = munit_family_config("munit")
  c.model.gen.mlp_dim = 256
  c.model.gen.style_dim = 8
  c.model.recon_s_w = 1.0
  c.model.recon_c_w = 1.0
  c.model.recon_x_cyc_w = 0.0
  c.num_sample_styles = 4  # random B styles per A image in the styles grid
  if arg in (None, "", "edges2handbags"):
    return c
  if arg == "quickstart":
    quickstart(c)
    c.model.gen.mlp_dim = 64
    # The explicit style-augmented cycle of the official photo config
    # (summer2winter_yosemite256_folder.yaml: recon_x_cyc_w 10); without it the
    # day -> night translations lose the structure (README "Results").
    c.model.recon_x_cyc_w = 10.0
    # The cycle costs about half again per step: 900 steps (constant rate) keep
    # the run under 15 minutes on 2 CPU cores.
    c.num_train_steps = 900
    return c
  raise ValueError(f"unknown munit preset {arg!r}; valid: edges2handbags, quickstart")
