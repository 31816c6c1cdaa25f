"""CycleGAN configurations.

`configs/cyclegan.py` (no argument) is the paper's: 256x256, ResNet-9 generator,
70x70 PatchGAN, LSGAN, lambda_cycle 10, lambda_identity 0.5, pool 50, Adam 2e-4
(0.5, 0.999), 100 epochs constant + 100 linear decay, batch 1, load 286 ->
random crop 256, horizontal flip; it reads the unaligned folder layout from
`--config.data.path`. Presets (`configs/cyclegan.py:NAME`):
  quickstart   the embedded day->night photos at 64 px with small networks and
               identity weight 10 (the paper's 0.5 loses the structure at this
               budget: README "Results"), 800 steps, about 9 minutes on 2
               CPU cores;
  quickstart_paper_weights
               the same networks and data with the paper's loss weights
               (identity 0.5) for 1,600 steps: the translations get the
               colours but not the structure (README "Results");
  horse2zebra  the paper config on TFDS `cycle_gan/horse2zebra`.
"""

import ml_collections

from i2ijax.config_defaults import add_run_settings, official_networks, official_optimizer


def get_config(arg: str | None = None) -> ml_collections.ConfigDict:
  c = ml_collections.ConfigDict()
  c.model_name = "cyclegan"
  c.seed = 0
  c.batch_size = 1
  c.num_train_steps = -1  # -1: (n_epochs + n_epochs_decay) epochs of max(|A|, |B|) images

  c.data = ml_collections.ConfigDict()
  c.data.source = "folder"  # folder | tfds | embedded
  c.data.path = ""  # folder: a directory holding trainA/ trainB/ (testA/ testB/)
  c.data.tfds_name = "cycle_gan/horse2zebra"
  c.data.tfds_data_dir = ""  # "" = TFDS default (~/tensorflow_datasets)
  c.data.input_nc = 3
  c.data.output_nc = 3
  c.data.preprocess = "resize_and_crop"  # resize_and_crop | crop | none
  c.data.load_size = 286
  c.data.crop_size = 256
  c.data.flip = True
  c.data.embedded_images = 64  # crops per domain of the embedded dataset
  c.data.prefetch = 2

  c.model = official_networks("resnet_9blocks", "instance", use_dropout=False, gan_mode="lsgan")
  c.model.lambda_A = 10.0
  c.model.lambda_B = 10.0
  c.model.lambda_identity = 0.5
  c.model.lambda_gp = 10.0  # only for gan_mode wgangp
  c.model.pool_size = 50

  c.optimizer = official_optimizer()
  add_run_settings(c)

  if arg in (None, "", "paper"):
    return c
  if arg in ("quickstart", "quickstart_paper_weights"):
    c.data.source = "embedded"
    c.data.load_size = 72
    c.data.crop_size = 64
    c.model.netG = "resnet_6blocks"
    c.model.ngf = 16
    c.model.ndf = 16
    c.batch_size = 4
    c.log_every_steps = 50
    c.sample_every_steps = 200
    c.checkpoint_every_steps = 400
    if arg == "quickstart_paper_weights":
      c.optimizer.n_epochs = 70  # 64 images, batch 4: 1,600 steps
      c.optimizer.n_epochs_decay = 30
      return c
    # The identity term ||G_A(B) - B||_1 keeps the generators close to colour maps,
    # which holds the structure of the photo while the adversarial term moves
    # its colours; at the paper's 0.5 the SSIM against the truth stays below the
    # untranslated input's at every step of a 1,600-step run.
    c.model.lambda_identity = 10.0
    c.optimizer.n_epochs = 35  # 64 images, batch 4: 800 steps
    c.optimizer.n_epochs_decay = 15
    return c
  if arg == "horse2zebra":
    c.data.source = "tfds"
    c.data.tfds_name = "cycle_gan/horse2zebra"
    return c
  raise ValueError(f"unknown cyclegan preset {arg!r}; valid: paper, quickstart, "
                   "quickstart_paper_weights, horse2zebra")
