"""Fader Networks configurations.

`configs/fader.py` (no argument, or `:celeba`) is the official setting of
facebookresearch/FaderNetworks `train.py`: 256 x 256 CelebA images (the
official preprocessing: rows 20 to 198 of the aligned 218 x 178 images, i.e.
the centre 178 x 178 crop, resized to 256), attributes Male and Smiling (the
official "Smiling,Male", which the official code sorts by name: the code's
channel order), an autoencoder of 6 stride-2 layers from 32 to 512 filters
(latent 512 x 4 x 4), a latent discriminator of 2 more conv layers (dropout
0.3) and a 512-unit hidden layer, one discriminator step per iteration
(n_lat_dis 1), lambda_ae 1, lambda_lat_dis 1e-4 raised linearly from 0 over
lambda_schedule = 500,000 iterations, gradient norms clipped to 5, batch 32,
Adam 2e-4 (beta 0.5, 0.999) for both networks, horizontal flips, and 1,000
epochs of 50,000 images (1,563 iterations each: 1,563,000 iterations).
Data: `--config.data.path` = the image folder (img_align_celeba) and
`--config.data.attr_path` = list_attr_celeba.txt.
Presets (`configs/fader.py:NAME`):
  celeba_tfds  CelebA from a prepared TFDS `celeb_a` (`data.tfds_data_dir`);
  quickstart   the embedded attribute photos (tint warm / cool, dark, faded,
               vignette; held-out photos with the true translation of every
               label) at 32 px: n_layers 3 (latent 128 x 4 x 4 from 32
               filters), the latent discriminator's 2 remaining convs to 1 x 1,
               the official rates, batch 16, 1,200 iterations, with
               lambda_lat_dis 1e-3 (ten times the official weight) ramped from
               0 over the first 600 iterations (instead of 500,000, which a run
               this short would never leave near 0), so that the latent
               discriminator shapes the encoder within the run.
"""

import ml_collections

from i2ijax.config_defaults import add_run_settings

CELEBA_ATTRS = "Male,Smiling"  # the official default "Smiling,Male", sorted as the code does


def get_config(arg: str | None = None) -> ml_collections.ConfigDict:
  c = ml_collections.ConfigDict()
  c.model_name = "fader"
  c.seed = 1234
  c.batch_size = 32
  c.num_train_steps = 1000 * 1563  # --n_epochs 1000 x --epoch_size 50000 / batch 32 (rounded up)

  c.data = ml_collections.ConfigDict()
  c.data.source = "celeba"  # celeba | tfds | embedded
  c.data.path = ""  # celeba: the image folder (img_align_celeba/)
  c.data.attr_path = ""  # celeba: list_attr_celeba.txt
  c.data.tfds_name = "celeb_a"
  c.data.tfds_data_dir = ""
  c.data.input_nc = 3
  c.data.output_nc = 3
  c.data.preprocess = "center_crop_resize"
  c.data.center_crop = 178  # the official [20:-20] rows of the 218 x 178 images
  c.data.load_size = 256  # (the embedded photos' side)
  c.data.crop_size = 256  # --img_sz
  c.data.flip = True  # --h_flip
  c.data.embedded_images = 256
  c.data.prefetch = 2

  c.model = ml_collections.ConfigDict()
  c.model.attrs = CELEBA_ATTRS  # --attr: binary attributes, 2 code channels each
  c.model.init_fm = 32
  c.model.max_fm = 512
  c.model.n_layers = 6
  c.model.hid_dim = 512
  c.model.lat_dis_dropout = 0.3
  c.model.n_lat_dis = 1
  c.model.lambda_ae = 1.0
  c.model.lambda_lat_dis = 1e-4
  c.model.lambda_schedule = 500_000  # 0: lambda_lat_dis from the start
  c.model.clip_grad_norm = 5.0  # 0: no clipping
  c.model.param_dtype = "float32"
  c.model.dtype = "float32"  # "bfloat16": mixed precision

  c.optimizer = ml_collections.ConfigDict()
  c.optimizer.ae_lr = 2e-4  # --ae_optimizer adam,lr=0.0002
  c.optimizer.dis_lr = 2e-4  # --dis_optimizer adam,lr=0.0002
  c.optimizer.beta1 = 0.5
  c.optimizer.beta2 = 0.999

  add_run_settings(c)
  c.log_every_steps = 25  # the official statistics every 25 iterations
  c.sample_every_steps = 1563  # once per official epoch
  c.checkpoint_every_steps = 1563
  c.num_sample_images = 4
  # Training steps of the attribute classifier that scores translations (`evaluate`).
  c.eval_classifier_steps = 2000

  if arg in (None, "", "celeba"):
    return c
  if arg == "celeba_tfds":
    c.data.source = "tfds"
    return c
  if arg == "quickstart":
    c.data.source = "embedded"
    c.data.center_crop = 0
    c.data.load_size = 32
    c.data.crop_size = 32
    c.model.attrs = "Warm_Tint,Cool_Tint,Dark,Faded,Vignette"
    c.model.n_layers = 3
    c.batch_size = 16
    c.num_train_steps = 1200
    c.model.lambda_lat_dis = 1e-3
    c.model.lambda_schedule = 600
    c.log_every_steps = 100
    c.sample_every_steps = 600
    c.checkpoint_every_steps = 600
    c.eval_classifier_steps = 400
    return c
  raise ValueError(f"unknown fader preset {arg!r}; valid: celeba, celeba_tfds, quickstart")
