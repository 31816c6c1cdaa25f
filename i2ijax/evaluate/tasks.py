"""The translation tasks of a split: which images go into which domain, and their judges.

`evaluation_tasks` prepares the test images as the official test scripts
do (`prepare_fn`) and groups them into `Task`s by the model's data kind
(multi-label data: `attribute_tasks`); `task_translator` builds the model's
`registry.Translator` of one task and `translate_task` runs it over the
task's inputs; `fit_classifier` fits the domain classifier of the embedded
two- and multi-domain data (multi-label data is judged by
`metrics.attribute_classifier` instead).
"""

import dataclasses

import jax
import numpy as np

from i2ijax import registry
from i2ijax.data import images as image_io
from i2ijax.registry import DataKind
from i2ijax.translate import translate_image

SCORED_KINDS = (DataKind.PAIRED, DataKind.TWO_DOMAIN, DataKind.MULTI_DOMAIN,
                DataKind.MULTI_LABEL)


def data_kind(config) -> DataKind:
  """The `DataKind` of `config.model_name`; ValueError for kinds `evaluate` cannot score."""
  kind = registry.get(config.model_name).data_kind
  if kind not in SCORED_KINDS:
    raise ValueError(f"{config.model_name} ({kind.value} data) has no evaluation tasks; "
                     f"evaluate scores {[k.value for k in SCORED_KINDS]} models")
  return kind


def has_day_night_truth(config) -> bool:
  """True for a two-domain model on the embedded day -> night set (truth: `night_grade`)."""
  return (data_kind(config) == DataKind.TWO_DOMAIN and config.data.source == "embedded"
          and not config.data.get("embedded_domains", ""))


def prepare_fn(config):
  """uint8 [H, W, C] -> uint8 image as the official test feeds it (see `i2ijax.evaluate`)."""
  d, size = config.data, config.data.crop_size
  kind = data_kind(config)
  if kind == DataKind.MULTI_DOMAIN:
    return lambda im: image_io.resize(im, size, size, image_io.Image.BILINEAR)
  if kind == DataKind.MULTI_LABEL:  # the training transform without flip (StarGAN's test loader)
    from i2ijax.data.pipeline import make_transform
    unflipped = d.copy_and_resolve_references()
    unflipped.flip = False
    transform = make_transform(unflipped)
    return lambda im: image_io.to_uint8(transform(im, np.random.default_rng(0)))
  if d.preprocess == "resize_and_crop":
    resample = image_io.RESIZE_FILTERS[d.get("resize_filter", "bicubic")]
    return lambda im: image_io.resize(im, size, size, resample)
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
  entries); direction: AtoB / BtoA (two-domain and paired data) or None;
  domain: the target's class for the domain classifier (multi-domain data:
  the target domain's index, which its translator also takes); truths: the
  true translation of each input (PSNR/SSIM), or None.
  Multi-label data (`attribute_tasks`) adds labels: the source's float [K]
  labels of each input (passed to the translator); target_labels: the
  float [K] target label of each input; attrs: the translator's
  `TranslateRequest.attrs` ("NAME=VALUE,..."); attribute, value: the
  changed attribute's index and its target value, which the attribute
  classifier checks (single-label data: the class, value 1, and `domain`
  the class instead of `attrs`).
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
  labels: list | None = None
  target_labels: list | None = None
  attrs: str = ""
  attribute: int | None = None
  value: float | None = None


def evaluation_tasks(config, split: str = "test"):
  """(tasks, {domain name: prepared uint8 images}) of `split`; see `Task`."""
  from i2ijax.data import embedded
  from i2ijax.data.sources import multi_domain_sources, unaligned_domains
  prepare = prepare_fn(config)
  load = lambda domain: [prepare(domain.load(i)) for i in range(len(domain))]
  kind = data_kind(config)
  if kind == DataKind.MULTI_LABEL:
    return attribute_tasks(config, split)
  if kind == DataKind.PAIRED:
    inputs, targets = load_paired_split(config, split)
    task = Task("AtoB", "A", "B", inputs, ["A"] * len(inputs), "B", "AtoB", 1, targets)
    return [task], {"A": inputs, "B": targets}
  if kind == DataKind.MULTI_DOMAIN:
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


def attribute_tasks(config, split: str = "test"):
  """(tasks, {domain name: prepared uint8 images}) of multi-label data: one task per
  direction of a single-attribute change (the official test-time changes, `single_changes`).

  For attribute k of a group (e.g. the embedded tints, CelebA's hair
  colours): task "<name>=1" over the test images without k, into k on and
  the group's other members off; for an ungrouped attribute: "<name>=1"
  over the images with k = 0 and "<name>=0" over those with k = 1; the other
  attributes keep the source's values. Single-label data: task "<class>"
  over the images of the other classes. Domains "<name>=0" / "<name>=1" (the
  test images with that value; single-label data: each class) are each
  task's inputs and the real images of its target (FID/KID). Sources with a
  known translation (the embedded attributes, `truth(i, target)`) give each
  input its truth, prepared as the inputs are. Tasks without inputs are
  left out.
  """
  from i2ijax.data.attributes import attribute_source
  source = attribute_source(config.data, split, config.model.get("attrs", ""))
  prepare = prepare_fn(config)
  n = len(source)
  images = [prepare(source.load(i)) for i in range(n)]
  labels = np.stack([np.asarray(source.label(i), np.float32) for i in range(n)])
  names, on = list(source.names), labels > 0.5
  truth = getattr(source, "truth", None)
  tasks, domains = [], {}

  def task(name, src, rows, target, attrs, k, value, input_domain, domain=None):
    """Appends task `name` (also its target and real domain) over the images of `rows`."""
    idx = np.flatnonzero(rows)
    if not len(idx):
      return
    targets = [target(labels[i]) for i in idx]
    truths = ([prepare(truth(int(i), t)) for i, t in zip(idx, targets)]
              if truth is not None else None)
    tasks.append(Task(name, src, name, [images[i] for i in idx],
                      [input_domain(i) for i in idx], name, None, domain, truths,
                      [labels[i].copy() for i in idx], targets, attrs, k, value))

  if source.single_label:
    for c, cls in enumerate(names):
      domains[cls] = [images[i] for i in np.flatnonzero(on[:, c])]
    onehot = np.eye(len(names), dtype=np.float32)
    for c, cls in enumerate(names):
      others = "+".join(o for j, o in enumerate(names) if j != c and domains[o])
      task(cls, others, ~on[:, c], lambda lab, c=c: onehot[c].copy(), "", c, 1.0,
           lambda i: names[int(np.argmax(labels[i]))], domain=c)
    return tasks, {name: ims for name, ims in domains.items() if ims}
  for k, attr in enumerate(names):
    for v in (0, 1):
      domains[f"{attr}={v}"] = [images[i] for i in np.flatnonzero(on[:, k] == bool(v))]
  for k, attr in enumerate(names):
    group = next((list(g) for g in source.groups if k in g), None)
    for v in ((1,) if group else (1, 0)):
      off = [j for j in group if j != k] if group else []

      def target(lab, k=k, v=v, off=tuple(off)):
        out = lab.copy()
        out[list(off)] = 0.0
        out[k] = float(v)
        return out

      attrs = ",".join([f"{attr}={v}"] + [f"{names[j]}=0" for j in off])
      src = f"{attr}={1 - v}"
      task(f"{attr}={v}", src, on[:, k] != bool(v), target, attrs, k, float(v),
           lambda i, src=src: src)
  return tasks, {name: ims for name, ims in domains.items() if ims}


def domain_names(config) -> list[str]:
  """The two domains' names: day/night, the picked embedded gradings, or A/B."""
  if config.data.source != "embedded":
    return ["A", "B"]
  picked = config.data.get("embedded_domains", "")
  return [p.strip() for p in picked.split(",")] if picked else ["day", "night"]


def fit_classifier(config):
  """predict(uint8 [N, H, W, 3]) -> int [N] fitted on the embedded training domains, or None.

  Two-domain data: class 0 = A, 1 = B; multi-domain data: class k = domain
  k. Only the embedded data has this judge (`embedded.fit_domain_classifier`).
  """
  from i2ijax.data.embedded import fit_domain_classifier
  from i2ijax.data.sources import multi_domain_sources, unaligned_domains
  kind = data_kind(config)
  if config.data.source != "embedded" or kind not in (DataKind.TWO_DOMAIN, DataKind.MULTI_DOMAIN):
    return None
  if kind == DataKind.MULTI_DOMAIN:
    return fit_domain_classifier(multi_domain_sources(config.data, "train")[1])
  return fit_domain_classifier(unaligned_domains(config.data, "train"))


def task_translator(config, task: Task, *, num_styles: int = 1, seed: int = 0,
                    train_mode: bool = False) -> registry.Translator:
  """The model's `registry.Translator` of `task`, with the options its spec takes.

  direction (two-domain and paired tasks), domain (multi-domain and
  single-label tasks) or attrs (multi-label tasks); num_styles and seed for
  multimodal models (as `translate --num_styles=K --seed=S`); train_mode
  where the model takes it.
  """
  spec = registry.get(config.model_name)
  options = {"direction": task.direction, "domain": task.domain, "num_styles": num_styles,
             "seed": seed, "train_mode": train_mode, "attrs": task.attrs or None}
  request = registry.TranslateRequest(**{k: v for k, v in options.items()
                                         if k in spec.translate_options and v is not None})
  registry.check_request(spec, request)
  return spec.translator(config, request)


def _local(tree):
  """Every array of `tree` as its single-device copy on this process (no host transfer)."""
  def one(a):
    if isinstance(a, jax.Array) and len(a.sharding.device_set) > 1:
      return a.addressable_data(0)
    return a
  return jax.tree_util.tree_map(one, tree)


def translate_task(translator: registry.Translator, state, task: Task, extras: bool = False):
  """uint8 [K, H, W, C_out] per input of `task`, translated with `state`'s networks.

  Reads the state only (no training key is drawn, nothing changes); the
  translator's jitted function takes the parameters as an argument, so it
  compiles once for every state of a run. Each input's source labels
  (`task.labels`, multi-label data) go to the translator with it. With
  `extras`, returns (outputs, [{name: uint8 [K, H, W, C]} per input]) with
  the translator's additional outputs (U-GAT-IT's attention heatmaps).
  """
  params = _local(translator.params(state))
  labels = task.labels if task.labels is not None else [None] * len(task.inputs)
  results = [translate_image(translator, params, x, y, extras=extras)
             for x, y in zip(task.inputs, labels)]
  if not extras:
    return results
  return [r[0] for r in results], [r[1] for r in results]
