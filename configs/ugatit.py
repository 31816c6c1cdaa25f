"""U-GAT-IT configurations.

`configs/ugatit.py` (no argument) is the official `main.py` default of
znxlwm/UGATIT-pytorch: the full generator (`--light False`), `--ch 64`,
`--n_res 4`, global / local discriminators of 7 / 5 layers (hard-coded in
`UGATIT.build_model`; the `--n_dis 6` flag is unused), 256 px (train:
flip, resize to 286 x 286, random 256 crop; test: resize to 256), batch 1,
1,000,000 iterations, Adam lr 1e-4 (0.5, 0.999) with weight decay 1e-4
(coupled), the official linear decay to 0 over the second half
(`--decay_flag True`), weights adv 1, cycle 10, identity 10, CAM 1000. It reads
the unaligned folder layout (trainA/, trainB/, testA/, testB/, as the
official `dataset/<name>/`) from `--config.data.path`. Presets
(`configs/ugatit.py:NAME`):
  light        `--light True`: the gamma/beta MLP reads the pooled features
               (10.6M generator parameters instead of 279M);
  quickstart   the embedded day -> night photos at 64 px, light generator, ch
               16, n_res 2, global D of 6 layers (7 needs 128 px), batch 4 at
               twice the official rate, 600 iterations.
"""

import ml_collections

from i2ijax.config_defaults import add_run_settings


def get_config(arg: str | None = None) -> ml_collections.ConfigDict:
  c = ml_collections.ConfigDict()
  c.model_name = "ugatit"
  c.seed = 0
  c.batch_size = 1
  c.num_train_steps = 1_000_000  # --iteration

  c.data = ml_collections.ConfigDict()
  c.data.source = "folder"  # folder | tfds | embedded
  c.data.path = ""  # folder: a directory holding trainA/ trainB/ (testA/ testB/)
  c.data.tfds_name = ""
  c.data.tfds_data_dir = ""
  c.data.input_nc = 3  # --img_ch
  c.data.output_nc = 3
  c.data.preprocess = "resize_and_crop"  # Resize((img_size + 30,) * 2), RandomCrop(img_size)
  c.data.load_size = 286
  c.data.crop_size = 256  # --img_size
  c.data.flip = True
  c.data.resize_filter = "bilinear"  # torchvision's Resize default (train and test)
  c.data.embedded_images = 64
  c.data.prefetch = 2

  c.model = ml_collections.ConfigDict()
  c.model.light = False
  c.model.ch = 64
  c.model.n_res = 4
  c.model.n_layers_global = 7
  c.model.n_layers_local = 5
  c.model.adv_weight = 1.0
  c.model.cycle_weight = 10.0
  c.model.identity_weight = 10.0
  c.model.cam_weight = 1000.0
  c.model.param_dtype = "float32"
  c.model.dtype = "float32"  # "bfloat16": mixed precision

  c.optimizer = ml_collections.ConfigDict()
  c.optimizer.lr = 1e-4
  c.optimizer.beta1 = 0.5
  c.optimizer.beta2 = 0.999
  c.optimizer.weight_decay = 1e-4
  c.optimizer.lr_policy = "official"  # official (--decay_flag True) | constant

  add_run_settings(c)
  c.sample_every_steps = 1000  # --print_freq
  c.checkpoint_every_steps = 100_000  # --save_freq
  c.num_sample_images = 5

  if arg in (None, "", "official"):
    return c
  if arg == "light":
    c.model.light = True
    return c
  if arg == "quickstart":
    c.data.source = "embedded"
    c.data.load_size = 72
    c.data.crop_size = 64
    c.model.light = True
    c.model.ch = 16
    c.model.n_res = 2
    c.model.n_layers_global = 6
    c.batch_size = 4
    c.optimizer.lr = 2e-4
    c.num_train_steps = 600
    c.log_every_steps = 50
    c.sample_every_steps = 200
    c.checkpoint_every_steps = 200
    c.num_sample_images = 4
    return c
  raise ValueError(f"unknown ugatit preset {arg!r}; valid: official, light, quickstart")
