"""The metrics of translations: `score` (PSNR/SSIM against targets) and the `Evaluator`."""

import os

import numpy as np

from i2ijax import registry
from i2ijax.evaluate.tasks import (evaluation_tasks, fit_classifier, has_day_night_truth,
                                   task_translator, translate_task, Task)
from i2ijax.metrics.fid import fid_of_features
from i2ijax.metrics.image_quality import psnr, ssim
from i2ijax.registry import DataKind

METRICS = ("psnr", "ssim", "classifier_accuracy", "fid", "kid", "lpips_diversity")


def score(outputs: list[np.ndarray], targets: list[np.ndarray]) -> dict:
  """Mean and per-image PSNR (dB) and SSIM of uint8 images against uint8 targets."""
  per_psnr, per_ssim = [], []
  for out, target in zip(outputs, targets):
    if out.shape != target.shape:
      raise ValueError(f"output of shape {out.shape} cannot be scored against a target of "
                       f"shape {target.shape}")
    per_psnr.append(float(psnr(out[None], target[None])[0]))
    per_ssim.append(float(ssim(out[None], target[None])[0]))
  return {"psnr": float(np.mean(per_psnr)), "ssim": float(np.mean(per_ssim)),
          "psnr_per_image": per_psnr, "ssim_per_image": per_ssim}


def rgb(image: np.ndarray) -> np.ndarray:
  """uint8 [H, W, 1 | 3] -> [H, W, 3]."""
  return np.repeat(image, 3, axis=-1) if image.shape[-1] == 1 else image


def _weights_given(*values_and_envs) -> bool:
  return any(v or os.environ.get(env) for v, env in values_and_envs)


class Evaluator:
  """evaluator(state) -> report: the metrics of the model's data kind on `split` (`i2ijax.evaluate`).

  Data, the domain classifier, the metric networks and one translator per
  task are prepared once, so a training run can call it at every
  evaluation step. Multi-label models are judged by the attribute
  classifier (`metrics.attribute_classifier`), trained here on the real
  training images or read from `workdir/attribute_classifier/` when
  `workdir` holds one of the same config. `num_styles` (K) outputs per input for multimodal models,
  from `seed` as `translate --num_styles=K --seed=S`. Weights given by
  argument or environment variable must exist (a wrong path is an error);
  with none given, FID/KID or LPIPS are skipped and `skipped` says why.
  Raises ValueError if nothing can be scored.
  """

  def __init__(self, config, split: str = "test", *, num_styles: int = 10, seed: int = 0,
               train_mode: bool = False, inception_weights: str | None = None,
               lpips_backbone: str | None = None, lpips_heads: str | None = None,
               lpips_net: str = "alex", feature_batch_size: int = 50,
               workdir: str | None = None):
    from i2ijax.metrics import inception, lpips
    self.config, self.split, self.train_mode = config, split, train_mode
    self.spec = registry.get(config.model_name)
    self.kind = self.spec.data_kind
    paired = self.kind == DataKind.PAIRED
    multi_label = self.kind == DataKind.MULTI_LABEL
    self.skipped = {}
    self.inception = self.lpips = None
    if not paired:
      if _weights_given((inception_weights, inception.WEIGHTS_ENV)):
        self.inception = inception.load_inception(inception_weights)
      else:
        self.skipped["fid_kid"] = (
            "no FID Inception weights: pass --inception_weights (evaluate_workdir("
            f"inception_weights=...)) or set {inception.WEIGHTS_ENV} to "
            f"{inception.WEIGHTS_FILE} ({inception.WEIGHTS_URL})")
    if self.spec.multimodal:
      if num_styles < 2:
        self.skipped["lpips_diversity"] = f"needs num_styles >= 2, got {num_styles}"
      elif _weights_given((lpips_backbone, lpips.ENV_BACKBONE), (lpips_heads, lpips.ENV_HEADS)):
        self.lpips = lpips.load_lpips(lpips_net, lpips_backbone, lpips_heads)
      else:
        self.skipped["lpips_diversity"] = (
            "no LPIPS weights: pass --lpips_backbone and --lpips_heads (evaluate_workdir("
            f"lpips_backbone=..., lpips_heads=...)) or set {lpips.ENV_BACKBONE} and "
            f"{lpips.ENV_HEADS} ({lpips.BACKBONE_URLS[lpips_net]}, "
            f"{lpips.HEADS_URL.format(net=lpips_net)})")
    embedded = config.data.source == "embedded"
    if not paired:
      if not embedded and not multi_label:
        self.skipped["classifier_accuracy"] = ("the domain classifier is fitted on embedded "
                                               "data only")
      if not has_day_night_truth(config) and not multi_label:
        self.skipped["psnr_ssim"] = ("no ground truth: only the embedded day -> night data "
                                     "(data.embedded_domains empty) has a known translation")
    if (not paired and not embedded and not multi_label and self.inception is None
        and self.lpips is None):
      raise ValueError(
          f"{config.model_name} on {config.data.source} data has nothing to score: FID/KID need "
          f"the Inception weights ({self.skipped['fid_kid']}); ground truth and the domain "
          "classifier exist for the embedded data only. Or translate a test folder with "
          "`python -m i2ijax.translate` and score it with --input/--reference")
    self.num_styles = num_styles if self.spec.multimodal else 1
    if self.num_styles < 1:
      raise ValueError(f"num_styles must be >= 1, got {num_styles}")
    self.tasks, self.domain_images = evaluation_tasks(config, split)
    if multi_label and not any(t.truths is not None for t in self.tasks):
      self.skipped["psnr_ssim"] = ("no ground truth: only the embedded attribute photos "
                                   "(config.data.source='embedded') have a known translation")
    self.classifier = fit_classifier(config) if embedded else None
    self.attribute_classifier = None
    if multi_label:
      from i2ijax.metrics.attribute_classifier import fit_attribute_classifier
      self.attribute_classifier = fit_attribute_classifier(config, workdir)
    self.translators = [task_translator(config, task, num_styles=self.num_styles, seed=seed,
                                        train_mode=train_mode) for task in self.tasks]
    self._baselines = {}
    if self.inception is not None:
      smallest = min(len(v) for v in self.domain_images.values())
      self.feature_fn = inception.make_feature_fn(self.inception,
                                                  max(1, min(feature_batch_size, smallest)))
      self._domain_features = {}

  # ------------------------------------------------------------------ metrics

  def features(self, images: list[np.ndarray]) -> np.ndarray:
    """Inception pool3 features [N, 2048] of uint8 images, grouped by size."""
    out = np.zeros((len(images), 2048), np.float64)
    shapes = {}
    for i, im in enumerate(images):
      shapes.setdefault(im.shape[:2], []).append(i)
    for idx in shapes.values():
      out[idx] = self.feature_fn(np.stack([rgb(images[i]) for i in idx]))
    return out

  def domain_features(self, name: str) -> np.ndarray:
    if name not in self._domain_features:
      self._domain_features[name] = self.features(self.domain_images[name])
    return self._domain_features[name]

  def _has_fid(self, task: Task, images: list) -> bool:
    """Whether FID/KID of `images` against `task`'s real target images can be computed: with
    the Inception weights, and at least 2 images on either side (else it is noted in
    `skipped`, e.g. an attribute value that few test images have)."""
    if self.inception is None:
      return False
    reals = len(self.domain_images.get(task.real_domain, []))
    if reals < 2 or len(images) < 2:
      self.skipped[f"fid_kid {task.name}"] = (
          f"FID/KID need >= 2 images on either side: {len(images)} translated, {reals} real "
          f"test images of {task.real_domain}")
      return False
    return True

  def _fid_kid(self, features: np.ndarray, reals: np.ndarray) -> dict:
    from i2ijax.metrics.fid import kernel_distance
    return {"fid": fid_of_features(features, reals),
            "kid": kernel_distance(features, reals)}

  def score_task(self, task: Task, outputs: np.ndarray | list) -> dict:
    """{"model": {metric: value}, "baseline_input": {...}} of `outputs` [N][K] uint8 for `task`."""
    k = len(outputs[0])
    flat = [o for per_input in outputs for o in per_input]
    model = {}
    if task.truths is not None:
      model.update(_means(score(flat, [t for t in task.truths for _ in range(k)])))
    accuracy = self.classifier_accuracy(task, flat)
    if accuracy is not None:
      model["classifier_accuracy"] = accuracy
    if self._has_fid(task, flat):
      model.update(self._fid_kid(self.features(flat), self.domain_features(task.real_domain)))
    if self.lpips is not None and k >= 2:
      from i2ijax.metrics.lpips import mean_pairwise_lpips
      stacked = np.stack([np.stack([rgb(o) for o in per_input]) for per_input in outputs])
      model["lpips_diversity"] = mean_pairwise_lpips(
          self.lpips, stacked.astype(np.float32) / 127.5 - 1.0, batch_size=min(len(stacked), 8))
    result = {"source": task.source, "target": task.target, "images": len(task.inputs),
              "outputs_per_image": k, "model": model}
    baseline = self.baseline(task)
    if baseline:
      result["baseline_input"] = baseline
    return result

  def classifier_accuracy(self, task: Task, images: list) -> float | None:
    """The fraction of uint8 `images` that the judge assigns to `task`'s target, or None.

    Multi-label tasks: the attribute classifier's decision on the changed
    attribute (probability > 0.5; arg-max for single-label data) equals its
    target value; two- and multi-domain tasks: the domain classifier's class
    is `task.domain`.
    """
    if self.attribute_classifier is not None and task.attribute is not None:
      decided = self.attribute_classifier.decide(np.stack(images))[:, task.attribute]
      return float(np.mean(decided == task.value))
    if self.classifier is not None:
      return float(np.mean(self.classifier(np.stack(images)) == task.domain))
    return None

  def baseline(self, task: Task) -> dict:
    """The metrics of the untranslated inputs of `task` (computed once per task)."""
    if task.name in self._baselines:
      return self._baselines[task.name]
    baseline = {}
    if task.truths is not None and all(x.shape == t.shape
                                       for x, t in zip(task.inputs, task.truths)):
      baseline.update(_means(score(task.inputs, task.truths)))
    accuracy = self.classifier_accuracy(task, task.inputs)
    if accuracy is not None:
      baseline["classifier_accuracy"] = accuracy
    if self._has_fid(task, task.inputs):
      inputs = np.concatenate([self.domain_features(n) for n in dict.fromkeys(task.input_domains)])
      baseline.update(self._fid_kid(inputs, self.domain_features(task.real_domain)))
    self._baselines[task.name] = baseline
    return baseline

  def translate(self, state, extras: bool = False):
    """Per task, per input, uint8 [K, H, W, C] (the state is only read). With `extras`,
    (outputs, per task the per-input {name: images} of the model's additional outputs)."""
    results = [translate_task(translator, state, task, extras=extras)
               for translator, task in zip(self.translators, self.tasks)]
    if not extras:
      return results
    return [r[0] for r in results], [r[1] for r in results]

  def __call__(self, state, outputs=None) -> dict:
    """The report of `state` (or of given `outputs`, as `translate` returns them)."""
    outputs = self.translate(state) if outputs is None else outputs
    report = {"model_name": self.config.model_name, "split": self.split,
              "mode": "train" if self.train_mode else "eval",
              "images": sum(len(t.inputs) for t in self.tasks), "tasks": {}}
    if self.kind == DataKind.PAIRED:  # per-image scores too; the task holds their means
      task = self.tasks[0]
      report["model"] = score([o[0] for o in outputs[0]], task.truths)
      means = {"model": _means(report["model"])}
      if all(x.shape == t.shape for x, t in zip(task.inputs, task.truths)):
        report["baseline_input"] = score(task.inputs, task.truths)
        means["baseline_input"] = _means(report["baseline_input"])
      report["tasks"][task.name] = {"source": task.source, "target": task.target,
                                    "images": len(task.inputs), "outputs_per_image": 1, **means}
    else:
      for task, outs in zip(self.tasks, outputs):
        report["tasks"][task.name] = self.score_task(task, outs)
    if self.attribute_classifier is not None:
      report["classifier"] = self.attribute_classifier.info()
    if self.kind in (DataKind.MULTI_DOMAIN, DataKind.MULTI_LABEL):
      report["mean"] = {part: _mean_over(report["tasks"].values(), part)
                        for part in ("model", "baseline_input")
                        if any(part in t for t in report["tasks"].values())}
    if self.skipped:
      report["skipped"] = dict(self.skipped)
    return report


def _means(scores: dict) -> dict:
  return {"psnr": scores["psnr"], "ssim": scores["ssim"]}


def _mean_over(tasks, part: str) -> dict:
  values = {}
  for t in tasks:
    for k, v in t.get(part, {}).items():
      values.setdefault(k, []).append(v)
  return {k: float(np.mean(v)) for k, v in values.items()}
