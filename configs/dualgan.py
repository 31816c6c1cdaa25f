"""DualGAN configurations.

`configs/dualgan.py` (no argument) is the official code's default run (main.py's
argparse values, which win over `DualNet`'s own defaults): 256x256 images resized
(no crop), U-Net generators with gcn 64 (5x5 outer, 3x3 inner convs), 'globalgan'
discriminators with dcn 64, WGAN-GP (gamma 10) on both critics, L1 recovery
losses with lambda_A = lambda_B = 500, RMSProp (TF1: decay 0.9, eps 1e-10,
accumulators starting at 1) at a constant 5e-5 for both players, n_critic 1,
batch 1, 50 epochs, no dropout. The official `--flip` never flips (`flip=(args.flip
== 'True')` compares a bool with a string), so data.flip is False. It reads the
unaligned folder layout from `--config.data.path`. Presets
(`configs/dualgan.py:NAME`):
  paper       the paper's objective (Yi et al. 2017, sec. 3 and Alg. 1): weight-clipped
              WGAN (`--GAN_type wgan`, clip 0.01), no gradient penalty;
  quickstart  the embedded day -> night photos at 64 px with narrow networks
              (gcn = dcn = 16, six U-Net levels, critics of 3 normalised
              layers ending at 4x4), RMSProp at 2e-4 (4x the official rate),
              800 steps at batch 4, about 2 minutes on 2 idle CPU cores;
              AtoB PSNR 19.75 dB vs the truth (untranslated input: 10.68),
              SSIM 0.568 (input: 0.544).
"""

import ml_collections

from i2ijax.config_defaults import add_run_settings


def get_config(arg: str | None = None) -> ml_collections.ConfigDict:
  c = ml_collections.ConfigDict()
  c.model_name = "dualgan"
  c.seed = 0
  c.batch_size = 1  # --batch_size
  c.num_train_steps = -1  # -1: optimizer.n_epochs epochs (--epoch 50)

  c.data = ml_collections.ConfigDict()
  c.data.source = "folder"  # folder | tfds | embedded
  c.data.path = ""  # folder: a directory holding trainA/ trainB/ (testA/ testB/)
  c.data.tfds_name = ""
  c.data.tfds_data_dir = ""
  c.data.input_nc = 3  # --A_channels
  c.data.output_nc = 3  # --B_channels
  # cv2.resize to --image_size (bilinear), no crop: resize to load_size = crop_size.
  c.data.preprocess = "resize_and_crop"
  c.data.load_size = 256
  c.data.crop_size = 256  # --image_size
  c.data.resize_filter = "bilinear"
  c.data.flip = False  # the official flag never takes effect (see above)
  c.data.embedded_images = 64
  c.data.prefetch = 2

  c.model = ml_collections.ConfigDict()
  c.model.gcn = 64  # --gcn
  c.model.dcn = 64  # --dcn
  c.model.num_downs = 8  # the official U-Net's fixed depth (256 -> 1x1)
  c.model.disc_type = "globalgan"  # --disc_type globalgan | patchgan
  c.model.n_layers_D = 4  # the critic's normalised convs (official: h1, h2, h3, h3_1)
  c.model.dropout_rate = 0.0  # --dropout_rate, TF1's keep probability; 0: no dropout
  c.model.gan_type = "wgan-gp"  # --GAN_type wgan-gp | wgan | classic
  c.model.gamma = 10.0  # the gradient penalty's weight (DualNet.gamma)
  c.model.clip_value = 0.01  # --clip_value (gan_type wgan)
  c.model.n_critic = 1  # --n_critic
  c.model.lambda_A = 500.0  # --lambda_A: A -> B -> A recovery
  c.model.lambda_B = 500.0  # --lambda_B: B -> A -> B recovery
  c.model.loss_metric = "L1"  # --loss_metric L1 | L2
  c.model.param_dtype = "float32"
  c.model.dtype = "float32"

  c.optimizer = ml_collections.ConfigDict()
  c.optimizer.name = "rmsprop_tf1"  # tf.train.RMSPropOptimizer (train.common.tf1_rmsprop)
  c.optimizer.lr = 5e-5  # --lr, both players
  c.optimizer.decay = 0.9  # RMSPropOptimizer(decay=0.9)
  c.optimizer.eps = 1e-10  # RMSPropOptimizer's default epsilon
  c.optimizer.lr_policy = "constant"
  c.optimizer.n_epochs = 50  # --epoch
  c.optimizer.n_epochs_decay = 0
  c.optimizer.epoch_count = 1
  add_run_settings(c)

  if arg in (None, ""):
    return c
  if arg == "paper":
    c.model.gan_type = "wgan"
    return c
  if arg == "quickstart":
    c.data.source = "embedded"
    c.data.load_size = 64
    c.data.crop_size = 64
    c.model.gcn = 16
    c.model.dcn = 16
    c.model.num_downs = 6  # 64 px down to 1x1, as the official 8 levels do at 256 px
    c.model.n_layers_D = 3  # the critic ends at 4x4 (officially 8x8 at 256 px; 4 layers: 2x2)
    c.batch_size = 4
    # 4x the official rate, for a run of minutes: at 5e-5 the 800 steps reach 18.98 dB but
    # an SSIM below the untranslated input's (0.478 vs 0.544); at 2e-4 19.75 dB, SSIM 0.568.
    c.optimizer.lr = 2e-4
    c.optimizer.n_epochs = 50  # 64 images, batch 4: 800 steps
    c.log_every_steps = 50
    c.sample_every_steps = 200
    c.checkpoint_every_steps = 400
    return c
  raise ValueError(f"unknown dualgan preset {arg!r}; valid: paper, quickstart")
