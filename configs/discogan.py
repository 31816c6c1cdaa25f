"""DiscoGAN configurations.

`configs/discogan.py` (no argument) is the official `image_translation.py`
defaults: 64x64 images (resized, no crop, no flip; [0, 1] inside the model),
the encoder-decoder generators and the feature-returning discriminators of
width 64, BCE GAN x 0.1 plus feature matching x 0.9, reconstruction MSE at
rate 0.01 for the first 10,000 iterations (`gan_curriculum`) then 0.5,
discriminators updated every 3rd iteration and generators on the other two,
Adam 2e-4 (0.5, 0.999) with L2 weight decay 1e-5 and a constant rate, batch
64, 5,000 epochs. It reads the unaligned folder layout (trainA/ trainB/) from
`--config.data.path`.
Presets (`configs/discogan.py:NAME`):
  quickstart   the embedded day->night photos at 64 px, networks of width 16,
               batch 8, 2,400 iterations with the curriculum shortened to the
               first 800 (about 10 minutes on 2 CPU cores); `python -m
               i2ijax.evaluate` scores AtoB against the exact night rendering
               of each held-out photo (README "Results").
"""

import ml_collections

from i2ijax.config_defaults import add_run_settings


def get_config(arg: str | None = None) -> ml_collections.ConfigDict:
  c = ml_collections.ConfigDict()
  c.model_name = "discogan"
  c.seed = 0
  c.batch_size = 64
  c.num_train_steps = -1  # -1: n_epochs epochs of max(|A|, |B|) images

  c.data = ml_collections.ConfigDict()
  c.data.source = "folder"  # folder (trainA/ trainB/) | tfds | embedded
  c.data.path = ""
  c.data.tfds_name = ""
  c.data.tfds_data_dir = ""
  c.data.input_nc = 3
  c.data.output_nc = 3
  c.data.preprocess = "resize_and_crop"  # load_size = crop_size: a plain resize
  c.data.load_size = 64
  c.data.crop_size = 64  # --image_size
  c.data.flip = False
  c.data.embedded_images = 64
  c.data.prefetch = 2

  c.model = ml_collections.ConfigDict()
  c.model.model_arch = "discogan"  # discogan | recongan | gan
  c.model.ngf = 64
  c.model.ndf = 64
  c.model.lambda_gan = 0.1
  c.model.lambda_fm = 0.9
  c.model.gan_curriculum = 10000
  c.model.starting_rate = 0.01
  c.model.default_rate = 0.5
  c.model.update_interval = 3
  c.model.param_dtype = "float32"
  c.model.dtype = "float32"

  c.optimizer = ml_collections.ConfigDict()
  c.optimizer.lr = 2e-4
  c.optimizer.beta1 = 0.5
  c.optimizer.beta2 = 0.999
  c.optimizer.weight_decay = 1e-5
  c.optimizer.lr_policy = "constant"
  c.optimizer.n_epochs = 5000  # --epoch_size
  c.optimizer.n_epochs_decay = 0
  c.optimizer.epoch_count = 1
  add_run_settings(c)
  c.log_every_steps = 50  # --log_interval
  c.sample_every_steps = 1000  # --image_save_interval
  c.checkpoint_every_steps = 10000  # --model_save_interval

  if arg in (None, "", "paper"):
    return c
  if arg == "quickstart":
    c.data.source = "embedded"
    c.model.ngf = 16
    c.model.ndf = 16
    c.batch_size = 8
    c.num_train_steps = 2400
    c.model.gan_curriculum = 800
    c.log_every_steps = 50
    c.sample_every_steps = 400
    c.checkpoint_every_steps = 800
    return c
  raise ValueError(f"unknown discogan preset {arg!r}; valid: paper, quickstart")
