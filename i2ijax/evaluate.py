"""Score a trained model with the metrics that fit it, beside the trivial baseline.

  python -m i2ijax.evaluate --workdir=DIR [--split=test] [--step=N] [--train_mode]
      [--inception_weights=PTH] [--lpips_backbone=PTH --lpips_heads=PTH] [--num_styles=10]
  python -m i2ijax.evaluate --input=TRANSLATED --reference=TRUTH [--baseline=INPUTS]

With a workdir, the checkpoint's networks translate the config's `split` and
the scores depend on the model:

* paired (pix2pix): every pair (A, B) is translated A -> fake_B and scored
  against B with PSNR and SSIM; the input A itself is scored too as the
  trivial baseline (the bicubic upsampling for super-resolution, the gray
  image for colorization), when it has B's channels.
* unpaired two-domain (CycleGAN, MUNIT, UNIT): the test images of A are
  translated to B (task "AtoB") and those of B to A ("BtoA"). Per task:
  FID and KID against the real test images of the target domain (with the
  FID Inception weights); on the embedded day -> night data, whose true
  translation of a day crop x is exactly `embedded.night_grade(x)`, PSNR and
  SSIM of AtoB against that truth; on embedded data, the domain-classifier
  accuracy (the fraction of translations that a nearest-centroid classifier
  fitted on the two training domains, `embedded.fit_domain_classifier`,
  assigns to the target domain).
* multi-domain (StarGAN v2): for every target domain ("to_<name>"), the test
  images of all other domains, each with `num_styles` latent-guided styles
  (latent seeds 0..K-1, as `translate --seed=k`): domain-classifier
  accuracy on embedded data, FID and KID against that domain's real test
  images, and their means over the domains ("mean").
* multimodal (MUNIT, StarGAN v2): LPIPS diversity, the mean pairwise LPIPS
  of the `num_styles` (K >= 2) outputs of each input (MUNIT's styles are K
  codes ~ N(0, I) from seed 0, as `translate --num_styles=K --seed=0`), with
  the LPIPS weights. PSNR, SSIM, accuracy and FID/KID then use all K outputs.

Each metric of a task is also computed on the untranslated inputs (the
identity baseline, "baseline_input"): their PSNR/SSIM against the truth,
the fraction the classifier already assigns to the target domain, their
FID/KID against the target domain. Weights are found from the flags or the
environment variables I2IJAX_INCEPTION_WEIGHTS, I2IJAX_LPIPS_BACKBONE and
I2IJAX_LPIPS_HEADS; when none is given, FID/KID (or LPIPS) are skipped and
the report's "skipped" says why. A model with nothing to score (unpaired
or multi-domain folder data without Inception or LPIPS weights) is an error
that says what to pass. During training, `config.eval_every_steps` = N > 0
runs the same evaluation every N steps (`PeriodicEvaluation`).

Images are prepared as the official test scripts do: `resize_and_crop`
resizes to crop_size x crop_size (bicubic; test load_size = crop_size, no
flip); `resize_short_and_crop` resizes the shorter side to crop_size
(bilinear) and center-crops a square; StarGAN v2 resizes to crop_size x
crop_size (bilinear); `crop` and `none` keep the whole image. Metrics are
computed on uint8 values (range 255); FID/KID, LPIPS and the classifier see
the uint8 outputs as a saved PNG would hold them.
Results go to DIR/eval/{split}_step{N}.json (`..._train_mode.json` with
--train_mode; with --save_images, grids of input | output(s) | (truth) go to
the folder of the same name) and, as scalars eval/{task}/{metric} and
eval/{task}/baseline_{metric}, to the workdir's TensorBoard events at the
checkpoint's step. With folders, files of --input and --reference (and
--baseline) are matched by their path without extension.
"""

import dataclasses
import json
import os

from absl import app, flags, logging
import numpy as np

from i2ijax.data import images as image_io
from i2ijax.metrics.fid import fid_of_features
from i2ijax.metrics.image_quality import psnr, ssim

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


def model_kind(config) -> str:
  """'paired' (pix2pix), 'multi_domain' (StarGAN v2) or 'two_domain' (CycleGAN, MUNIT, UNIT)."""
  from i2ijax.train.loop import model_module
  model = model_module(config.model_name)
  if getattr(model, "PAIRED_DATA", False):
    return "paired"
  if getattr(model, "MULTI_DOMAIN", False):
    return "multi_domain"
  return "two_domain"


def is_multimodal(config) -> bool:
  """True where one input has many translations (MUNIT's styles, StarGAN v2's latents)."""
  return config.model_name in ("munit", "stargan_v2")


def has_day_night_truth(config) -> bool:
  """True for a two-domain model on the embedded day -> night set (truth: `night_grade`)."""
  return (model_kind(config) == "two_domain" and config.data.source == "embedded"
          and not config.data.get("embedded_domains", ""))


def prepare_fn(config):
  """uint8 [H, W, C] -> uint8 image as the official test feeds it (see the module docstring)."""
  d, size = config.data, config.data.crop_size
  if model_kind(config) == "multi_domain":
    return lambda im: image_io.resize(im, size, size, image_io.Image.BILINEAR)
  if d.preprocess == "resize_and_crop":
    return lambda im: image_io.resize(im, size, size)
  if d.preprocess == "resize_short_and_crop":
    def short_side(im):
      h, w = im.shape[:2]
      if h <= w:
        nh, nw = size, max(size, int(size * w / h))
      else:
        nh, nw = max(size, int(size * h / w)), size
      im = image_io.resize(im, nh, nw, image_io.Image.BILINEAR)
      top, left = (nh - size) // 2, (nw - size) // 2
      return im[top:top + size, left:left + size]
    return short_side
  return lambda im: im


def load_paired_split(config, split: str):
  """(inputs, targets): uint8 lists of the paired `split`, prepared as the official test does."""
  from i2ijax.data.sources import aligned_domains
  domain_a, domain_b = aligned_domains(config.data, split)
  prepare = prepare_fn(config)
  inputs = [prepare(domain_a.load(i)) for i in range(len(domain_a))]
  targets = [prepare(domain_b.load(i)) for i in range(len(domain_b))]
  return inputs, targets


@dataclasses.dataclass
class Task:
  """One translation task: `inputs` (uint8 [H, W, C] each) translated into domain `target`.

  input_domains: the domain name of each input; real_domain: the domain whose
  real test images FID/KID compare with (both name `Evaluator.domain_images`
  entries); direction: AtoB / BtoA (two-domain models) or None; domain: the
  target's class for the domain classifier (StarGAN v2: its domain index);
  truths: the true translation of each input (PSNR/SSIM), or None.
  """
  name: str
  source: str
  target: str
  inputs: list
  input_domains: list
  real_domain: str
  direction: str | None = None
  domain: int | None = None
  truths: list | None = None


def evaluation_tasks(config, split: str = "test"):
  """(tasks, {domain name: prepared uint8 images}) of `split`; see `Task`."""
  from i2ijax.data import embedded
  from i2ijax.data.sources import multi_domain_sources, unaligned_domains
  prepare = prepare_fn(config)
  load = lambda domain: [prepare(domain.load(i)) for i in range(len(domain))]
  kind = model_kind(config)
  if kind == "paired":
    inputs, targets = load_paired_split(config, split)
    task = Task("AtoB", "A", "B", inputs, ["A"] * len(inputs), "B", "AtoB", 1, targets)
    return [task], {"A": inputs, "B": targets}
  if kind == "multi_domain":
    names, domains = multi_domain_sources(config.data, split, config.model.num_domains)
    images = {n: load(d) for n, d in zip(names, domains)}
    tasks = []
    for y, target in enumerate(names):
      sources = [n for n in names if n != target]
      tasks.append(Task(f"to_{target}", "+".join(sources), target,
                        [im for n in sources for im in images[n]],
                        [n for n in sources for _ in images[n]], target, None, y))
    return tasks, images
  names = domain_names(config)
  domain_a, domain_b = unaligned_domains(config.data, split)
  images = {names[0]: load(domain_a), names[1]: load(domain_b)}
  a, b = images[names[0]], images[names[1]]
  truths = [embedded.night_grade(x) for x in a] if has_day_night_truth(config) else None
  return [Task("AtoB", names[0], names[1], a, [names[0]] * len(a), names[1], "AtoB", 1, truths),
          Task("BtoA", names[1], names[0], b, [names[1]] * len(b), names[0], "BtoA", 0)], images


def domain_names(config) -> list[str]:
  """The two domains' names: day/night, the picked embedded gradings, or A/B."""
  if config.data.source != "embedded":
    return ["A", "B"]
  picked = config.data.get("embedded_domains", "")
  return [p.strip() for p in picked.split(",")] if picked else ["day", "night"]


def fit_classifier(config):
  """predict(uint8 [N, H, W, 3]) -> int [N] fitted on the embedded training domains, or None.

  Two-domain models: class 0 = A, 1 = B; StarGAN v2: class k = domain k.
  Only the embedded data has this judge (`embedded.fit_domain_classifier`).
  """
  from i2ijax.data.embedded import fit_domain_classifier
  from i2ijax.data.sources import multi_domain_sources, unaligned_domains
  kind = model_kind(config)
  if config.data.source != "embedded" or kind == "paired":
    return None
  if kind == "multi_domain":
    return fit_domain_classifier(multi_domain_sources(config.data, "train")[1])
  return fit_domain_classifier(unaligned_domains(config.data, "train"))


def _rgb(image: np.ndarray) -> np.ndarray:
  return np.repeat(image, 3, axis=-1) if image.shape[-1] == 1 else image


def _local(tree):
  """Every array of `tree` as its single-device copy on this process (no host transfer)."""
  import jax

  def one(a):
    if isinstance(a, jax.Array) and len(a.sharding.device_set) > 1:
      return a.addressable_data(0)
    return a
  return jax.tree_util.tree_map(one, tree)


class StateTranslator:
  """translator(translator.params(state), task, uint8 [H, W, C]) -> uint8 [K, H, W, C_out].

  Jitted functions take the parameters as arguments, so they compile once
  for any number of states (the periodic evaluation during training). K is 1
  for CycleGAN, pix2pix and UNIT; `num_styles` for MUNIT (codes ~ N(0, I) of
  shape [K, style_dim] from `seed`) and StarGAN v2 (latents of seeds
  seed..seed+K-1, each N(0, I) of shape [1, latent_dim]). Translations
  equal `translate.make_translator`'s with the same options. Nothing here
  draws from a training key or changes the state.
  """

  def __init__(self, config, *, num_styles: int = 10, seed: int = 0, train_mode: bool = False):
    import jax
    import jax.numpy as jnp
    from i2ijax.train.common import apply_module
    from i2ijax.train.loop import model_module
    self.config, self.model = config, model_module(config.model_name)
    self.kind = model_kind(config)
    self.name = config.model_name
    self.k = num_styles if is_multimodal(config) else 1
    if self.k < 1:
      raise ValueError(f"num_styles must be >= 1, got {num_styles}")
    if self.kind == "multi_domain":
      models = self.model.build_models(config)
      G, F = models["G"], models["F"]
      m = config.model
      self.z = jnp.concatenate([jax.random.normal(jax.random.key(seed + i), (1, m.latent_dim),
                                                  jnp.float32) for i in range(self.k)])

      @jax.jit
      def stargan(ema, x, z, y):
        styles = F.apply({"params": ema["F"]}, z, y)
        return G.apply({"params": ema["G"]}, jnp.repeat(x, z.shape[0], axis=0), styles)
      self._stargan = stargan
      return
    if self.name in ("munit", "unit"):
      from i2ijax.train.munit import Nets
      nets = Nets(config)
      self.multiple = self.model.input_multiple(config)
      if self.name == "munit":
        self.codes = jax.random.normal(jax.random.key(seed), (self.k, config.model.gen.style_dim),
                                       jnp.float32)

      def munit_family(g, x, codes, source, target):
        if codes is None:
          return nets.decode(g, target, nets.encode(g, source, x))
        content, _ = nets.encode(g, source, x)
        return nets.decode(g, target, jnp.repeat(content, codes.shape[0], axis=0), codes)
      self._munit = jax.jit(munit_family, static_argnames=("source", "target"))
      return
    self.multiple = self.model.input_multiple(config)
    nets = self.model.build_models(config)
    key = jax.random.key(config.seed) if train_mode and config.model.get("use_dropout") else None

    def forward(net):
      return jax.jit(lambda params, stats, x: apply_module(net, params, stats, x,
                                                           train=train_mode, key=key)[0])
    self._forward = {direction: (net_name, forward(nets[net_name]))
                     for direction, (net_name, _) in self.model.TRANSLATORS.items()}

  def params(self, state):
    """The part of `state` the translations read, as single-device arrays."""
    if self.kind == "multi_domain":
      return _local(state.ema)
    if self.name in ("munit", "unit"):
      return _local(state.params["G"])
    return _local({"params": state.params, "batch_stats": state.batch_stats})

  def __call__(self, params, task: Task, image: np.ndarray) -> np.ndarray:
    import jax.numpy as jnp
    from i2ijax.translate import pad_to_multiple
    x = image.astype(np.float32) / 127.5 - 1.0
    if self.kind == "multi_domain":
      y = jnp.full((self.k,), task.domain, jnp.int32)
      return image_io.to_uint8(np.asarray(self._stargan(params, jnp.asarray(x[None]), self.z, y)))
    h, w = image.shape[:2]
    x = jnp.asarray(pad_to_multiple(x, self.multiple)[None])
    if self.name in ("munit", "unit"):
      source, target = ("a", "b") if task.direction == "AtoB" else ("b", "a")
      out = self._munit(params, x, self.codes if self.name == "munit" else None,
                        source=source, target=target)
    else:
      net_name, forward = self._forward[task.direction]
      out = forward(params["params"][net_name], params["batch_stats"][net_name], x)
    return image_io.to_uint8(np.asarray(out)[:, :h, :w])


def _weights_given(*values_and_envs) -> bool:
  return any(v or os.environ.get(env) for v, env in values_and_envs)


class Evaluator:
  """evaluator(state) -> report: the metrics of `model_kind` on `split` (see the module docstring).

  Data, the domain classifier, the metric networks and the compiled
  translators are prepared once, so a training run can call it at every
  evaluation step. Weights given by argument or environment variable must
  exist (a wrong path is an error); with none given, FID/KID or LPIPS are
  skipped and `skipped` says why. Raises ValueError if nothing can be scored.
  """

  def __init__(self, config, split: str = "test", *, num_styles: int = 10, seed: int = 0,
               train_mode: bool = False, inception_weights: str | None = None,
               lpips_backbone: str | None = None, lpips_heads: str | None = None,
               lpips_net: str = "alex", feature_batch_size: int = 50):
    from i2ijax.metrics import inception, lpips
    self.config, self.split, self.train_mode = config, split, train_mode
    self.kind = model_kind(config)
    self.skipped = {}
    self.inception = self.lpips = None
    if self.kind != "paired":
      if _weights_given((inception_weights, inception.WEIGHTS_ENV)):
        self.inception = inception.load_inception(inception_weights)
      else:
        self.skipped["fid_kid"] = (
            "no FID Inception weights: pass --inception_weights (evaluate_workdir("
            f"inception_weights=...)) or set {inception.WEIGHTS_ENV} to "
            f"{inception.WEIGHTS_FILE} ({inception.WEIGHTS_URL})")
    if is_multimodal(config):
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
    if self.kind != "paired":
      if not embedded:
        self.skipped["classifier_accuracy"] = ("the domain classifier is fitted on embedded "
                                               "data only")
      if not has_day_night_truth(config):
        self.skipped["psnr_ssim"] = ("no ground truth: only the embedded day -> night data "
                                     "(data.embedded_domains empty) has a known translation")
    if self.kind != "paired" and not embedded and self.inception is None and self.lpips is None:
      raise ValueError(
          f"{config.model_name} on {config.data.source} data has nothing to score: FID/KID need "
          f"the Inception weights ({self.skipped['fid_kid']}); ground truth and the domain "
          "classifier exist for the embedded data only. Or translate a test folder with "
          "`python -m i2ijax.translate` and score it with --input/--reference")
    self.tasks, self.domain_images = evaluation_tasks(config, split)
    self.classifier = fit_classifier(config) if embedded else None
    self.translator = StateTranslator(config, num_styles=num_styles, seed=seed,
                                      train_mode=train_mode)
    self.num_styles = self.translator.k
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
      out[idx] = self.feature_fn(np.stack([_rgb(images[i]) for i in idx]))
    return out

  def domain_features(self, name: str) -> np.ndarray:
    if name not in self._domain_features:
      self._domain_features[name] = self.features(self.domain_images[name])
    return self._domain_features[name]

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
    if self.classifier is not None:
      model["classifier_accuracy"] = float(np.mean(self.classifier(np.stack(flat)) == task.domain))
    if self.inception is not None:
      model.update(self._fid_kid(self.features(flat), self.domain_features(task.real_domain)))
    if self.lpips is not None and k >= 2:
      from i2ijax.metrics.lpips import mean_pairwise_lpips
      stacked = np.stack([np.stack([_rgb(o) for o in per_input]) for per_input in outputs])
      model["lpips_diversity"] = mean_pairwise_lpips(
          self.lpips, stacked.astype(np.float32) / 127.5 - 1.0, batch_size=min(len(stacked), 8))
    result = {"source": task.source, "target": task.target, "images": len(task.inputs),
              "outputs_per_image": k, "model": model}
    baseline = self.baseline(task)
    if baseline:
      result["baseline_input"] = baseline
    return result

  def baseline(self, task: Task) -> dict:
    """The metrics of the untranslated inputs of `task` (computed once per task)."""
    if task.name in self._baselines:
      return self._baselines[task.name]
    baseline = {}
    if task.truths is not None and all(x.shape == t.shape
                                       for x, t in zip(task.inputs, task.truths)):
      baseline.update(_means(score(task.inputs, task.truths)))
    if self.classifier is not None:
      baseline["classifier_accuracy"] = float(np.mean(
          self.classifier(np.stack(task.inputs)) == task.domain))
    if self.inception is not None:
      inputs = np.concatenate([self.domain_features(n) for n in dict.fromkeys(task.input_domains)])
      baseline.update(self._fid_kid(inputs, self.domain_features(task.real_domain)))
    self._baselines[task.name] = baseline
    return baseline

  def translate(self, state) -> list[np.ndarray]:
    """Per task, uint8 [N, K, H, W, C] (a list of [K, H, W, C] where sizes differ)."""
    params = self.translator.params(state)
    return [[self.translator(params, task, x) for x in task.inputs] for task in self.tasks]

  def __call__(self, state, outputs=None) -> dict:
    """The report of `state` (or of given `outputs`, as `translate` returns them)."""
    outputs = self.translate(state) if outputs is None else outputs
    report = {"model_name": self.config.model_name, "split": self.split,
              "mode": "train" if self.train_mode else "eval",
              "images": sum(len(t.inputs) for t in self.tasks), "tasks": {}}
    if self.kind == "paired":  # per-image scores too; the task holds their means
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
    if self.kind == "multi_domain":
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


def report_scalars(report: dict) -> dict:
  """{name: value}: eval/{task}/{metric} and eval/{task}/baseline_{metric} (and eval/mean/...).

  The prefix is eval/{split}/ for splits other than test, with _train_mode
  appended to its first part in train mode.
  """
  prefix = "eval" + ("_train_mode" if report.get("mode") == "train" else "")
  if report.get("split", "test") != "test":
    prefix += f"/{report['split']}"
  groups = dict(report["tasks"])
  if "mean" in report:
    groups["mean"] = report["mean"]
  out = {}
  for name, group in groups.items():
    for key, value in group.get("model", {}).items():
      out[f"{prefix}/{name}/{key}"] = float(value)
    for key, value in group.get("baseline_input", {}).items():
      out[f"{prefix}/{name}/baseline_{key}"] = float(value)
  return out


def report_path(workdir: str, split: str, step: int, train_mode: bool = False) -> str:
  """DIR/eval/{split}_step{N}[_train_mode] (without the .json extension)."""
  suffix = "_train_mode" if train_mode else ""
  return os.path.join(workdir, "eval", f"{split}_step{step}{suffix}")


def evaluate_workdir(workdir: str, split: str = "test", step: int | None = None, *,
                     train_mode: bool = False, save_images: bool = False, num_styles: int = 10,
                     inception_weights: str | None = None, lpips_backbone: str | None = None,
                     lpips_heads: str | None = None, lpips_net: str = "alex",
                     write_scalars: bool = True) -> dict:
  """Translates and scores `split` with the run in `workdir`; writes and returns the report.

  The report: workdir, model_name, split, step, mode, images (inputs over all
  tasks), tasks {name: {source, target, images, outputs_per_image, model
  {metric: value}, baseline_input {metric: value}}}, skipped {metric:
  reason}; paired models also keep "model" and "baseline_input" with
  per-image PSNR/SSIM; StarGAN v2 adds "mean" over its target domains.
  """
  import jax
  from i2ijax.translate import load_config, load_state
  config = load_config(workdir)
  evaluator = Evaluator(config, split, num_styles=num_styles, train_mode=train_mode,
                        inception_weights=inception_weights, lpips_backbone=lpips_backbone,
                        lpips_heads=lpips_heads, lpips_net=lpips_net)
  _, state = load_state(workdir, config, step)
  step = int(state.step)
  outputs = evaluator.translate(state)
  report = {"workdir": workdir, "step": step, **evaluator(state, outputs)}
  name = report_path(workdir, split, step, train_mode)
  if save_images and jax.process_index() == 0:
    save_grids(evaluator.tasks, outputs, name)
  if jax.process_index() == 0:
    _write_json(report, name + ".json")
  if write_scalars:
    _write_scalars(workdir, step, report_scalars(report))
  return report


def save_grids(tasks, outputs, folder: str) -> None:
  """One PNG per input: input | its K outputs | the truth (where known)."""
  for task, outs in zip(tasks, outputs):
    for i, (x, ys) in enumerate(zip(task.inputs, outs)):
      row = [_rgb(x)] + [_rgb(y) for y in ys]
      if task.truths is not None:
        row.append(_rgb(task.truths[i]))
      if len({im.shape for im in row}) == 1:
        name = f"{i:04d}.png" if len(tasks) == 1 else os.path.join(task.name, f"{i:04d}.png")
        image_io.save_image(image_io.make_grid([row]), os.path.join(folder, name))


def _write_scalars(workdir: str, step: int, scalars: dict, writer=None) -> None:
  import jax
  from clu import metric_writers
  own = writer is None
  if own:
    writer = metric_writers.create_default_writer(workdir, just_logging=jax.process_index() > 0)
  writer.write_scalars(step, scalars)
  writer.flush()
  if own:
    writer.close()


class PeriodicEvaluation:
  """The evaluation during training, every `config.eval_every_steps` steps (0: never).

  Built once before training (so a config with nothing to score, or a
  missing test split, fails before the first step): the cheap metrics
  always, FID/KID and LPIPS only when their weights are configured
  (environment variables, or config.eval_inception_weights,
  config.eval_lpips_backbone, config.eval_lpips_heads), with
  config.eval_num_styles (default 10) styles per input for the multimodal
  models. `evaluation(state, step, writer)` writes the report to
  DIR/eval/test_step{N}.json and its scalars (`report_scalars`) with the
  training writer. It reads the state only: no training key is drawn and
  nothing in the state changes.
  """

  def __init__(self, config, workdir: str):
    self.every = int(config.get("eval_every_steps", 0))
    if self.every < 0:
      raise ValueError(f"config.eval_every_steps={self.every} must be >= 0 (0: no evaluation)")
    self.workdir = workdir
    self.evaluator = Evaluator(
        config, "test", num_styles=int(config.get("eval_num_styles", 10)),
        inception_weights=config.get("eval_inception_weights", "") or None,
        lpips_backbone=config.get("eval_lpips_backbone", "") or None,
        lpips_heads=config.get("eval_lpips_heads", "") or None)
    if self.evaluator.skipped:
      logging.info("Periodic evaluation skips: %s", self.evaluator.skipped)

  def due(self, step: int, num_steps: int) -> bool:
    return self.every > 0 and (step % self.every == 0 or step == num_steps)

  def __call__(self, state, step: int, writer) -> dict | None:
    import jax
    if jax.process_index() != 0:
      return None
    report = {"workdir": self.workdir, "step": step, **self.evaluator(state)}
    _write_json(report, report_path(self.workdir, "test", step) + ".json")
    scalars = report_scalars(report)
    writer.write_scalars(step, scalars)
    logging.info("eval at step %d: %s", step,
                 "  ".join(f"{k[len('eval/'):]} {v:.4f}" for k, v in sorted(scalars.items())))
    return report


def matched_files(folders: dict[str, str]) -> dict[str, list[str]]:
  """{role: paths} of the files every folder has, matched by path without extension."""
  found = {}
  for role, folder in folders.items():
    paths = [folder] if os.path.isfile(folder) else image_io.list_images(folder)
    root = os.path.dirname(folder) if os.path.isfile(folder) else folder
    found[role] = {os.path.splitext(os.path.relpath(p, root))[0]: p for p in paths}
  keys = set.intersection(*(set(v) for v in found.values()))
  for role, files in found.items():
    missing = sorted(set(files) - keys)
    if missing:
      raise ValueError(f"{folders[role]} (--{role}) has images the other folders lack: "
                       f"{missing[:5]}{' ...' if len(missing) > 5 else ''}")
  if not keys:
    raise ValueError(f"no images to score in {sorted(folders.values())}")
  return {role: [files[k] for k in sorted(keys)] for role, files in found.items()}


def evaluate_folders(inputs: str, reference: str, baseline: str | None = None) -> dict:
  """Scores the images of `inputs` (and of `baseline`) against same-named images of `reference`."""
  folders = {"input": inputs, "reference": reference}
  if baseline:
    folders["baseline"] = baseline
  files = matched_files(folders)
  targets = [image_io.load_image(p) for p in files["reference"]]
  report = {"images": len(targets),
            "model": score([image_io.load_image(p) for p in files["input"]], targets)}
  if baseline:
    report["baseline_input"] = score([image_io.load_image(p) for p in files["baseline"]], targets)
  return report


def _write_json(report: dict, path: str) -> None:
  os.makedirs(os.path.dirname(path), exist_ok=True)
  with open(path + ".tmp", "w") as f:
    json.dump(report, f, indent=1)
  os.replace(path + ".tmp", path)


def summary(report: dict) -> str:
  """The mean scores as a small table (PSNR/SSIM for paired data, every metric per task else)."""
  if "model" in report:
    lines = [f"{'':16s} {'PSNR (dB)':>10s} {'SSIM':>8s}   ({report['images']} images)"]
    for key, label in (("model", "model"), ("baseline_input", "baseline (input)")):
      if key in report:
        lines.append(f"{label:16s} {report[key]['psnr']:10.3f} {report[key]['ssim']:8.4f}")
    return "\n".join(lines)
  lines = [f"{'task':24s} {'metric':20s} {'model':>10s} {'baseline':>10s}"]
  groups = dict(report["tasks"])
  if "mean" in report:
    groups["mean"] = report["mean"]
  for name, group in groups.items():
    label = name
    if "source" in group:
      label += f" ({group['images']}x{group['outputs_per_image']})"
    base = group.get("baseline_input", {})
    for metric in METRICS:
      if metric in group.get("model", {}):
        b = f"{base[metric]:10.4f}" if metric in base else f"{'-':>10s}"
        lines.append(f"{label:24s} {metric:20s} {group['model'][metric]:10.4f} {b}")
        label = ""
  for metric, reason in report.get("skipped", {}).items():
    lines.append(f"skipped {metric}: {reason}")
  return "\n".join(lines)


FLAGS = flags.FLAGS


def define_flags() -> None:
  """The command-line flags (defined only when run as a program, so modules import freely)."""
  flags.DEFINE_string("workdir", None, "Training workdir of the model to score.")
  flags.DEFINE_string("split", "test", "Split of the config's data to score.")
  flags.DEFINE_integer("step", None, "Checkpoint step (default: newest).")
  flags.DEFINE_bool("train_mode", False, "Batch statistics and dropout at test time "
                    "(the official test default) instead of running averages (its --eval).")
  flags.DEFINE_bool("save_images", False, "Also write input | output(s) | target grids.")
  flags.DEFINE_integer("num_styles", 10, "MUNIT / StarGAN v2: styles per input (LPIPS "
                       "diversity needs >= 2).")
  flags.DEFINE_string("inception_weights", None, "FID Inception weights (pytorch-fid's .pth or "
                      "an .npz); default $I2IJAX_INCEPTION_WEIGHTS. Without them FID/KID are "
                      "skipped.")
  flags.DEFINE_string("lpips_backbone", None, "LPIPS backbone weights (torchvision); default "
                      "$I2IJAX_LPIPS_BACKBONE.")
  flags.DEFINE_string("lpips_heads", None, "LPIPS v0.1 head weights; default $I2IJAX_LPIPS_HEADS.")
  flags.DEFINE_enum("lpips_net", "alex", ["alex", "vgg"], "LPIPS backbone.")
  flags.DEFINE_string("input", None, "Folder of translated images (instead of --workdir).")
  flags.DEFINE_string("reference", None, "Folder of ground-truth images matching --input.")
  flags.DEFINE_string("baseline", None, "Optional folder of baseline images to score as well.")


def main(argv):
  del argv
  if FLAGS.workdir:
    report = evaluate_workdir(FLAGS.workdir, FLAGS.split, FLAGS.step,
                              train_mode=FLAGS.train_mode, save_images=FLAGS.save_images,
                              num_styles=FLAGS.num_styles,
                              inception_weights=FLAGS.inception_weights,
                              lpips_backbone=FLAGS.lpips_backbone, lpips_heads=FLAGS.lpips_heads,
                              lpips_net=FLAGS.lpips_net)
  elif FLAGS.input and FLAGS.reference:
    report = evaluate_folders(FLAGS.input, FLAGS.reference, FLAGS.baseline)
  else:
    raise app.UsageError("give --workdir, or --input and --reference")
  logging.info("\n%s", summary(report))
  print(summary(report))


if __name__ == "__main__":
  define_flags()
  app.run(main)
