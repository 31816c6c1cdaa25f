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


def invert_and_edit(config, state, images: np.ndarray, labels: np.ndarray,
                    chunk: int = 64) -> dict:
  """The whole Face-Age pipeline on uint8 images [N, S, S, 3] at their known groups (one-hot
  labels [N, G]), `chunk` images per call of one compiled function (the last call padded):
  z0 = E(x), z* = `make_refine`'s optimisation from z0 (each image once), then every group.
  Returns {"encoder": G(z0, y0), "optimised": G(z*, y0) (uint8 [N, S, S, 3]),
  "encoder_distance", "optimised_distance" (float [N]: ||FR(x) - FR(.)||_2 of each),
  "edits": uint8 [N, G, S, S, 3], G(z*, group g) for every g}."""
  from i2ijax.data.images import to_uint8
  nets = icgan.build_models(config)
  p = jax.device_get(icgan.eval_params(state))
  dtype = jnp.dtype(config.model.param_dtype)
  refine = make_refine(config)
  fr = inversion.feature_distance(identity_features(config))
  n, groups = labels.shape

  @jax.jit
  def run(p, x, y):
    z0, _ = icgan.invert(nets, p, x, "one_hot")
    z = z0 if refine is None else refine(p, x, z0, y)
    first, best = icgan.generate(nets, p, z0, y), icgan.generate(nets, p, z, y)
    every = jnp.tile(jnp.eye(groups, dtype=z.dtype), (x.shape[0], 1))
    edits = icgan.generate(nets, p, jnp.repeat(z, groups, axis=0), every)
    return first, best, fr(x, first), fr(x, best), edits.reshape(x.shape[0], groups,
                                                                 *edits.shape[1:])

  size = max(1, min(chunk, n))
  parts = []
  for s in range(0, n, size):
    x, y = images[s:s + size], labels[s:s + size]
    k = len(x)
    pad = lambda a: np.concatenate([a, np.repeat(a[-1:], size - k, axis=0)])
    out = run(p, jnp.asarray(pad(x), dtype) / 127.5 - 1.0, jnp.asarray(pad(y), dtype))
    parts.append([np.asarray(o)[:k] for o in jax.device_get(out)])
  first, best, d_first, d_best, edits = (np.concatenate(c) for c in zip(*parts))
  return {"encoder": to_uint8(first), "optimised": to_uint8(best),
          "encoder_distance": d_first.astype(np.float64),
          "optimised_distance": d_best.astype(np.float64), "edits": to_uint8(edits)}


def _reconstruction(images: np.ndarray, result: dict) -> dict:
  from i2ijax.evaluate.scoring import score
  out = {"images": int(len(images))}
  for name in ("encoder", "optimised"):
    s = score(list(result[name]), list(images))
    out[name] = {"identity_distance": float(np.mean(result[f"{name}_distance"])),
                 "psnr": s["psnr"], "ssim": s["ssim"]}
  return out


def reconstruction_scores(config, state, split: str = "test", limit: int = 64) -> dict:
  """The inversion of up to `limit` images of `split` at their known groups y0:
  {"encoder": scores of G(E(x), y0), "optimised": of G(z*, y0), each {"identity_distance"
  (mean ||FR(x) - FR(.)||_2), "psnr", "ssim"} against x, "images": N}."""
  from i2ijax.data.attributes import attribute_source
  from i2ijax.evaluate.tasks import prepare_fn
  source = attribute_source(config.data, split, config.model.attrs)
  n = min(limit, len(source))
  prepare = prepare_fn(config)
  images = np.stack([prepare(source.load(i)) for i in range(n)])
  labels = np.stack([np.asarray(source.label(i), np.float32) for i in range(n)])
  return _reconstruction(images, invert_and_edit(config, state, images, labels))


def evaluate(config, state, split: str) -> dict:
  """`ModelSpec.evaluate`: the single-label report of `evaluate.Evaluator` (each age group
  as the target: the classifier's accuracy on the group, PSNR / SSIM against the true
  result where known, beside the untranslated input) plus task "reconstruction" (the
  identity distance and pixel scores of every input after E(x) alone and after the latent
  optimisation). The edits are `translator`'s, made by `invert_and_edit`: each input's
  latent is optimised once and decoded at every group, rather than once per target."""
  from i2ijax.evaluate.scoring import Evaluator
  evaluator = Evaluator(config, split,
                        inception_weights=config.get("eval_inception_weights", "") or None)
  index, images, labels = {}, [], []
  for task in evaluator.tasks:
    for x, y in zip(task.inputs, task.labels):
      if id(x) not in index:
        index[id(x)] = len(images)
        images.append(x)
        labels.append(np.asarray(y, np.float32))
  images = np.stack(images)
  result = invert_and_edit(config, state, images, np.stack(labels))
  outputs = [[result["edits"][index[id(x)], task.domain][None] for x in task.inputs]
             for task in evaluator.tasks]
  report = evaluator(state, outputs)
  report["tasks"]["reconstruction"] = _reconstruction(images, result)
  return {k: v for k, v in report.items() if k not in ("model_name", "split", "mode")}


SPEC = dataclasses.replace(icgan.SPEC, name="face_age", validate_config=validate_config,
                           translator=translator, evaluate=evaluate,
                           translate_example="--domain=5")
