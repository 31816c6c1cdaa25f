"""pix2pix configurations.

`configs/pix2pix.py` (no argument) is the paper's / official defaults for
training: aligned data (`--config.data.path` with train/ holding A|B images),
256x256 crops of 286x286 resizes with flips, U-Net-256 generator with dropout,
70x70 PatchGAN on concat(A, B), batch norm, vanilla GAN, lambda_L1 100, no
image pool, Adam 2e-4 (0.5, 0.999), 100 + 100 epochs linear decay, batch 1.
Presets (`configs/pix2pix.py:NAME`):
  quickstart   embedded denoising (crops of scikit-image photos with
               Gaussian noise of std 25 -> the clean crops; the rocket and
               immunohistochemistry photos held out for testing), 128 px,
               U-Net-128 of width 16, about 4 minutes on a 2-core CPU.
               `python -m i2ijax.evaluate` scores it against the noisy input.
"""

import ml_collections

from i2ijax.config_defaults import add_run_settings, official_networks, official_optimizer


def get_config(arg: str | None = None) -> ml_collections.ConfigDict:
  c = ml_collections.ConfigDict()
  c.model_name = "pix2pix"
  c.seed = 0
  c.batch_size = 1
  c.num_train_steps = -1  # -1: (n_epochs + n_epochs_decay) epochs of the training pairs

  c.data = ml_collections.ConfigDict()
  c.data.source = "folder"  # folder (aligned A|B files) | tfds | embedded
  c.data.path = ""
  c.data.tfds_name = ""  # a prepared paired TFDS set, e.g. div2k/bicubic_x4
  c.data.tfds_data_dir = ""  # "" = TFDS default (~/tensorflow_datasets)
  c.data.tfds_input_key = ""  # e.g. lr
  c.data.tfds_target_key = ""  # e.g. hr
  c.data.input_nc = 3
  c.data.output_nc = 3
  c.data.preprocess = "resize_and_crop"
  c.data.load_size = 286
  c.data.crop_size = 256
  c.data.flip = True
  c.data.embedded_images = 64
  c.data.embedded_task = "denoising"  # or super_resolution_4x, colorization (source=embedded)
  c.data.prefetch = 2

  c.model = official_networks("unet_256", "batch", use_dropout=True, gan_mode="vanilla")
  c.model.lambda_L1 = 100.0

  c.optimizer = official_optimizer()
  add_run_settings(c)

  if arg in (None, "", "paper"):
    return c
  if arg == "quickstart":
    c.data.source = "embedded"
    c.data.load_size = 136
    c.data.crop_size = 128
    c.model.netG = "unet_128"
    c.model.ngf = 16
    c.model.ndf = 16
    c.batch_size = 4
    c.optimizer.n_epochs = 100  # 64 pairs, batch 4: 2,400 steps
    c.optimizer.n_epochs_decay = 50
    c.log_every_steps = 50
    c.sample_every_steps = 100
    c.checkpoint_every_steps = 200
    return c
  raise ValueError(f"unknown pix2pix preset {arg!r}; valid: paper, quickstart")
