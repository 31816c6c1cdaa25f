"""Domain Transfer Network (Taigman, Polyak, Wolf, ICLR 2017): state, the two training phases,
sampling, translation and the digit-classification evaluation.

G = g o f with f fixed (`i2ijax.models.dtn`). There is no official code;
the paper's method, with the digits networks and weights (sec. 3-5.1); see
`configs/dtn.py` for the differences from the TF reimplementation. A run is
two phases of one train state (`step_phase`):
1. "f", iterations t < f_pretrain_steps: f with a softmax head (`FClassifier`)
   is trained on the labelled source images, one Adam step per iteration on
   the softmax cross-entropy (`losses.softmax_class_loss`). g and D do not
   change.
2. "dtn", the later iterations: f is frozen (never differentiated, never
   updated; its parameters stay in the state, so a resumed run is the same),
   and on a batch of source images x and target images t:
   a. G(x) = g(f(x)), G(t) = g(f(t)) (separate calls, training-mode batch
      norm); D on G(x), G(t) and t (three calls); one Adam step of D on
      L_D = `losses.ternary_d_loss` (classes fake-from-source 0,
      fake-from-target 1, real-target 2);
   b. again G(x), G(t) and, with the updated D, one Adam step of g (or
      config.model.g_steps of them, each on the same batch: the
      reimplementation's remedy for a discriminator that wins) on
      L_G = L_GANG + alpha L_CONST + beta L_TID + gamma L_TV:
      L_GANG = `losses.ternary_g_loss` (both fakes classed real-target),
      L_CONST = `losses.f_constancy_loss`(f(x), f(G(x))) on source images only,
      L_TID = `losses.target_identity_loss`(t, G(t)) on target images only,
      L_TV = `losses.total_variation_loss`(G(x), B).
Every forward in training mode updates the running averages of its batch
norms. Each player has its own Adam (f + head, g, D).
Batches: {"A": [N, 32, 32, C_s] source images, "label_A": int32 [N] their
classes (read only in phase 1), "B": [N, 32, 32, C_t] target images}, in [-1, 1].
"""

from typing import Any

import flax.struct
import jax
import jax.numpy as jnp
import numpy as np
import optax

from i2ijax import losses
from i2ijax.models.dtn import (BN_MOMENTUM, D_CLASSES, Decoder, FClassifier, FeatureExtractor,
                               TernaryDiscriminator, glorot_params)
from i2ijax.registry import DataKind, ModelSpec, Translator, rows_grid
from i2ijax.train.common import (apply_module, init_module, learning_rate_schedule,
                                 make_optimizer, norm_metrics, precision,
                                 validate_batch_and_precision)

PHASES = ("f", "dtn")
DATA_SOURCES = ("embedded", "tfds")
F_NETS = ("f", "head")  # what the pretraining phase updates


@flax.struct.dataclass
class DTNState:
  step: jax.Array
  params: dict  # {"f": f's trunk, "head": its softmax layer, "g", "D"}
  batch_stats: dict  # {"g", "D"} (f has no norms)
  f_opt_state: Any  # Adam over {"f", "head"} (phase "f" only)
  g_opt_state: Any
  d_opt_state: Any


def validate_config(config) -> None:
  """Raises ValueError naming the config key of any value the model cannot use."""
  validate_batch_and_precision(config)
  m, d = config.model, config.data
  if d.source not in DATA_SOURCES:
    raise ValueError(f"config.data.source={d.source!r} is not one of {list(DATA_SOURCES)}")
  if d.crop_size != 32:
    raise ValueError(f"config.data.crop_size={d.crop_size} must be 32 (the digit networks "
                     f"map 32x32 images to a 1x1 feature and back)")
  for key in ("source_channels", "target_channels"):
    if d[key] not in (1, 3):
      raise ValueError(f"config.data.{key}={d[key]} must be 1 or 3")
  for key, n in (("f_widths", 4), ("g_widths", 3), ("d_widths", 3)):
    widths = tuple(m[key])
    if len(widths) != n or any(int(w) < 1 for w in widths):
      raise ValueError(f"config.model.{key}={widths} must be {n} positive widths")
  if m.f_pretrain_steps < 0:
    raise ValueError(f"config.model.f_pretrain_steps={m.f_pretrain_steps} must be >= 0")
  for key in ("alpha", "beta", "gamma"):
    if m[key] < 0:
      raise ValueError(f"config.model.{key}={m[key]} must be >= 0")
  if m.g_steps < 1:
    raise ValueError(f"config.model.g_steps={m.g_steps} must be >= 1")
  if int(d.get("source_renderings", 1)) < 1:
    raise ValueError(f"config.data.source_renderings={d.source_renderings} must be >= 1")
  if m.get("eval_stats", "source") not in EVAL_STATS:
    raise ValueError(f"config.model.eval_stats={m.eval_stats!r} is not one of {list(EVAL_STATS)}")
  if m.tv_exponent <= 0:
    raise ValueError(f"config.model.tv_exponent={m.tv_exponent} must be positive")
  if config.optimizer.f_lr <= 0:
    raise ValueError(f"config.optimizer.f_lr={config.optimizer.f_lr} must be positive")
  if config.get("eval_classifier_steps", 1) < 1:
    raise ValueError(f"config.eval_classifier_steps={config.eval_classifier_steps} must be >= 1")


def build_models(config) -> dict:
  validate_config(config)
  m, d, dt = config.model, config.data, precision(config)
  return {"f": FeatureExtractor(tuple(m.f_widths), **dt),
          "classifier": FClassifier(tuple(m.f_widths), **dt),
          "g": Decoder(d.target_channels, tuple(m.g_widths), **dt),
          "D": TernaryDiscriminator(tuple(m.d_widths), **dt)}


def create_state(config, key, image_shapes, dataset_size: int) -> DTNState:
  """Fresh networks: Glorot-uniform kernels, zero biases, unit norm scales (`glorot_params`)."""
  del dataset_size
  nets = build_models(config)
  dtype = jnp.dtype(config.model.param_dtype)
  x = jnp.zeros((1, *image_shapes["A"]), dtype)
  t = jnp.zeros((1, *image_shapes["B"]), dtype)
  k_f, k_g, k_d = jax.random.split(key, 3)
  params, stats = {}, {}
  k_init, k_glorot = jax.random.split(k_f)
  cls, _ = init_module(nets["classifier"], k_init, x)
  cls = glorot_params(cls, k_glorot)
  params["f"], params["head"] = cls["f"], cls["head"]
  z = jnp.zeros((1, 1, 1, int(config.model.f_widths[-1])), dtype)
  for name, k, inp in (("g", k_g, z), ("D", k_d, t)):
    k_init, k_glorot = jax.random.split(k)
    p, stats[name] = init_module(nets[name], k_init, inp)
    params[name] = glorot_params(p, k_glorot)
  opt = make_optimizer(config, learning_rate_schedule(config, 1))
  f_opt = make_optimizer(config, f_learning_rate(config))
  return DTNState(step=jnp.zeros((), jnp.int32), params=params, batch_stats=stats,
                  f_opt_state=f_opt.init({n: params[n] for n in F_NETS}),
                  g_opt_state=opt.init(params["g"]), d_opt_state=opt.init(params["D"]))


def f_learning_rate(config):
  """The constant learning rate of f's pretraining: config.optimizer.f_lr (the reimplementation's
  3e-4 by default), in config.model.param_dtype."""
  dtype = jnp.dtype(config.model.param_dtype)
  return lambda count: jnp.asarray(config.optimizer.f_lr, dtype)


# ---------------------------------------------------------------- losses
def classifier_loss(f_params, head_params, images, labels, nets):
  """Phase 1: f's softmax pretraining loss on labelled source images; returns (loss,
  {"f_class_loss", "f_accuracy"})."""
  logits = nets["classifier"].apply({"params": {"f": f_params, "head": head_params}}, images)
  loss = losses.softmax_class_loss(logits, labels)
  acc = jnp.mean((jnp.argmax(logits, -1) == labels).astype(loss.dtype))
  return loss, {"f_class_loss": loss, "f_accuracy": acc}


def frozen_f(f_params, images, nets):
  """f(images) with f frozen: no gradient reaches f's parameters (the gradient still flows
  through f to its input, as L_CONST needs for g)."""
  return nets["f"].apply({"params": jax.lax.stop_gradient(f_params)}, images)


def generate(g_params, g_stats, features, nets):
  """g on each of `features` (separate training-mode calls); returns (images, g's stats)."""
  outs = []
  for z in features:
    y, g_stats = apply_module(nets["g"], g_params, g_stats, z, train=True)
    outs.append(y)
  return outs, g_stats


def discriminate(d_params, d_stats, images, nets):
  """D on each of `images` (separate training-mode calls); returns ([N, 3] logits each, stats)."""
  outs = []
  for x in images:
    y, d_stats = apply_module(nets["D"], d_params, d_stats, x, train=True)
    outs.append(y)
  return outs, d_stats


def discriminator_loss(d_params, params, stats, fx, ft, target, nets):
  """Step a: L_D on G(x), G(t) (generated here, no gradient) and the real targets t.
  fx, ft: f of the source and target images. Returns (L_D, (terms, new stats))."""
  (gx, gt), g_stats = generate(params["g"], stats["g"], (fx, ft), nets)
  gx, gt = jax.lax.stop_gradient(gx), jax.lax.stop_gradient(gt)
  (ls, lt, lr), d_stats = discriminate(d_params, stats["D"], (gx, gt, target), nets)
  loss = losses.ternary_d_loss(ls, lt, lr)
  acc = jnp.mean(jnp.concatenate([jnp.argmax(l, -1) == k for k, l in enumerate((ls, lt, lr))])
                 .astype(loss.dtype))
  return loss, ({"D_loss": loss, "D_accuracy": acc}, {"g": g_stats, "D": d_stats})


def generator_loss(g_params, params, stats, fx, ft, target, nets, hp):
  """Step b: L_G = L_GANG + alpha L_CONST + beta L_TID + gamma L_TV against the current D.
  L_CONST reads only the source side (fx, G(x)), L_TID only the target side (t, G(t)).
  Returns (L_G, (terms, new stats))."""
  (gx, gt), g_stats = generate(g_params, stats["g"], (fx, ft), nets)
  (ls, lt), d_stats = discriminate(params["D"], stats["D"], (gx, gt), nets)
  t = {"G_gan": losses.ternary_g_loss(ls, lt),
       "G_const": losses.f_constancy_loss(fx, frozen_f(params["f"], gx, nets)),
       "G_tid": losses.target_identity_loss(target, gt),
       "G_tv": losses.total_variation_loss(gx, hp.tv_exponent)}
  t["G_total"] = (t["G_gan"] + hp.alpha * t["G_const"] + hp.beta * t["G_tid"]
                  + hp.gamma * t["G_tv"])
  return t["G_total"], (t, {"g": g_stats, "D": d_stats})


# ---------------------------------------------------------------- train step
def step_phase(config, step: int, dataset_size: int | None = None) -> str:
  """"f" while iteration `step` (0-based) < config.model.f_pretrain_steps, else "dtn"
  (`ModelSpec.step_phase`)."""
  del dataset_size
  return "f" if int(step) < config.model.f_pretrain_steps else "dtn"


def make_train_step(config, dataset_size: int):
  """Returns the pure step `(state, batch, rng, phase=None) -> (state, metrics)`.

  `phase` ("f" or "dtn", static: `step_phase`) picks the phase at compile
  time; without it the step picks with `lax.cond` (metrics of the other phase
  are then 0). No random numbers are drawn (`rng` is unused).
  """
  del dataset_size
  nets, hp = build_models(config), config.model
  sched = learning_rate_schedule(config, 1)
  opt = make_optimizer(config, sched)
  f_opt_fn = make_optimizer(config, f_learning_rate(config))

  def f_phase(state, batch):
    sub = {n: state.params[n] for n in F_NETS}
    (_, terms), grads = jax.value_and_grad(
        lambda p: classifier_loss(p["f"], p["head"], batch["A"], batch["label_A"], nets),
        has_aux=True)(sub)
    updates, f_opt = f_opt_fn.update(grads, state.f_opt_state, sub)
    sub = optax.apply_updates(sub, updates)
    new = state.replace(params={**state.params, **sub}, f_opt_state=f_opt)
    return new, {**terms, **norm_metrics({"f": grads}, {"f": sub})}

  def dtn_phase(state, batch):
    params, stats = state.params, state.batch_stats
    fx = frozen_f(params["f"], batch["A"], nets)
    ft = frozen_f(params["f"], batch["B"], nets)
    (_, (d_terms, stats)), d_grads = jax.value_and_grad(discriminator_loss, has_aux=True)(
        params["D"], params, stats, fx, ft, batch["B"], nets)
    updates, d_opt = opt.update(d_grads, state.d_opt_state, params["D"])
    params = {**params, "D": optax.apply_updates(params["D"], updates)}
    g_opt = state.g_opt_state
    for _ in range(hp.g_steps):
      (_, (g_terms, stats)), g_grads = jax.value_and_grad(generator_loss, has_aux=True)(
          params["g"], params, stats, fx, ft, batch["B"], nets, hp)
      updates, g_opt = opt.update(g_grads, g_opt, params["g"])
      params = {**params, "g": optax.apply_updates(params["g"], updates)}
    new = state.replace(params=params, batch_stats=stats, g_opt_state=g_opt, d_opt_state=d_opt)
    return new, {**d_terms, **g_terms,
                 **norm_metrics({"D": d_grads, "G": g_grads}, {"D": params["D"], "G": params["g"]})}

  def train_step(state: DTNState, batch, rng, phase=None):
    del rng
    if phase is not None:
      if phase not in PHASES:
        raise ValueError(f"phase must be one of {PHASES}, got {phase!r}")
      new, metrics = (f_phase if phase == "f" else dtn_phase)(state, batch)
    else:
      shapes = {p: jax.eval_shape(fn, state, batch)[1] for p, fn in (("f", f_phase),
                                                                      ("dtn", dtn_phase))}

      def padded(fn):
        def run(s):
          new, m = fn(s, batch)
          zeros = {k: jnp.zeros(v.shape, v.dtype) for sh in shapes.values() for k, v in sh.items()}
          return new, {**zeros, **m}
        return run

      new, metrics = jax.lax.cond(state.step < hp.f_pretrain_steps, padded(f_phase),
                                  padded(dtn_phase), state)
    metrics = {**metrics, "lr": sched(state.step)}
    return new.replace(step=state.step + 1), metrics

  return train_step


# ---------------------------------------------------------------- sampling, data, translation
EVAL_STATS = ("source", "running")


def source_statistics(config, state, images: int = 1024):
  """g's batch-norm statistics of the source side, for translating source images.

  Training always runs g on a source batch and on a target batch in separate
  training-mode calls, so each call normalises with its own domain's
  statistics; the running averages mix the two (f's features on the target
  digits are some 2x larger than on the source ones), and applied to source
  images they make g's input scale unlike anything it saw in training. With
  config.model.eval_stats = "source" (the default) the statistics are
  re-estimated instead: the exact batch mean and (biased) variance of every g
  batch norm in one training-mode pass over the first `images` source
  training images (through frozen f), so translation normalises as training
  does on source batches. "running" keeps the running averages. Returns the
  batch_stats dict of the state with {"g": those statistics}.
  """
  how = config.model.get("eval_stats", "source")
  if how == "running":
    return state.batch_stats
  source = digit_domains(config, "train", "source", limit=images)
  x = np.stack([source.load(i) for i in range(min(images, len(source)))])
  x = jnp.asarray(x.astype(np.float32) / 127.5 - 1.0, jnp.dtype(config.model.param_dtype))
  nets = build_models(config)
  zeros = jax.tree_util.tree_map(jnp.zeros_like, state.batch_stats["g"])
  z = nets["f"].apply({"params": state.params["f"]}, x)
  _, blended = apply_module(nets["g"], state.params["g"], zeros, z, train=True)
  # From zero running averages one update leaves (1 - momentum) x the batch statistic.
  exact = jax.tree_util.tree_map(lambda s: s / (1.0 - BN_MOMENTUM), blended)
  return {**state.batch_stats, "g": exact}


def translate_images(nets, params, stats, x, train: bool = False):
  """G(x) = g(f(x)): source images [N, 32, 32, C_s] -> target images [N, 32, 32, C_t], in
  [-1, 1]; g's running averages unless `train`."""
  z = nets["f"].apply({"params": params["f"]}, x)
  return apply_module(nets["g"], params["g"], stats["g"], z, train=train)[0]


def _rgb(x):
  return jnp.repeat(x, 3, axis=-1) if x.shape[-1] == 1 else x


def make_sample_fn(config):
  """`(state, batch, rng) -> {real_A, fake_B, real_B, identity_B}`: source x | G(x) and
  target t | G(t) (RGB for the grid), g normalising each side with its own batch statistics,
  as training does (the running averages mix the two sides: `source_statistics`)."""
  nets = build_models(config)

  def sample(state: DTNState, batch, rng):
    del rng
    g = lambda x: translate_images(nets, state.params, state.batch_stats, x, train=True)
    return {"real_A": _rgb(batch["A"]), "fake_B": _rgb(g(batch["A"])),
            "real_B": _rgb(batch["B"]), "identity_B": _rgb(g(batch["B"]))}

  return sample


def sample_grids(config, images: dict) -> dict:
  """One grid: source | translated lines, then target | G(target) lines."""
  del config
  return {"samples": rows_grid(images, (("real_A", "fake_B"), ("real_B", "identity_B")),
                               ["source", "target"], ["input", "G(input)"])}


def image_shapes(config) -> dict:
  d = config.data
  return {"A": (d.crop_size, d.crop_size, d.source_channels),
          "B": (d.crop_size, d.crop_size, d.target_channels)}


def digit_domains(config, split: str = "train", only: str | None = None,
                  limit: int | None = None):
  """(labelled source domain, labelled target domain) of `split` ("train" / "test")
  (`i2ijax.data.digits`), or the one named by `only` ("source" / "target"): the embedded
  digits (the source's training split in config.data.source_renderings renderings), or the
  TFDS sets of config.data (the source's training split is config.data.source_split; with
  `limit`, only the first `limit` images of a TFDS split are read)."""
  from i2ijax.data import digits
  d = config.data
  if split not in ("train", "test"):
    raise ValueError(f"dtn data split must be 'train' or 'test', got {split!r}")

  def domain(which):
    if d.source == "embedded":
      many = which == "source" and split == "train"
      return digits.embedded_digit_domain(which, split, d.crop_size,
                                          d.get("source_renderings", 1) if many else 1)
    if which == "source":
      return digits.tfds_digit_domain(d.source_tfds, d.tfds_data_dir,
                                      d.source_split if split == "train" else "test",
                                      d.source_channels, d.crop_size, limit)
    return digits.tfds_digit_domain(d.target_tfds, d.tfds_data_dir, split, d.target_channels,
                                    d.crop_size, limit)

  return domain(only) if only else (domain("source"), domain("target"))


def make_examples(config, split: str = "train", seed: int | None = None):
  """(example function, dataset size = source images, image shapes) of the unpaired labelled
  source / target data (`data.digits.LabelledUnalignedExamples`)."""
  from i2ijax.data.digits import LabelledUnalignedExamples
  validate_config(config)
  source, target = digit_domains(config, split)
  examples = LabelledUnalignedExamples(source, target, seed=config.seed if seed is None else seed)
  return examples, examples.size, image_shapes(config)


def translator(config, request):
  """G = g o f on one source image (AtoB): [1, 32, 32, C_s] -> [1, 32, 32, C_t]; g normalises
  with its source-side statistics (`source_statistics`, config.model.eval_stats), or with the
  image's own batch statistics under `request.train_mode`."""
  nets, train = build_models(config), request.train_mode
  apply = jax.jit(lambda p, x: translate_images(nets, p, p["stats"], x, train))
  params = lambda state: {"f": state.params["f"], "g": state.params["g"],
                          "stats": state.batch_stats if train
                          else source_statistics(config, state)}
  d = config.data
  return Translator(apply, params, d.source_channels, d.target_channels, 1, size=d.crop_size)


# ---------------------------------------------------------------- evaluation
CLASSIFIER_BATCH = 32
CLASSIFIER_LR = 1e-3


def fit_digit_classifier(images: np.ndarray, labels: np.ndarray, steps: int, seed: int = 0):
  """A digit classifier fitted on labelled images: `metrics.attribute_classifier.AttributeCNN`
  with 10 outputs (stride-2 4x4 convs, LeakyReLU, global average pool, dense), softmax
  cross-entropy, Adam 1e-3, `steps` batches of 32 drawn from `seed`. images: uint8 [N, S, S, C].
  Returns `predict(uint8 images) -> int classes`."""
  from i2ijax.metrics.attribute_classifier import AttributeCNN, num_blocks
  model = AttributeCNN(10, num_blocks(images.shape[1]))
  x_all = images.astype(np.float32) / 127.5 - 1.0
  params = model.init(jax.random.key(seed), x_all[:1])["params"]
  tx = optax.adam(CLASSIFIER_LR)
  opt_state = tx.init(params)

  @jax.jit
  def step(params, opt_state, x, y):
    loss, grads = jax.value_and_grad(
        lambda p: losses.softmax_class_loss(model.apply({"params": p}, x), y))(params)
    updates, opt_state = tx.update(grads, opt_state, params)
    return optax.apply_updates(params, updates), opt_state, loss

  rng = np.random.default_rng(seed)
  for _ in range(steps):
    idx = rng.integers(0, len(images), CLASSIFIER_BATCH)
    params, opt_state, _ = step(params, opt_state, x_all[idx], labels[idx].astype(np.int32))
  logits = jax.jit(lambda p, x: model.apply({"params": p}, x))

  def predict(batch: np.ndarray) -> np.ndarray:
    out = []
    for i in range(0, len(batch), 256):
      x = batch[i:i + 256].astype(np.float32) / 127.5 - 1.0
      out.append(np.argmax(np.asarray(logits(params, x)), -1))
    return np.concatenate(out)

  return predict


def to_channels(images: np.ndarray, channels: int) -> np.ndarray:
  """uint8 [N, H, W, C] -> [N, H, W, channels]: RGB to grey by luminance (0.299, 0.587,
  0.114), grey repeated to RGB."""
  if images.shape[-1] == channels:
    return images
  if channels == 1:
    grey = images.astype(np.float64) @ np.array([0.299, 0.587, 0.114])
    return np.round(grey).astype(np.uint8)[..., None]
  return np.repeat(images, channels, axis=-1)


def evaluate_digits(config, state, split: str = "test") -> dict:
  """The digit-classification task (`ModelSpec.evaluate`), the paper's measure of SVHN -> MNIST.

  A digit classifier (`fit_digit_classifier`, config.eval_classifier_steps)
  is fitted on the TARGET domain's training images and labels; its accuracy
  on the target's `split` images checks it ("target_classifier"). Task "AtoB":
  the source's `split` images translated by G = g o f (g's source-side
  statistics, `source_statistics`) are classified; "model"
  {"classifier_accuracy"} is the accuracy against the source labels,
  "baseline_input" the same classifier on the untranslated
  source images (converted to the target's channels, `to_channels`),
  "chance" 0.1.
  Also reported: f's own accuracy on the source images and on their
  translations (through its pretrained head), which f-constancy keeps close.
  """
  source, target = digit_domains(config, split)
  target_train = target if split == "train" else digit_domains(config, "train", "target")
  nets = build_models(config)
  steps = int(config.get("eval_classifier_steps", 500))
  t_images = np.stack([target_train.load(i) for i in range(len(target_train))])
  t_labels = np.asarray([target_train.label(i) for i in range(len(target_train))])
  predict = fit_digit_classifier(t_images, t_labels, steps, config.seed)
  check_images = np.stack([target.load(i) for i in range(len(target))])
  check_labels = np.asarray([target.label(i) for i in range(len(target))])
  x_u8 = np.stack([source.load(i) for i in range(len(source))])
  labels = np.asarray([source.label(i) for i in range(len(source))])
  run = jax.jit(lambda p, stats, x: translate_images(nets, p, stats, x))
  classify_f = jax.jit(lambda p, x: nets["classifier"].apply(
      {"params": {"f": p["f"], "head": p["head"]}}, x))
  stats = source_statistics(config, state)
  translated, f_src, f_out = [], [], []
  dtype = jnp.dtype(config.model.param_dtype)
  for i in range(0, len(x_u8), 256):
    x = jnp.asarray(x_u8[i:i + 256].astype(np.float32) / 127.5 - 1.0, dtype)
    y = run(state.params, stats, x)
    translated.append(np.asarray(jnp.round((jnp.clip(y, -1, 1) + 1) * 127.5)).astype(np.uint8))
    f_src.append(np.argmax(np.asarray(classify_f(state.params, x)), -1))
    f_out.append(np.argmax(np.asarray(classify_f(state.params, y)), -1))
  translated = np.concatenate(translated)
  acc = lambda pred, truth: float(np.mean(pred == truth))
  baseline = acc(predict(to_channels(x_u8, translated.shape[-1])), labels)
  task = {"images": len(labels), "outputs_per_image": 1,
          "model": {"classifier_accuracy": acc(predict(translated), labels)},
          "baseline_input": {"classifier_accuracy": baseline},
          "chance": {"classifier_accuracy": 0.1}}
  return {"images": len(labels), "tasks": {"AtoB": task},
          "target_classifier": {"steps": steps, "target_test_accuracy":
                                acc(predict(check_images), check_labels)},
          "f": {"source_accuracy": acc(np.concatenate(f_src), labels),
                "translated_accuracy": acc(np.concatenate(f_out), labels)}}


SPEC = ModelSpec(
    name="dtn", data_kind=DataKind.TWO_DOMAIN, validate_config=validate_config,
    make_examples=make_examples, image_shapes=image_shapes, create_state=create_state,
    make_train_step=make_train_step, make_sample_fn=make_sample_fn, sample_grids=sample_grids,
    translator=translator, directions=("AtoB",), step_phase=step_phase,
    evaluate=evaluate_digits)

# The ternary discriminator's classes, by index (for reports and tests).
D_CLASS_INDEX = {name: i for i, name in enumerate(D_CLASSES)}
