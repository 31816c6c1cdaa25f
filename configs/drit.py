"""DRIT++ configurations.

`configs/drit.py` (no argument) is the official `src/options.py` default of
HsinYingLee/DRIT (master = DRIT++): `--concat 1` (attribute codes tiled and
concatenated, VAE attribute encoder, nz 8), mode seeking on, `--dis_scale 3`
multi-scale image discriminators of 4 layers without norm, the content
discriminator, `--d_iter 3`, batch 2 (one "encoded" and one "random" image
per domain), images resized to 256 x 256 (bicubic), random 216 crop and
horizontal flip, Adam lr 1e-4 (0.5, 0.999) with coupled weight decay 1e-4,
the content discriminator at lr / 2.5 with gradient-norm clip 5, and the
official `LambdaLR`: constant for `--n_ep_decay 600` epochs, then linear over
the remaining 600 of `--n_ep 1200`. The loss weights are the ones hard-coded
in `model.py`. The official loop stops after 1200 epochs or 500,000 full
updates (about 1,500,000 batches at d_iter 3), whichever comes first; here
`num_train_steps` counts batches, so set it to 1200 x (batches per epoch)
for a set smaller than ~2500 images per domain. It reads the unaligned
folder layout (trainA/, trainB/, testA/, testB/) from `--config.data.path`.

Presets (`configs/drit.py:NAME`):
  quickstart   the embedded day photos <-> duotone prints (each print has its
               own hue: an attribute to sample) at 64 px, ch 16, one 7x7
               layer in the content discriminator (the official three need a
               content map of 53 px, crop 212), batch 4 at twice the official
               rate, constant rate.
"""

import ml_collections

from i2ijax.config_defaults import add_run_settings


def get_config(arg: str | None = None) -> ml_collections.ConfigDict:
  c = ml_collections.ConfigDict()
  c.model_name = "drit"
  c.seed = 0
  c.batch_size = 2  # --batch_size
  c.num_train_steps = 1_500_000  # batches: max_it 500,000 full updates at d_iter 3

  c.data = ml_collections.ConfigDict()
  c.data.source = "folder"  # folder | tfds | embedded
  c.data.path = ""  # folder: a directory holding trainA/ trainB/ (testA/ testB/)
  c.data.tfds_name = ""
  c.data.tfds_data_dir = ""
  c.data.input_nc = 3  # --input_dim_a
  c.data.output_nc = 3  # --input_dim_b
  c.data.preprocess = "resize_and_crop"  # Resize((256, 256), BICUBIC), RandomCrop(216)
  c.data.load_size = 256  # --resize_size
  c.data.crop_size = 216  # --crop_size
  c.data.flip = True  # not --no_flip
  c.data.embedded_images = 64
  c.data.prefetch = 2

  c.model = ml_collections.ConfigDict()
  c.model.ch = 64  # base width of encoders and discriminators (content: 4 ch)
  c.model.nz = 8
  c.model.mode_seeking = True  # not --no_ms
  c.model.dis_scales = 3  # --dis_scale
  c.model.dis_layers = 4
  c.model.content_d_layers = 3  # 7x7 stride-2 convs of the content discriminator
  c.model.d_iter = 3  # --d_iter
  c.model.lambda_cycle = 10.0  # cross-cycle L1
  c.model.lambda_self = 10.0  # self-reconstruction L1
  c.model.lambda_kl_attr = 0.01
  c.model.lambda_kl_content = 0.01
  c.model.lambda_latent = 10.0  # latent regression L1
  c.model.content_lr_divisor = 2.5
  c.model.content_clip = 5.0
  c.model.param_dtype = "float32"
  c.model.dtype = "float32"  # "bfloat16": mixed precision

  c.optimizer = ml_collections.ConfigDict()
  c.optimizer.lr = 1e-4
  c.optimizer.beta1 = 0.5
  c.optimizer.beta2 = 0.999
  c.optimizer.weight_decay = 1e-4
  c.optimizer.lr_policy = "linear"  # --lr_policy lambda | constant
  c.optimizer.n_epochs = 600  # --n_ep_decay
  c.optimizer.n_epochs_decay = 600  # --n_ep - --n_ep_decay
  c.optimizer.epoch_count = 0  # the official LambdaLR counts epochs from 0

  add_run_settings(c)
  c.log_every_steps = 100
  c.sample_every_steps = 3000
  c.checkpoint_every_steps = 30_000
  c.num_sample_images = 4

  if arg in (None, "", "official"):
    return c
  if arg == "quickstart":
    c.data.source = "embedded"
    c.data.embedded_domains = "day,duotone"
    c.data.load_size = 72
    c.data.crop_size = 64
    c.data.embedded_images = 48
    c.model.ch = 16
    c.model.content_d_layers = 1
    c.batch_size = 4
    c.optimizer.lr = 2e-4
    c.optimizer.lr_policy = "constant"
    c.num_train_steps = 1500
    c.log_every_steps = 50
    c.sample_every_steps = 500
    c.checkpoint_every_steps = 500
    return c
  raise ValueError(f"unknown drit preset {arg!r}; valid: official, quickstart")
