"""Face-Age cGAN ("Age-cGAN", Antipov, Baccouche, Dugelay, ICIP 2017) configurations.

There is no official code. The paper's pipeline is IcGAN's (`configs/icgan.py`,
whose networks, losses, Adam settings and two-stage schedule this reuses) with:
  - the condition y a one-hot of 6 age groups (0-18, 19-29, 30-39, 40-49, 50-59,
    60+) instead of signed binary attributes (`model.label_coding = "one_hot"`);
  - no wrong-label term (the paper's cGAN objective has the real and the fake
    terms only: `model.train_wrong_y = False`);
  - an encoder E = E_z trained on generated pairs (G(z, y), z) to give the first
    guess of z; E_y reads the age group when the input's is not given (the
    paper's y0 is the input's known age group, used whenever known);
  - "identity-preserving" latent optimisation before every edit: from z0 = E(x),
    z* = argmin_z ||FR(x) - FR(G(z, y0))||_2 by L-BFGS (`model.inversion =
    "identity"`, `model.inversion_steps` iterations, `i2ijax.inversion`); the
    paper's comparison, pixelwise optimisation ||x - G(z, y0)||_2, is
    `model.inversion = "pixel"`, and `"none"` keeps E(x). Aging is G(z*, y_target).
FR: the paper's face-recognition embedding (FaceNet-like) is not shipped; FR here
is the library's VGG16 trunk (`i2ijax.perceptual.Vgg16`, relu5_3 features) with
the weights of `model.identity_weights` (MUNIT's `vgg16.weight`, or an .npz of the
same keys), or a random He initialisation from `model.identity_seed` when that
is empty.
Data (the paper: IMDB-Wiki cleaned, about 120k faces, 64 x 64, 6 age groups):
`data.source = "class_folders"` with one folder per age group
(`--config.data.path=DIR`, DIR/train/<group>/, DIR/test/<group>/), the folders
named as `model.attrs` (0-18, 19-29, ...; listed in that order). The paper's G and D follow IcGAN's DCGAN layout at 64 px with z of
100 dimensions, so the default networks are IcGAN's (G 3,725,111 parameters with
6 labels instead of IcGAN's 18).
Presets (`configs/face_age.py:NAME`):
  quickstart   the embedded photos with 6 ordinal levels of the Faded edit as
               the groups (`data.source = "embedded_levels"`: colour and
               contrast fade from level 0 to 5, an "aging" of the photo whose
               true result is known), 32 px, IcGAN's quickstart networks and
               lengths, 10 L-BFGS iterations per edited image.
"""

import importlib.util
import os

import ml_collections

AGE_GROUPS = "0-18,19-29,30-39,40-49,50-59,60+"


def _icgan_configs():
  path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "icgan.py")
  spec = importlib.util.spec_from_file_location("configs_icgan", path)
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  return module


def get_config(arg: str | None = None) -> ml_collections.ConfigDict:
  icgan = _icgan_configs()
  preset = "quickstart" if arg == "quickstart" else None
  c = icgan.get_config(preset)
  c.model_name = "face_age"
  c.model.label_coding = "one_hot"
  c.model.train_wrong_y = False
  c.model.inversion = "identity"  # identity | pixel | none
  c.model.inversion_steps = 20
  c.model.identity_weights = ""  # VGG16 weights (vgg16.weight / .npz); empty: random init
  c.model.identity_seed = 0
  if arg in (None, "", "class_folders"):
    c.data.source = "class_folders"
    c.data.center_crop = 0
    c.data.center_crop_offset = (0, 0)
    c.model.attrs = AGE_GROUPS
    return c
  if arg == "quickstart":
    c.data.source = "embedded_levels"
    c.data.level_attribute = "Faded"
    c.data.levels = 6
    c.model.attrs = ",".join(f"Faded_{20 * k}" for k in range(6))
    c.model.inversion_steps = 10
    return c
  raise ValueError(f"unknown face_age preset {arg!r}; valid: class_folders, quickstart")
