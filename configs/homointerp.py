"""HomoInterpGAN configurations.

`configs/homointerp.py` (no argument, or `:celeba`) is the official setting of
yingcong/HomoInterpGAN (`run.py train`, `optim_homoInterp.py`): 128 x 128
CelebA images, the five attribute groups
Mouth_Slightly_Open@Smiling, Male@No_Beard@Mustache@Goatee@Sideburns,
Black_Hair@Blond_Hair@Brown_Hair@Gray_Hair, Bald@Receding_Hairline@Bangs,
Young (groups split by ",", a group's attributes by "@", "#" negates one),
a VGG19 encoder of width 64 to relu5_1 (`vgg_path`: a VGG19 weights file,
torchvision's `vgg19` or the official `vgg19g`; empty: random), the decoder
from PyTorch's default initialisation or from `decoder_path` (the official
run.py starts from the authors' homo-decoder-8a84d0ce.pth), 6 interpolator branches,
the feature discriminator of width 256, lambda_gp 100, E and T updated every
n_discrim = 5 iterations, Adam 1e-4 (beta1 0.5 for E, T, D; 0.9 for Dec and
KG), batch 32. The official loop runs 10,000 epochs (until stopped); here
`num_train_steps`. Data: `--config.data.path` = the CelebA image folder and
`--config.data.attr_path` = list_attr_celeba.txt; as the official loader, a
160 crop 15 columns right of centre (edge pixels repeated beyond the image),
its values stretched to 0..255 (scipy.misc.imresize of a float image), resized
to 128 (bilinear), no random flip. The official per-image orientation flips
(`info/celeba-with-orientation.csv`, faces turned to the left) and its own
train/test lists are not reproduced: the split is StarGAN's.
Presets (`configs/homointerp.py:NAME`):
  quickstart  the embedded attribute photos (tint warm@cool, dark, faded,
              vignette, with their true strengths) at 64 px with a VGG19 of
              width 16 stopped at relu3_1 (`encoder_stages` 1: a 64 x 16 x 16
              feature, which the decoder rebuilds far better at this scale
              than the official 4 x 4 relu5_1), a feature discriminator of
              width 64 with three strided convs, batch 8, 2,500 iterations.
"""

import ml_collections

from i2ijax.config_defaults import add_run_settings

CELEBA_ATTRS = ("Mouth_Slightly_Open@Smiling,Male@No_Beard@Mustache@Goatee@Sideburns,"
                "Black_Hair@Blond_Hair@Brown_Hair@Gray_Hair,Bald@Receding_Hairline@Bangs,Young")


def get_config(arg: str | None = None) -> ml_collections.ConfigDict:
  c = ml_collections.ConfigDict()
  c.model_name = "homointerp"
  c.seed = 1234
  c.batch_size = 32  # -bs
  c.num_train_steps = 200_000

  c.data = ml_collections.ConfigDict()
  c.data.source = "celeba"  # celeba | tfds | embedded
  c.data.path = ""
  c.data.attr_path = ""
  c.data.tfds_name = "celeb_a"
  c.data.tfds_data_dir = ""
  c.data.input_nc = 3
  c.data.output_nc = 3
  c.data.preprocess = "center_crop_resize"
  c.data.center_crop = 160
  # The official GrouppedAttrDataset: util.center_crop(img, 160, bias=(0, 15)), 15 columns right
  # of centre with replicated edges, then scipy.misc.imresize, which stretches each float crop
  # to 0..255 before its bilinear resize.
  c.data.center_crop_offset = (0, 15)
  c.data.stretch = True
  c.data.load_size = 128
  c.data.crop_size = 128
  c.data.flip = False
  c.data.embedded_images = 256
  c.data.prefetch = 2

  c.model = ml_collections.ConfigDict()
  c.model.attrs = CELEBA_ATTRS  # --attr
  c.model.vgg_width = 64  # VGG nChannel: relu5_1 has 8 x vgg_width channels
  c.model.encoder_stages = 3  # VGG stages of E: 3 = relu5_1 (official); 2 relu4_1, 1 relu3_1
  c.model.vgg_path = ""  # VGG19 weights (encoder init, teacher, perceptual network)
  # The decoder's starting weights: the official run.py starts from the authors' pretrained
  # homo-decoder-8a84d0ce.pth (model.<i>.* keys); empty: PyTorch's default initialisation.
  c.model.decoder_path = ""
  c.model.d_conv_dim = 256
  c.model.d_downsamples = 2  # stride-2 convs of the feature discriminator (8 x 8 -> 2 x 2)
  c.model.lambda_gp = 100.0
  c.model.n_discrim = 5
  c.model.d_cls_features = "interpolated"  # released code | "real": the paper's classifier
  c.model.param_dtype = "float32"
  c.model.dtype = "float32"

  c.optimizer = ml_collections.ConfigDict()
  c.optimizer.lr = 1e-4
  c.optimizer.beta1 = 0.5  # E, T, D
  c.optimizer.beta1_dec = 0.9  # Dec and KG (PyTorch's default betas)
  c.optimizer.beta2 = 0.999

  add_run_settings(c)
  c.log_every_steps = 100
  c.sample_every_steps = 1000
  c.checkpoint_every_steps = 2000
  c.num_sample_images = 4

  if arg in (None, "", "celeba"):
    return c
  if arg == "quickstart":
    c.data.source = "embedded"
    c.data.center_crop = 0
    c.data.center_crop_offset = (0, 0)
    c.data.stretch = False
    c.data.load_size = 64
    c.data.crop_size = 64
    c.model.attrs = "Warm_Tint@Cool_Tint,Dark,Faded,Vignette"
    c.model.vgg_width = 16
    c.model.encoder_stages = 1  # relu3_1: a 64 x 16 x 16 feature
    c.model.d_conv_dim = 64
    c.model.d_downsamples = 3
    c.batch_size = 8
    c.num_train_steps = 2500
    c.log_every_steps = 100
    c.sample_every_steps = 500
    c.checkpoint_every_steps = 500
    return c
  raise ValueError(f"unknown homointerp preset {arg!r}; valid: celeba, quickstart")
