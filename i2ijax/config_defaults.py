"""Config blocks shared by the `configs/` files of the junyanz-family models."""

import ml_collections


def official_optimizer() -> ml_collections.ConfigDict:
  """`--lr 2e-4 --beta1 0.5`, Adam beta2 0.999, no weight decay, `--lr_policy linear`
  over `--n_epochs 100 --n_epochs_decay 100`, `--epoch_count 1`."""
  o = ml_collections.ConfigDict()
  o.lr = 2e-4
  o.beta1 = 0.5
  o.beta2 = 0.999
  o.weight_decay = 0.0
  o.n_epochs = 100
  o.n_epochs_decay = 100
  o.epoch_count = 1
  return o


def official_networks(netG: str, norm: str, use_dropout: bool,
                      gan_mode: str) -> ml_collections.ConfigDict:
  """The network options every model of the family shares: `--netG`, `--ngf 64`,
  `--netD basic --ndf 64 --n_layers_D 3`, `--norm`, dropout and `--gan_mode`, plus
  our precision (`param_dtype`, compute `dtype`) and `remat` switches."""
  m = ml_collections.ConfigDict()
  m.netG = netG
  m.ngf = 64
  m.netD = "basic"
  m.ndf = 64
  m.n_layers_D = 3
  m.norm = norm
  m.use_dropout = use_dropout
  m.gan_mode = gan_mode
  m.param_dtype = "float32"  # parameters, optimizer state and image pools
  m.dtype = "float32"  # compute dtype; "bfloat16" = mixed precision (f32 params, f32 losses)
  m.remat = False  # recompute generator blocks/levels in the backward pass (memory)
  m.upsample = "transpose"  # official ConvTranspose2d | resize_conv (nearest x2 + conv3; ResNet G)
  return m


def add_run_settings(c: ml_collections.ConfigDict) -> ml_collections.ConfigDict:
  """Logging, sampling, checkpointing and evaluation settings of the train loop.

  `eval_every_steps` > 0 scores the test split during training (i2ijax.evaluate):
  `eval_num_styles` styles per input for multimodal models; FID/KID and LPIPS
  run when their weight files are given here (or by environment variable).
  """
  c.log_every_steps = 100
  c.sample_every_steps = 1000
  c.checkpoint_every_steps = 5000
  c.max_to_keep = 3
  c.num_sample_images = 4
  c.eval_every_steps = 0
  c.eval_num_styles = 10
  c.eval_inception_weights = ""
  c.eval_lpips_backbone = ""
  c.eval_lpips_heads = ""
  return c
