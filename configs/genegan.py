"""GeneGAN configurations.

`configs/genegan.py` (no argument, or `:celeba`) is the official setting of
Prinsphield/GeneGAN `train.py` / `dataset.py`: CelebA split by one attribute
(`-a`, default Smiling) into images with it (Ax) and without (Be), resized to
64 x 64 (no crop, no flip), the splitter and joiner of width 128 (latent 512 x 8
x 8, the last 25% of the channels the attribute part), two WGAN critics of width
128 with weight clipping at 0.01, nulling, reconstruction / 255, parallelogram
x 0.01 and weight decay 0.5 * 5e-5 * mean(W^2), TF1 RMSProp (decay 0.8, eps
1e-10, accumulators starting at 1) at a constant 5e-5 for both players, batch
64, 100,000 iterations of 100 critic steps every 500th iteration (else 1) plus one
generator step: 219,800 library steps (one optimiser update each,
`train.genegan.library_steps`). Data: `--config.data.path` = the aligned image
folder (the official `preprocess.py` output align_5p/, or img_align_celeba/)
and `--config.data.attr_path` = list_attr_celeba.txt; the held-out 1,999
images of the library's CelebA split are not trained on (the official code
trains on every image).
Presets (`configs/genegan.py:NAME`):
  celeba_tfds  CelebA from a prepared TFDS `celeb_a` (`data.tfds_data_dir`);
  quickstart   256 embedded attribute crops (64 held out) at 32 px split by
               Warm_Tint (Ax: tinted warm; Be: no tint or cool; the other edits
               vary in both), networks of width 16 (latent 64 x 4 x 4,
               attribute part 16 channels), batch 8, the official losses,
               bursts of 20 critic steps every 100 iterations, 2,000 iterations
               (4,380 library steps), with two changes for a run of minutes:
               RMSProp at 3e-4 (6x) and weight clipping at 0.03 (3x; at 0.01
               every critic BatchNorm gamma is clipped to 0.01 and a 16-wide
               critic's scores stay near 1e-5, too weak to move the generator
               in minutes). `python -m i2ijax.evaluate` scores the transfer
               (Bx: Be with Ax's attribute part) and the removal (Ae) against
               the true rendering of each held-out photo: Bx PSNR 16.76 dB
               (input 15.09), Ae 18.84 (input 17.99), mean 17.80 (16.54); SSIM
               0.532 below the input's 0.774 (blurred 32 px reconstructions).
               After 1,000 or 3,000 iterations one of the two tasks is below
               its input (README).
"""

import ml_collections

from i2ijax.config_defaults import add_run_settings


def get_config(arg: str | None = None) -> ml_collections.ConfigDict:
  c = ml_collections.ConfigDict()
  c.model_name = "genegan"
  c.seed = 0
  c.batch_size = 64  # nhwc[0]
  c.num_train_steps = 219_800  # 100,000 iterations (max_iter): 200 x (100 + 1 + 499 x 2)

  c.data = ml_collections.ConfigDict()
  c.data.source = "celeba"  # celeba | tfds | embedded
  c.data.attribute = "Smiling"  # train.py -a (default Smiling)
  c.data.path = ""  # celeba: the aligned image folder
  c.data.attr_path = ""  # celeba: list_attr_celeba.txt
  c.data.tfds_name = "celeb_a"
  c.data.tfds_data_dir = ""
  c.data.input_nc = 3
  c.data.output_nc = 3
  c.data.preprocess = "resize_and_crop"  # tf.image.resize_images to 64 x 64 (bilinear)
  c.data.load_size = 64
  c.data.crop_size = 64
  c.data.resize_filter = "bilinear"
  c.data.flip = False
  c.data.embedded_images = 64
  c.data.prefetch = 2

  c.model = ml_collections.ConfigDict()
  c.model.ch_g = 128  # splitter 128 -> 256 -> 512, joiner 512 -> 256 -> 3
  c.model.ch_d = 128  # critics 128 -> 256 -> 512 -> 512 -> fc
  c.model.second_ratio = 0.25  # the attribute part: the last 25% of the channels
  c.model.weight_decay = 5e-5  # loss_G_decay: 0.5 * wd * mean(W^2) per kernel
  c.model.parallelogram_weight = 0.01
  c.model.clip_value = 0.01  # clip_d
  c.model.d_burst = 100  # critic steps of every d_burst_every-th iteration
  c.model.d_burst_every = 500  # (the other iterations: 1)
  c.model.param_dtype = "float32"
  c.model.dtype = "float32"

  c.optimizer = ml_collections.ConfigDict()
  c.optimizer.name = "rmsprop_tf1"  # tf.train.RMSPropOptimizer
  c.optimizer.lr = 5e-5  # g_lr and d_lr (decay_rate 1: constant)
  c.optimizer.decay = 0.8
  c.optimizer.eps = 1e-10
  c.optimizer.lr_policy = "constant"
  c.optimizer.n_epochs = 1
  c.optimizer.n_epochs_decay = 0
  c.optimizer.epoch_count = 1

  add_run_settings(c)
  c.log_every_steps = 40  # the official summaries every 20 iterations
  c.sample_every_steps = 1099  # the official samples every 500 iterations
  c.checkpoint_every_steps = 1099

  if arg in (None, "", "celeba"):
    return c
  if arg == "celeba_tfds":
    c.data.source = "tfds"
    return c
  if arg == "quickstart":
    c.data.source = "embedded"
    c.data.attribute = "Warm_Tint"
    c.data.load_size = 32
    c.data.crop_size = 32
    c.model.ch_g = 16
    c.model.ch_d = 16
    c.model.d_burst = 20
    c.model.d_burst_every = 100
    c.model.clip_value = 0.03  # 3x the official: see the docstring
    c.optimizer.lr = 3e-4  # 6x the official
    c.data.embedded_images = 256
    c.batch_size = 8
    c.num_train_steps = 4380  # 2,000 iterations: 20 x (20 + 1 + 99 x 2)
    c.log_every_steps = 100
    c.sample_every_steps = 2190
    c.checkpoint_every_steps = 2190
    return c
  raise ValueError(f"unknown genegan preset {arg!r}; valid: celeba, celeba_tfds, quickstart")
