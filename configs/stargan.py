"""StarGAN configurations.

`configs/stargan.py` (no argument, or `:celeba`) is the official CelebA
setting of yunjey/stargan `main.py`: 128 x 128 images, attributes
Black_Hair, Blond_Hair, Brown_Hair, Male, Young (the hair colours one group),
G 64 filters with 6 residual blocks, D 64 filters with 6 strided convs,
lambda_cls 1, lambda_rec 10, lambda_gp 10, batch 16, 200,000 iterations, G
updated every n_critic = 5, Adam (beta 0.5, 0.999) at 1e-4 for G and D,
with the official decay (after every 1,000 iterations of the last 100,000 the
rate falls by lr / 100,000: it ends at 0.999 lr; `optimizer.lr_policy =
"linear"` decays to 0 instead). Data: `--config.data.path` = the image folder
(img_align_celeba) and `--config.data.attr_path` = list_attr_celeba.txt, the
official split (a seeded shuffle, 1,999 test images), flip, centre crop 178,
resize to 128. `python -m i2ijax.evaluate` scores the translations with an
attribute classifier trained on the real training images for
`eval_classifier_steps` (2,000; `i2ijax.metrics.attribute_classifier`).
Presets (`configs/stargan.py:NAME`):
  rafd        RaFD: `data.path` holding train/<expression>/ folders (8
              classes), single-label (softmax cross-entropy), centre crop 256;
  celeba_tfds CelebA from a prepared TFDS `celeb_a` (`data.tfds_data_dir`);
  both        the official `--dataset Both`: CelebA (`data`, the default
              setting) and RaFD (`data2.path`, centre crop 256) trained
              jointly with the mask vector, c2_dim 8: each iteration runs the
              D (and G) updates on a CelebA batch, then on a RaFD batch;
  quickstart  the embedded attribute photos (tint warm / cool, dark, faded,
              vignette; held-out photos with the true translation of every
              label) at 32 px with narrow networks (G and D 16 filters, 3
              residual blocks, 4 strided convs), batch 8, twice the official
              learning rates decayed linearly to 0 over the second half,
              8,000 iterations (n_critic 5, as the official).
"""

import ml_collections

from i2ijax.config_defaults import add_run_settings

CELEBA_ATTRS = "Black_Hair,Blond_Hair,Brown_Hair,Male,Young"
CELEBA_GROUPS = "Black_Hair,Blond_Hair,Brown_Hair"  # the official hair-colour rule


def get_config(arg: str | None = None) -> ml_collections.ConfigDict:
  c = ml_collections.ConfigDict()
  c.model_name = "stargan"
  c.seed = 1234
  c.batch_size = 16
  c.num_train_steps = 200_000  # --num_iters

  c.data = ml_collections.ConfigDict()
  c.data.source = "celeba"  # celeba | class_folders | tfds | embedded
  c.data.path = ""  # celeba: the image folder; class_folders: a folder of train/<class>/
  c.data.attr_path = ""  # celeba: list_attr_celeba.txt
  c.data.tfds_name = "celeb_a"
  c.data.tfds_data_dir = ""
  c.data.input_nc = 3
  c.data.output_nc = 3
  c.data.preprocess = "center_crop_resize"
  c.data.center_crop = 178  # --celeba_crop_size
  c.data.load_size = 128  # (the embedded photos' side)
  c.data.crop_size = 128  # --image_size
  c.data.flip = True
  c.data.embedded_images = 256
  c.data.prefetch = 2
  # The second dataset of joint training (model.c2_dim > 0): these keys replace data's.
  c.data2 = ml_collections.ConfigDict()
  c.data2.source = "class_folders"
  c.data2.path = ""  # --rafd_image_dir
  c.data2.center_crop = 256  # --rafd_crop_size

  c.model = ml_collections.ConfigDict()
  c.model.attrs = CELEBA_ATTRS  # --selected_attrs
  c.model.groups = CELEBA_GROUPS  # mutually exclusive attributes ("A,B;C,D")
  c.model.single_label = False  # True: one class per image (RaFD): softmax cross-entropy
  # Joint training (the official --dataset Both): c2_dim > 0 classes of a second, single-label
  # dataset read from `data2` (its keys over `data`'s), conditions with the mask vector.
  c.model.c2_dim = 0
  c.model.attrs2 = ""  # the second dataset's class names (empty: its folders' names)
  c.model.g_conv_dim = 64
  c.model.d_conv_dim = 64
  c.model.g_repeat_num = 6
  c.model.d_repeat_num = 6
  c.model.lambda_cls = 1.0
  c.model.lambda_rec = 10.0
  c.model.lambda_gp = 10.0
  c.model.n_critic = 5
  c.model.param_dtype = "float32"
  c.model.dtype = "float32"  # "bfloat16": mixed precision

  c.optimizer = ml_collections.ConfigDict()
  c.optimizer.g_lr = 1e-4
  c.optimizer.d_lr = 1e-4
  c.optimizer.beta1 = 0.5
  c.optimizer.beta2 = 0.999
  c.optimizer.lr_policy = "official"  # official | linear
  c.optimizer.num_iters_decay = 100_000
  c.optimizer.lr_update_step = 1000

  add_run_settings(c)
  c.log_every_steps = 10  # --log_step
  c.sample_every_steps = 1000  # --sample_step
  c.checkpoint_every_steps = 10_000  # --model_save_step
  c.num_sample_images = 4
  # Training steps of the attribute classifier that scores translations (`evaluate`).
  c.eval_classifier_steps = 2000

  if arg in (None, "", "celeba"):
    return c
  if arg == "celeba_tfds":
    c.data.source = "tfds"
    return c
  if arg == "rafd":
    c.data.source = "class_folders"
    c.data.center_crop = 256  # --rafd_crop_size
    c.model.attrs = ("angry,contemptuous,disgusted,fearful,happy,neutral,sad,surprised")
    c.model.groups = ""
    c.model.single_label = True
    return c
  if arg == "both":
    c.model.c2_dim = 8
    c.model.attrs2 = ("angry,contemptuous,disgusted,fearful,happy,neutral,sad,surprised")
    return c
  if arg == "quickstart":
    c.data.source = "embedded"
    c.data.preprocess = "center_crop_resize"
    c.data.center_crop = 0
    c.data.load_size = 32
    c.data.crop_size = 32
    c.model.attrs = "Warm_Tint,Cool_Tint,Dark,Faded,Vignette"
    c.model.groups = "Warm_Tint,Cool_Tint"
    c.model.g_conv_dim = 16
    c.model.d_conv_dim = 16
    c.model.g_repeat_num = 3
    c.model.d_repeat_num = 4  # the class head spans the last 2 x 2 map, as at 128 px
    c.batch_size = 8
    c.optimizer.g_lr = 2e-4  # twice the official rates, for a run of minutes
    c.optimizer.d_lr = 2e-4
    c.num_train_steps = 8000  # 1,600 generator updates
    c.optimizer.lr_policy = "linear"  # to 0 over the second half (the official "decay" barely moves)
    c.optimizer.num_iters_decay = 4000
    c.optimizer.lr_update_step = 100
    c.log_every_steps = 100
    c.sample_every_steps = 1000
    c.checkpoint_every_steps = 1000
    c.eval_classifier_steps = 400
    return c
  raise ValueError(f"unknown stargan preset {arg!r}; valid: celeba, celeba_tfds, rafd, both, "
                   "quickstart")
