"""StarGAN v2 configurations.

`configs/stargan_v2.py` (no argument, or `:afhq`) is the official AFHQ setting
(README training command): 256 x 256, 3 domains, w_hpf 0, lambda_ds 2, with
the official `main.py` defaults otherwise: batch 8, 100,000 iterations, Adam
(beta 0, 0.99) lr 1e-4 (mapping network 1e-6), coupled weight decay 1e-4,
lambda_reg = lambda_cyc = lambda_sty = 1, lambda_ds decayed to 0 over
100,000 iterations, EMA beta 0.999, seed 777; RandomResizedCrop with
probability 0.5, resize, flip. It reads `--config.data.path` laid out as
train/<domain>/*.jpg and val/<domain>/. Presets (`configs/stargan_v2.py:NAME`):
  celeba_hq   the official CelebA-HQ setting: 2 domains, w_hpf 1, lambda_ds 1
              (the high-pass skip needs the face masks of the official FAN
              network, which is not part of i2ijax: without masks the
              generator has the w_hpf = 1 architecture and no skip);
  quickstart  the embedded multi-domain photos (day / night / duotone, each
              with its own per-image style) at 64 px with narrow networks,
              800 iterations, about 14 minutes on a 2-core CPU.
"""

import ml_collections

from i2ijax.config_defaults import add_run_settings


def get_config(arg: str | None = None) -> ml_collections.ConfigDict:
  c = ml_collections.ConfigDict()
  c.model_name = "stargan_v2"
  c.seed = 777
  c.batch_size = 8
  c.num_train_steps = 100_000  # --total_iters

  c.data = ml_collections.ConfigDict()
  c.data.source = "folder"  # folder | tfds | embedded
  c.data.path = ""  # folder: a directory holding train/<domain>/ and val/<domain>/
  c.data.tfds_name = ""  # tfds: a prepared dataset with an image and a class label feature
  c.data.tfds_data_dir = ""
  c.data.tfds_image_key = "image"
  c.data.tfds_label_key = "label"
  c.data.input_nc = 3
  c.data.output_nc = 3
  c.data.preprocess = "random_resized_crop"
  c.data.randcrop_prob = 0.5
  c.data.load_size = 256  # (unused by random_resized_crop)
  c.data.crop_size = 256  # --img_size
  c.data.flip = True
  c.data.embedded_images = 48  # embedded: crops per domain
  c.data.prefetch = 2

  c.model = ml_collections.ConfigDict()
  c.model.num_domains = 3
  c.model.latent_dim = 16
  c.model.hidden_dim = 512  # mapping network width (fixed at 512 in the official module)
  c.model.style_dim = 64
  c.model.w_hpf = 0.0
  c.model.dim_in = 0  # first conv width; 0 = the official 2**14 // img_size
  c.model.max_conv_dim = 512
  c.model.lambda_reg = 1.0
  c.model.lambda_cyc = 1.0
  c.model.lambda_sty = 1.0
  c.model.lambda_ds = 2.0
  c.model.ds_iter = 100_000
  c.model.ema_beta = 0.999
  c.model.param_dtype = "float32"
  c.model.dtype = "float32"  # "bfloat16": mixed precision

  c.optimizer = ml_collections.ConfigDict()
  c.optimizer.lr = 1e-4
  c.optimizer.f_lr = 1e-6
  c.optimizer.beta1 = 0.0
  c.optimizer.beta2 = 0.99
  c.optimizer.weight_decay = 1e-4

  add_run_settings(c)
  c.log_every_steps = 10  # --print_every
  c.sample_every_steps = 5000
  c.checkpoint_every_steps = 10_000
  c.num_sample_images = 4
  c.num_sample_latents = 3  # latents per domain in the latent-guided grid

  if arg in (None, "", "afhq"):
    return c
  if arg == "celeba_hq":
    c.model.num_domains = 2
    c.model.w_hpf = 1.0
    c.model.lambda_ds = 1.0
    return c
  if arg == "quickstart":
    c.data.source = "embedded"
    c.data.crop_size = 64
    c.data.load_size = 80
    c.model.dim_in = 16
    c.model.max_conv_dim = 64
    c.model.hidden_dim = 128
    c.model.style_dim = 16
    c.model.lambda_ds = 1.0  # main.py's default (CelebA-HQ); 2 collapses content more at this size
    c.model.ds_iter = 800  # the diversity weight decays to 0 over the run, as the official ds_iter = total_iters
    c.model.ema_beta = 0.99  # a short run: 0.999 would still remember the initial networks
    c.optimizer.lr = 2e-4  # twice the official rates, for a run of minutes
    c.optimizer.f_lr = 2e-5
    c.batch_size = 4
    c.num_train_steps = 800  # about 0.95 s per step on 2 CPU cores
    c.log_every_steps = 50
    c.sample_every_steps = 250
    c.checkpoint_every_steps = 250
    return c
  raise ValueError(f"unknown stargan_v2 preset {arg!r}; valid: afhq, celeba_hq, quickstart")
