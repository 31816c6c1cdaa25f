"""IcGAN configurations.

`configs/icgan.py` (no argument, or `:celeba`) is the official CelebA setting of
Guim3/IcGAN (`cfg/mainConfig.lua`): 64 x 64 images (the official preprocessing: the
138 x 138 window at rows 40 and columns 30 of the aligned 218 x 178 images, i.e. the
centre crop shifted 10 columns right, resized to 64; horizontal flips), the 18
attributes the official code keeps (the 40 minus its fixed list of 22, `attrFil`), z of
100 dimensions drawn from N(0, I), G 64 filters, D 64 filters, the wrong-label term
(`trainWrongY`), batch 64, Adam 2e-4 (beta1 0.5) for G and D; encoders of 4 convs from
32 filters, E_z's fully-connected layer as wide as its input (4,096), E_y's 512, Adam
1e-4 (beta1 0.1).

The two official stages (`trainGAN.lua`, then `trainEncoder.lua` for each encoder) run
as one schedule of iterations, chosen by the iteration index (`train.icgan.step_phase`,
so a resumed run continues in its stage): `model.gan_steps` GAN iterations (25 epochs of
ceil(182,638 / 64) = 2,854), then both encoders side by side with G fixed, E_z for
`model.enc_z_steps` (15 epochs of the official generated set: 182,784 pairs, 66% =
120,637 for training, 1,884 batches each: 28,260) and E_y for `model.enc_y_steps` (15
epochs of 66% of the 202,599 real images, 2,089 batches: 31,335);
num_train_steps = gan_steps + max(enc_z_steps, enc_y_steps). E_z's pairs are drawn
afresh every iteration (the official code generates one fixed set of that size first).
Data: `--config.data.path` = the image folder (img_align_celeba) and
`--config.data.attr_path` = list_attr_celeba.txt (this library's CelebA split).
Presets (`configs/icgan.py:NAME`):
  celeba_tfds  CelebA from a prepared TFDS `celeb_a` (`data.tfds_data_dir`);
  quickstart   the embedded attribute photos (tint warm / cool, dark, faded,
               vignette; held-out photos with the true translation of every
               label) at 32 px: G and D 32 filters, encoders 3 convs from 16
               filters (E_z's fc 512, E_y's 128), batch 16, 1,500 GAN iterations
               then 600 of both encoders, the official rates.
"""

import ml_collections

from i2ijax.config_defaults import add_run_settings

# CelebA's 40 attributes without the 22 (1-based) the official code drops:
# attrFil = {1,2,3,4,7,8,11,14,15,17,20,24,25,26,28,30,31,35,37,38,39,40}.
CELEBA_ATTRS = ("Bald,Bangs,Black_Hair,Blond_Hair,Brown_Hair,Bushy_Eyebrows,Eyeglasses,"
                "Gray_Hair,Heavy_Makeup,Male,Mouth_Slightly_Open,Mustache,Pale_Skin,"
                "Receding_Hairline,Smiling,Straight_Hair,Wavy_Hair,Wearing_Hat")
EMBEDDED_ATTRS = "Warm_Tint,Cool_Tint,Dark,Faded,Vignette"


def get_config(arg: str | None = None) -> ml_collections.ConfigDict:
  c = ml_collections.ConfigDict()
  c.model_name = "icgan"
  c.seed = 1234
  c.batch_size = 64  # batchSize (GAN and both encoders)

  c.data = ml_collections.ConfigDict()
  c.data.source = "celeba"  # celeba | tfds | embedded
  c.data.path = ""  # celeba: the image folder (img_align_celeba/)
  c.data.attr_path = ""  # celeba: list_attr_celeba.txt
  c.data.tfds_name = "celeb_a"
  c.data.tfds_data_dir = ""
  c.data.input_nc = 3
  c.data.output_nc = 3
  c.data.preprocess = "center_crop_resize"
  c.data.center_crop = 138  # preprocess_celebA.lua: image.crop(im, 30, 40, 168, 178)
  c.data.center_crop_offset = (0, 10)  # (rows, columns) from the centre window (40, 20)
  c.data.load_size = 64  # (the embedded photos' side)
  c.data.crop_size = 64  # loadSize = fineSize = 64
  c.data.flip = True  # trainHook: image.hflip with probability 0.5
  c.data.embedded_images = 256
  c.data.prefetch = 2

  c.model = ml_collections.ConfigDict()
  c.model.attrs = CELEBA_ATTRS
  c.model.nz = 100
  c.model.noise = "normal"  # normal | uniform
  c.model.ngf = 64
  c.model.ndf = 64
  c.model.train_wrong_y = True
  c.model.enc_nf = 32  # nf
  c.model.enc_conv_layers = 4  # nConvLayers
  c.model.enc_z_fc = 0  # FCsz = nil: the flattened size (4 x 4 x 256 = 4,096 at 64 px)
  c.model.enc_y_fc = 512  # FCsz = 512
  c.model.gan_steps = 25 * 2854  # niter 25 epochs of ceil(182,638 / 64)
  c.model.enc_z_steps = 15 * 1884  # nEpochs 15 of 120,637 generated pairs
  c.model.enc_y_steps = 15 * 2089  # nEpochs 15 of 133,715 real images
  c.model.param_dtype = "float32"
  c.model.dtype = "float32"  # "bfloat16": mixed precision
  c.num_train_steps = c.model.gan_steps + max(c.model.enc_z_steps, c.model.enc_y_steps)

  c.optimizer = ml_collections.ConfigDict()
  c.optimizer.lr = 2e-4  # trainGAN.lua
  c.optimizer.beta1 = 0.5
  c.optimizer.beta2 = 0.999  # optim.adam's default
  c.optimizer.enc_lr = 1e-4  # trainEncoder.lua
  c.optimizer.enc_beta1 = 0.1

  add_run_settings(c)
  c.log_every_steps = 100
  c.sample_every_steps = 2854  # once per GAN epoch
  c.checkpoint_every_steps = 2854
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
    c.data.center_crop_offset = (0, 0)
    c.data.load_size = 32
    c.data.crop_size = 32
    c.model.attrs = EMBEDDED_ATTRS
    c.model.ngf = 32
    c.model.ndf = 32
    c.model.enc_nf = 16
    c.model.enc_conv_layers = 3
    c.model.enc_z_fc = 512
    c.model.enc_y_fc = 128
    c.batch_size = 16
    c.model.gan_steps = 1500
    c.model.enc_z_steps = 600
    c.model.enc_y_steps = 600
    c.num_train_steps = 2100
    c.log_every_steps = 100
    c.sample_every_steps = 700
    c.checkpoint_every_steps = 700
    c.eval_classifier_steps = 400
    return c
  raise ValueError(f"unknown icgan preset {arg!r}; valid: celeba, celeba_tfds, quickstart")
