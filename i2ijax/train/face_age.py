"""Face-Age cGAN (Antipov, Baccouche, Dugelay, "Face Aging with Conditional Generative
Adversarial Networks", ICIP 2017): IcGAN's networks and training (`train.icgan`) with
one-hot age groups, and identity-preserving latent optimisation before every edit.

Training is IcGAN's step unchanged (the configuration sets `label_coding = "one_hot"`
and no wrong-label term; see configs/face_age.py). What differs is translation: for an
input x of age group y0 (its known group when given, else E_y's reading),
  z0 = E(x)                                    (the encoder trained on generated pairs)
  z* = argmin_z ||FR(x) - FR(G(z, y0))||_2     (L-BFGS from z0, `i2ijax.inversion`)
  aged = G(z*, y_target)
with FR a frozen embedding (`identity_features`); `model.inversion = "pixel"` minimises
||x - G(z, y0)||_2 instead and `"none"` keeps z0. The evaluation adds task
"reconstruction": the identity distance and pixel scores of G(z0, y0) and G(z*, y0)
against x.
"""

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np

from i2ijax import inversion
from i2ijax.perceptual import Vgg16, vgg16_params, vgg_preprocess
from i2ijax.train import icgan

INVERSIONS = ("identity", "pixel", "none")


def validate_config(config) -> None:
  icgan.validate_config(config)
  m = config.model
  if icgan.label_coding(config) != "one_hot":
    raise ValueError(f"config.model.label_coding={m.get('label_coding')!r}: Face-Age's "
                     f"condition is a one-hot age group (\"one_hot\")")
  if m.inversion not in INVERSIONS:
    raise ValueError(f"config.model.inversion={m.inversion!r} is not one of {list(INVERSIONS)}")
  if m.inversion_steps < 0:
    raise ValueError(f"config.model.inversion_steps={m.inversion_steps!r} must be >= 0")
  if config.data.crop_size % 8:
    raise ValueError(f"config.data.crop_size={config.data.crop_size}: the VGG16 identity "
                     f"features need a multiple of 8")


def identity_features(config):
  """FR: images [N, S, S, 3] in [-1, 1] -> VGG16 relu5_3 features [N, S/8, S/8, 512], frozen:
  the weights of config.model.identity_weights, or a random He init from
  config.model.identity_seed when it is empty."""
  m = config.model
  dtype = jnp.dtype(m.param_dtype)
  params = vgg16_params(m.identity_weights or None, jax.random.key(m.identity_seed), dtype)
  net = Vgg16(param_dtype=dtype, dtype=dtype)
  return lambda images: net.apply({"params": params}, vgg_preprocess(images))


def distance_fn(config):
  """(x, g) -> [N] distance the latent optimisation minimises (`model.inversion`)."""
  if config.model.inversion == "pixel":
    return inversion.pixel_distance
  return inversion.feature_distance(identity_features(config))


def make_refine(config):
  """`refine(p, x, z0, y0) -> z*`: `model.inversion_steps` L-BFGS iterations of the
  distance between x and G(z, y0) from z0, each image on its own; None for "none"."""
  if config.model.inversion == "none" or config.model.inversion_steps == 0:
    return None
  nets = icgan.build_models(config)
  distance = distance_fn(config)
  steps = int(config.model.inversion_steps)

  def refine(p, x, z0, y0):
    generate = lambda z, y: icgan.generate(nets, p, z, y)
    return inversion.invert(generate, distance, x, y0, z0, steps=steps).z

  return refine


def translator(config, request):
  """IcGAN's edit (`train.icgan.translator`; `--domain=k` is age group k) with the
  source's known group when given and z refined by `make_refine` before the edit."""
  return icgan.translator(config, request, refine=make_refine(config), known_labels=True)


def reconstruction_scores(config, state, split: str = "test", limit: int = 64) -> dict:
  """The inversion of up to `limit` images of `split` at their known groups y0:
  {"encoder": scores of G(E(x), y0), "optimised": of G(z*, y0), each {"identity_distance"
  (mean ||FR(x) - FR(.)||_2), "psnr", "ssim"} against x, "images": N}."""
  from i2ijax.data.attributes import attribute_source
  from i2ijax.data.images import to_uint8
  from i2ijax.evaluate.scoring import score
  from i2ijax.evaluate.tasks import prepare_fn
  nets = icgan.build_models(config)
  source = attribute_source(config.data, split, config.model.attrs)
  n = min(limit, len(source))
  prepare = prepare_fn(config)
  images = np.stack([prepare(source.load(i)) for i in range(n)])
  labels = np.stack([source.label(i) for i in range(n)])
  p = jax.device_get(icgan.eval_params(state))
  dtype = jnp.dtype(config.model.param_dtype)
  refine = make_refine(config)
  fr = inversion.feature_distance(identity_features(config))

  @jax.jit
  def run(p, x, y):
    z0, _ = icgan.invert(nets, p, x, "one_hot")
    z = z0 if refine is None else refine(p, x, z0, y)
    first, best = icgan.generate(nets, p, z0, y), icgan.generate(nets, p, z, y)
    return first, best, fr(x, first), fr(x, best)

  x = jnp.asarray(images, dtype) / 127.5 - 1.0
  first, best, d_first, d_best = run(p, x, jnp.asarray(labels, dtype))
  out = {"images": int(n)}
  for name, rec, d in (("encoder", first, d_first), ("optimised", best, d_best)):
    s = score(list(to_uint8(np.asarray(rec))), list(images))
    out[name] = {"identity_distance": float(np.mean(np.asarray(d))), "psnr": s["psnr"],
                 "ssim": s["ssim"]}
  return out


def evaluate(config, state, split: str) -> dict:
  """`ModelSpec.evaluate`: the single-label report of `evaluate.Evaluator` (each age group
  as the target: the classifier's accuracy on the group, PSNR / SSIM against the true
  result where known, beside the untranslated input) plus task "reconstruction"
  (`reconstruction_scores`: identity distance and pixel scores after E(x) alone and after
  the latent optimisation)."""
  from i2ijax.evaluate.scoring import Evaluator
  report = Evaluator(config, split,
                     inception_weights=config.get("eval_inception_weights", "") or None)(state)
  report["tasks"]["reconstruction"] = reconstruction_scores(config, state, split)
  return {k: v for k, v in report.items() if k not in ("model_name", "split", "mode")}


SPEC = dataclasses.replace(icgan.SPEC, name="face_age", validate_config=validate_config,
                           translator=translator, evaluate=evaluate,
                           translate_example="--domain=5")
