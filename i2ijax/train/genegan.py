"""GeneGAN (Zhou et al., BMVC 2017): state, one pure train step, sampling, translation and
the crossover evaluation.

Follows `model.py` (`Model.build_model`) and `train.py` (`run`) of Prinsphield/GeneGAN
(commit db9718c, TensorFlow 1.0). Two unpaired sets split by one binary attribute
(config.data.attribute): Ax, images with the attribute, and Be, images without. The
networks (i2ijax.models.genegan) work on pixels in [0, 255]: the library's [-1, 1] batches
enter as (x + 1) 127.5 and outputs leave as y / 127.5 - 1. One forward, in the official
graph order:
  (A, x) = split(Ax), (B, e) = split(Be)            (x, e: the last 25% of the channels)
  Ax2 = join(A, x), Be2 = join(B, 0)                (reconstructions; e is replaced by 0)
  Bx = join(B, x), Ae = join(A, 0)                  (crossovers)
  D_Ax on Ax and on Bx, D_Be on Be and on Ae        (each call its own batch statistics)
Losses (paper sec. 3; the official G_loss and D_loss):
  L_G = mean|e| (nulling) + mean|Ax - Ax2| / 255 + mean|Be - Be2| / 255
        - mean D_Ax(Bx) - mean D_Be(Ae) + 0.01 mean|Ax + Be - Bx - Ae| (parallelogram, in
        pixel units: not divided by 255) + sum_W 0.5 * 5e-5 * mean(W^2) over the six kernels
        of the splitter and joiner (not their norm parameters, nor the joiner's bias b);
  L_D = mean(D_Ax(Bx) - D_Ax(Ax)) + mean(D_Be(Ae) - D_Be(Be))       (WGAN).
Schedule (`train.py`): official iteration i runs d_num = 100 critic steps if i % 500 == 0,
else 1, then one generator step, every step on fresh batches. Here one library step is one
optimiser update (`step_phase`: "D" or "G"), so an official iteration is d_num + 1 library
steps and a run of I iterations is `library_steps(config, I)` steps; every step reads its
own batch, as every official `sess.run` feeds new `batch1`, `batch2`.
A critic step: `sess.run([d_opt, loss_D, clip_d])` runs the update and the clipping in one
call with no dependency between them; the clip ops depend only on the variables, so they
run first, and the RMSProp update is applied to the clipped values: here every critic
parameter (kernels, BatchNorm gamma and beta, the dense bias) is clipped to [-0.01, 0.01]
*before* the step's forward, and the update leaves them unclipped until the next critic
step (the generator steps see the updated critics as they are).
Both optimisers are TF1's RMSPropOptimizer(5e-5, decay 0.8) (`train.common.tf1_rmsprop`),
one over the splitter and joiner, one over both critics. The BatchNorm running averages
(momentum 0.99) of every network are updated by every step, critic or generator: both
optimisers are built under `control_dependencies(UPDATE_OPS)`, which holds the update of
each of the ten network calls above; here they are applied one after another in graph
order. Batches: {"A": Ax, "B": Be}, [N, H, W, 3] in [-1, 1].

Parity: the official code is TensorFlow 1.0 and cannot run here, so the step is checked
against a hand-composed reference of the official graph (tests/train/test_genegan.py), and
each official detail against its own test.
"""

from typing import Any

import flax.struct
import jax
import jax.numpy as jnp
import numpy as np
import optax

from i2ijax import losses
from i2ijax.models.genegan import Critic, Joiner, PIXEL_MAX, Splitter, attribute_channels
from i2ijax.registry import DataKind, ModelSpec, Translator, block_grid
from i2ijax.train.common import (clip_weights, learning_rate_schedule, make_optimizer,
                                 norm_metrics, precision, validate_batch_and_precision,
                                 validate_rgb_data)

GENERATORS = ("splitter", "joiner")
CRITICS = ("D_Ax", "D_Be")
PHASES = ("D", "G")
SAMPLE_COLUMNS = ("Ax", "Be", "Ae", "Bx", "Ax2", "Be2")  # the official sample image's order


@flax.struct.dataclass
class GeneGANState:
  step: jax.Array
  params: dict  # {"splitter", "joiner", "D_Ax", "D_Be"}
  batch_stats: dict  # same keys: the BatchNorm running averages
  g_opt_state: Any  # one RMSProp over the splitter and joiner
  d_opt_state: Any  # one RMSProp over both critics


# ---------------------------------------------------------------- configuration
def validate_config(config) -> None:
  """Raises ValueError naming the config key of any value the model cannot use."""
  m, o, d = config.model, config.optimizer, config.data
  for key in ("ch_g", "ch_d", "d_burst", "d_burst_every"):
    if m[key] < 1:
      raise ValueError(f"config.model.{key}={m[key]!r} must be >= 1")
  n_x = attribute_channels(4 * m.ch_g, m.second_ratio)
  if not 1 <= n_x < 4 * m.ch_g:
    raise ValueError(f"config.model.second_ratio={m.second_ratio!r} leaves {n_x} of the "
                     f"{4 * m.ch_g} splitter channels to the attribute part: it must give at "
                     f"least one, and fewer than all")
  for key in ("weight_decay", "parallelogram_weight", "clip_value"):
    if m[key] < 0:
      raise ValueError(f"config.model.{key}={m[key]!r} must be >= 0")
  if not d.get("attribute", ""):
    raise ValueError("config.data.attribute is empty: name the binary attribute that splits the "
                     "data into Ax (with it) and Be (without it), e.g. Smiling")
  if d.source == "embedded":
    from i2ijax.data.attributes import EMBEDDED_ATTRIBUTES
    if d.attribute not in EMBEDDED_ATTRIBUTES:
      raise ValueError(f"config.data.attribute={d.attribute!r} is not an attribute of the "
                       f"embedded photos: {list(EMBEDDED_ATTRIBUTES)}")
  if o.get("name", "adam") == "rmsprop_tf1" and (o.lr <= 0 or not 0.0 <= o.decay < 1.0):
    raise ValueError(f"config.optimizer lr={o.lr!r}, decay={o.decay!r}: lr must be > 0 and "
                     f"decay in [0, 1)")
  validate_batch_and_precision(config)
  validate_rgb_data(config, "GeneGAN")
  if d.crop_size % 16 or d.crop_size < 16:
    raise ValueError(f"config.data.crop_size={d.crop_size} must be a multiple of 16 (the "
                     f"critics' four stride-2 convs)")


def build_models(config) -> dict:
  validate_config(config)
  m, dt = config.model, precision(config)
  return {"splitter": Splitter(m.ch_g, m.second_ratio, **dt), "joiner": Joiner(m.ch_g, 3, **dt),
          "D_Ax": Critic(m.ch_d, **dt), "D_Be": Critic(m.ch_d, **dt)}


def create_state(config, key, image_shapes, dataset_size: int) -> GeneGANState:
  """Fresh networks (kernels ~ N(0, 0.02), BatchNorm gamma 1 and beta 0, biases 0)."""
  nets = build_models(config)
  opt = make_optimizer(config, learning_rate_schedule(config, dataset_size))
  dtype = jnp.dtype(config.model.param_dtype)
  image = jnp.zeros((2, *image_shapes["A"]), dtype)
  keys = dict(zip(GENERATORS + CRITICS, jax.random.split(key, 4)))
  variables = {"splitter": nets["splitter"].init(keys["splitter"], image, train=True)}
  a, x = jax.eval_shape(lambda: nets["splitter"].apply(variables["splitter"], image, train=False))
  variables["joiner"] = nets["joiner"].init(keys["joiner"], jnp.zeros(a.shape, dtype),
                                            jnp.zeros(x.shape, dtype), train=True)
  for name in CRITICS:
    variables[name] = nets[name].init(keys[name], image, train=True)
  params = {k: v["params"] for k, v in variables.items()}
  stats = {k: v.get("batch_stats", {}) for k, v in variables.items()}
  return GeneGANState(step=jnp.zeros((), jnp.int32), params=params, batch_stats=stats,
                      g_opt_state=opt.init({k: params[k] for k in GENERATORS}),
                      d_opt_state=opt.init({k: params[k] for k in CRITICS}))


# ---------------------------------------------------------------- schedule
def _cycle(config) -> int:
  """Library steps of one period of d_burst_every official iterations: the burst iteration
  (d_burst critic steps + 1 generator step), then d_burst_every - 1 iterations of 2."""
  m = config.model
  return m.d_burst + 1 + 2 * (m.d_burst_every - 1)


def step_phase(config, step: int, dataset_size: int | None = None) -> str:
  """"D" (a critic step) or "G" (a generator step) of library step `step` (0-based;
  `ModelSpec.step_phase`): official iteration i runs d_burst (100) critic steps when
  i % d_burst_every (500) == 0, else 1, then one generator step."""
  del dataset_size
  return "D" if _is_critic_step(config, int(step)) else "G"


def _is_critic_step(config, step):
  """Whether library step `step` (a Python int or a traced integer) is a critic step."""
  burst = config.model.d_burst
  p = step % _cycle(config)
  after = p - burst - 1
  return (p < burst) | ((p > burst) & (after % 2 == 0))


def library_steps(config, iterations: int) -> int:
  """Library steps (optimiser updates) of `iterations` official iterations."""
  m = config.model
  full, rest = divmod(int(iterations), m.d_burst_every)
  steps = full * _cycle(config)
  if rest:
    steps += m.d_burst + 1 + 2 * (rest - 1)
  return steps


# ---------------------------------------------------------------- losses
def to_pixels(x):
  """[-1, 1] -> [0, 255], the official image range."""
  return (x + 1.0) * (PIXEL_MAX / 2.0)


def from_pixels(y):
  """[0, 255] -> [-1, 1]."""
  return y / (PIXEL_MAX / 2.0) - 1.0


def nulling_loss(e):
  """The nulling loss (Zhou et al. 2017, sec. 3): mean |e| over every element of the
  attribute part e [N, h, w, C_x] of an image without the attribute (official G_loss['e'])."""
  return jnp.mean(jnp.abs(e))


def reconstruction_loss(reconstructed, original):
  """The reconstruction loss (Zhou et al. 2017, sec. 3): mean |original - reconstructed|
  / 255 of [N, H, W, 3] images in [0, 255] (official G_loss['cycle_Ax'], ['cycle_Be'])."""
  return losses.l1_loss(original, reconstructed) / PIXEL_MAX


def critic_loss(real_scores, fake_scores):
  """One WGAN critic's loss (Arjovsky et al. 2017): mean D(fake) - mean D(real) (official
  D_loss['Ax_Bx'], ['Be_Ae'])."""
  real, fake = losses.wgan_d_loss(real_scores, fake_scores)
  return real + fake


def generator_kernels(g_params) -> list:
  """The kernels the official weight decay covers: every variable of the splitter and joiner
  named 'W' (the six conv and deconv kernels), not the BatchNorm gamma and beta nor the
  joiner's bias 'b'."""
  found = []
  for path, leaf in jax.tree_util.tree_leaves_with_path(g_params):
    if getattr(path[-1], "key", None) == "kernel":
      found.append(leaf)
  return found


def forward(params, stats, ax, be, nets, train: bool = True):
  """The official graph on Ax, Be [N, H, W, 3] in [0, 255], in training mode: every call
  normalises by its own batch statistics and updates its network's running averages, one
  call after another in graph order. Returns ({"A", "x", "B", "e", "Ax2", "Be2", "Bx",
  "Ae", "real_Ax", "fake_Bx", "real_Be", "fake_Ae"}, stats)."""
  stats = dict(stats)

  def run(name, *args):
    variables = {"params": params[name], "batch_stats": stats[name]}
    if train:
      y, upd = nets[name].apply(variables, *args, train=True, mutable=["batch_stats"])
      stats[name] = upd["batch_stats"]
      return y
    return nets[name].apply(variables, *args, train=False)

  out = {}
  out["A"], out["x"] = run("splitter", ax)
  out["B"], out["e"] = run("splitter", be)
  zeros = jnp.zeros_like(out["e"])
  out["Ax2"] = run("joiner", out["A"], out["x"])
  out["Be2"] = run("joiner", out["B"], zeros)
  out["Bx"] = run("joiner", out["B"], out["x"])
  out["Ae"] = run("joiner", out["A"], zeros)
  out["real_Ax"] = run("D_Ax", ax)
  out["fake_Bx"] = run("D_Ax", out["Bx"])
  out["real_Be"] = run("D_Be", be)
  out["fake_Ae"] = run("D_Be", out["Ae"])
  return out, stats


def generator_loss(g_params, d_params, stats, ax, be, nets, hp):
  """L_G (module docstring) for the splitter's and joiner's parameters `g_params`.
  Returns (L_G, ({"e", "cycle_Ax", "cycle_Be", "Bx", "Ae", "parallelogram", "G_decay"},
  stats))."""
  out, stats = forward({**g_params, **d_params}, stats, ax, be, nets)
  terms = {
      "e": nulling_loss(out["e"]),
      "cycle_Ax": reconstruction_loss(out["Ax2"], ax),
      "cycle_Be": reconstruction_loss(out["Be2"], be),
      "Bx": losses.wgan_g_loss(out["fake_Bx"]),
      "Ae": losses.wgan_g_loss(out["fake_Ae"]),
      "parallelogram": hp.parallelogram_weight * losses.parallelogram_loss(
          ax, be, out["Bx"], out["Ae"]),
      "G_decay": losses.mean_square_weight_decay(generator_kernels(g_params), hp.weight_decay),
  }
  return sum(terms.values()), (terms, stats)


def discriminator_loss(d_params, g_params, stats, ax, be, nets):
  """L_D (module docstring) for both critics' parameters `d_params`. Returns (L_D,
  ({"Ax_Bx", "Be_Ae"}, stats))."""
  out, stats = forward({**g_params, **d_params}, stats, ax, be, nets)
  terms = {"Ax_Bx": critic_loss(out["real_Ax"], out["fake_Bx"]),
           "Be_Ae": critic_loss(out["real_Be"], out["fake_Ae"])}
  return sum(terms.values()), (terms, stats)


# ---------------------------------------------------------------- train step
G_METRICS = ("G_total", "e", "cycle_Ax", "cycle_Be", "Bx", "Ae", "parallelogram", "G_decay",
             "G_grad_norm")
D_METRICS = ("D_total", "Ax_Bx", "Be_Ae", "D_grad_norm")


def make_train_step(config, dataset_size: int):
  """Returns the pure step `(state, batch, rng, phase=None) -> (state, metrics)`.

  `phase` ("D" or "G", static: `step_phase`) picks the update at compile time; without it
  the step picks with `lax.cond` (and reports zeros for the other player's terms). The step
  draws no random number (`rng` is unused: the official graph has no noise or dropout).
  """
  nets, hp = build_models(config), config.model
  sched = learning_rate_schedule(config, dataset_size)
  opt = make_optimizer(config, sched)
  dtype = jnp.dtype(hp.param_dtype)

  def d_update(args, ax, be):
    params, stats, g_opt, d_opt = args
    g = {k: params[k] for k in GENERATORS}
    d = clip_weights({k: params[k] for k in CRITICS}, hp.clip_value)  # clip_d, then d_opt
    (total, (terms, stats)), grads = jax.value_and_grad(discriminator_loss, has_aux=True)(
        d, g, stats, ax, be, nets)
    updates, d_opt = opt.update(grads, d_opt, d)
    d = optax.apply_updates(d, updates)
    metrics = {"D_total": total, **terms, "D_grad_norm": optax.tree.norm(grads)}
    return ({**params, **d}, stats, g_opt, d_opt), metrics

  def g_update(args, ax, be):
    params, stats, g_opt, d_opt = args
    g = {k: params[k] for k in GENERATORS}
    d = {k: params[k] for k in CRITICS}
    (total, (terms, stats)), grads = jax.value_and_grad(generator_loss, has_aux=True)(
        g, d, stats, ax, be, nets, hp)
    updates, g_opt = opt.update(grads, g_opt, g)
    g = optax.apply_updates(g, updates)
    metrics = {"G_total": total, **terms, "G_grad_norm": optax.tree.norm(grads)}
    return ({**params, **g}, stats, g_opt, d_opt), metrics

  def train_step(state: GeneGANState, batch, rng, phase=None):
    del rng
    ax, be = (to_pixels(batch[k].astype(dtype)) for k in ("A", "B"))
    args = (state.params, state.batch_stats, state.g_opt_state, state.d_opt_state)
    if phase is not None:
      if phase not in PHASES:
        raise ValueError(f"phase must be one of {PHASES}, got {phase!r}")
      args, metrics = (d_update if phase == "D" else g_update)(args, ax, be)
    else:
      zero = jnp.zeros((), jnp.promote_types(dtype, jnp.float32))

      def padded(fn, others):
        def run(a):
          a, m = fn(a, ax, be)
          return a, {**{k: zero for k in others}, **{k: v.astype(zero.dtype) for k, v in m.items()}}
        return run

      args, metrics = jax.lax.cond(_is_critic_step(config, state.step),
                                   padded(d_update, G_METRICS), padded(g_update, D_METRICS), args)
    params, stats, g_opt, d_opt = args
    metrics.update(norm_metrics({}, {"G": {k: params[k] for k in GENERATORS},
                                     "D": {k: params[k] for k in CRITICS}}))
    metrics["lr"] = sched(state.step)
    new_state = state.replace(step=state.step + 1, params=params, batch_stats=stats,
                              g_opt_state=g_opt, d_opt_state=d_opt)
    return new_state, metrics

  return train_step


# ---------------------------------------------------------------- sampling and translation
def swap(nets, params, stats, ax, be, train: bool):
  """{name: [N, H, W, 3] in [-1, 1]} of `SAMPLE_COLUMNS` for Ax, Be in [-1, 1] (running
  averages not updated)."""
  out, _ = forward(params, stats, to_pixels(ax), to_pixels(be), nets, train=train)
  out["Ax"], out["Be"] = to_pixels(ax), to_pixels(be)
  return {k: from_pixels(out[k]) for k in SAMPLE_COLUMNS}


def make_sample_fn(config):
  """`(state, batch, rng) -> {"swap": [N, 6, H, W, 3]}`: Ax | Be | Ae | Bx | Ax2 | Be2 (the
  official sample image), the networks in training mode (batch statistics) as the official
  samples are drawn from the training graph."""
  nets = build_models(config)

  def sample(state: GeneGANState, batch, rng):
    del rng
    out = swap(nets, state.params, state.batch_stats, batch["A"], batch["B"], train=True)
    return {"swap": jnp.stack([out[k] for k in SAMPLE_COLUMNS], axis=1)}

  return sample


def sample_grids(config, images: dict) -> dict:
  """{"swap": one row per pair: Ax, Be, Ae, Bx, Ax2, Be2}."""
  block = np.asarray(images["swap"])
  attr = config.data.attribute
  cols = [f"Ax (with {attr})", "Be (without)", "Ae (x removed)", "Bx (x given)", "Ax recon",
          "Be recon"]
  return {"swap": block_grid(block, [f"#{i}" for i in range(block.shape[0])], cols)}


def translator(config, request):
  """Without references: the input with its attribute removed, join(A, 0) (the official
  Ae); with `request.references` (images with the attribute): one output per reference,
  the input with the reference's attribute part, join(B, x_ref) (the official Bx of
  `test.py` swap). Eval mode (running averages, the official test graph) unless
  `request.train_mode`. Inputs and references are resized to config.data.crop_size."""
  nets = build_models(config)
  size = config.data.crop_size
  train = request.train_mode
  refs = None
  if request.references:
    refs = jnp.stack([jax.image.resize(jnp.asarray(r, jnp.float32), (size, size, 3), "bilinear")
                      for r in request.references])

  def run(name, p, *args):
    return nets[name].apply({"params": p["params"][name], "batch_stats": p["batch_stats"][name]},
                            *args, train=train)

  def apply(p, x):
    a, own = run("splitter", p, to_pixels(x))
    if refs is None:
      return from_pixels(run("joiner", p, a, jnp.zeros_like(own)))
    _, x_ref = run("splitter", p, to_pixels(refs.astype(x.dtype)))
    k = refs.shape[0]
    return from_pixels(run("joiner", p, jnp.repeat(a, k, axis=0), x_ref))

  params = lambda state: {"params": state.params, "batch_stats": state.batch_stats}
  return Translator(jax.jit(apply), params, 3, 3, len(request.references) or 1, size=size)


# ---------------------------------------------------------------- data
def image_shapes(config) -> dict:
  size = config.data.crop_size
  return {"A": (size, size, 3), "B": (size, size, 3)}


class _Subset:
  """The images `indices` of an attribute source, as a domain (`len`, `load`)."""

  def __init__(self, source, indices, name: str):
    self.source, self.indices, self.name = source, list(indices), name

  def __len__(self):
    return len(self.indices)

  def load(self, i):
    return self.source.load(self.indices[i])


def attribute_split(config, split: str = "train"):
  """(source, k, with, without): the attribute source of config.data (`attribute_source`),
  the index k of config.data.attribute in its labels and the image indices with / without
  it. ValueError names config.data.attribute when either set is empty."""
  from i2ijax.data.attributes import attribute_source
  d = config.data
  wanted = [d.attribute] if d.source in ("celeba", "tfds") else None
  source = attribute_source(d, split, wanted)
  if d.attribute not in source.names:
    raise ValueError(f"config.data.attribute={d.attribute!r} is not one of {source.names}")
  k = source.names.index(d.attribute)
  on = [i for i in range(len(source)) if source.label(i)[k] > 0.5]
  off = [i for i in range(len(source)) if source.label(i)[k] <= 0.5]
  if not on or not off:
    raise ValueError(f"config.data.attribute={d.attribute!r}: the {split} split of "
                     f"{source.name} has {len(on)} images with it and {len(off)} without; "
                     f"GeneGAN needs both")
  return source, k, on, off


def make_examples(config, split: str = "train", seed: int | None = None):
  """(example function, dataset size, image shapes): example g is {"A": an image with
  config.data.attribute, "B": one without} ([H, W, 3] in [-1, 1]; the unaligned reading of
  `UnalignedExamples`: A in a fresh permutation each epoch, B drawn at random), size
  max(|with|, |without|). The test split is not flipped."""
  from i2ijax.data.pipeline import UnalignedExamples, make_transform
  source, _, on, off = attribute_split(config, split)
  data = config.data
  if split != "train":
    data = data.copy_and_resolve_references()
    data.flip = False
  examples = UnalignedExamples(_Subset(source, on, f"{source.name}+{config.data.attribute}"),
                               _Subset(source, off, f"{source.name}-{config.data.attribute}"),
                               seed=config.seed if seed is None else seed,
                               transform=make_transform(data))
  return examples, examples.size, image_shapes(config)


# ---------------------------------------------------------------- evaluation
def crossover_target(labels, k: int, value: float, groups) -> np.ndarray:
  """`labels` [K] with attribute k set to `value`; setting a grouped attribute on (e.g. a
  tint) turns the other members of its group off."""
  out = np.asarray(labels, np.float32).copy()
  if value > 0.5:
    for g in groups:
      if k in g:
        out[list(g)] = 0.0
  out[k] = value
  return out


def evaluate_crossover(config, state, split: str = "test") -> dict:
  """The attribute transfer and removal tasks of the embedded attribute photos
  (`ModelSpec.evaluate`).

  Held-out images with config.data.attribute (Ax) and without it (Be); Be image i takes
  the attribute part of Ax image i mod |Ax|. Task "Bx": join(B, x) against the truth, Be's
  clean crop rendered with the attribute on (`EmbeddedAttributes.truth`); task "Ae":
  join(A, 0) against A's clean crop rendered with it off. Scores: PSNR/SSIM (uint8) of the
  outputs ("model") and of the untranslated inputs ("baseline_input") against the truth,
  and their means over the two tasks ("mean"). Eval mode (running averages), as the
  official test graph.
  """
  from i2ijax.data.attributes import EmbeddedAttributes
  from i2ijax.data.images import to_uint8
  from i2ijax.evaluate.scoring import score
  from i2ijax.evaluate.tasks import prepare_fn
  source, k, on, off = attribute_split(config, split)
  if not isinstance(source, EmbeddedAttributes):
    raise ValueError(f"genegan is scored against the true crossover, which only the embedded "
                     f"attribute photos have (config.data.source={config.data.source!r}); train "
                     f"on data.source='embedded'")
  prepare = prepare_fn(config)
  nets = build_models(config)
  load = lambda idx: np.stack([prepare(source.load(i)) for i in idx])
  ax_idx = [on[i % len(on)] for i in range(max(len(on), len(off)))]
  be_idx = [off[i % len(off)] for i in range(len(ax_idx))]
  ax, be = load(ax_idx), load(be_idx)
  to_x = lambda a: jnp.asarray(a, jnp.float32) / 127.5 - 1.0
  run = jax.jit(lambda p, s, a, b: swap(nets, p, s, a, b, train=False))
  out = run(state.params, state.batch_stats, to_x(ax), to_x(be))
  groups = source.groups
  truth = {"Bx": [prepare(source.truth(i, crossover_target(source.label(i), k, 1.0, groups)))
                  for i in be_idx[:len(off)]],
           "Ae": [prepare(source.truth(i, crossover_target(source.label(i), k, 0.0, groups)))
                  for i in ax_idx[:len(on)]]}
  inputs = {"Bx": list(be[:len(off)]), "Ae": list(ax[:len(on)])}
  pick = lambda r: {"psnr": r["psnr"], "ssim": r["ssim"]}
  tasks = {}
  for name, n in (("Bx", len(off)), ("Ae", len(on))):
    outputs = list(to_uint8(np.asarray(out[name]))[:n])
    tasks[name] = {"source": "Be" if name == "Bx" else "Ax", "images": n,
                   "outputs_per_image": 1, "model": pick(score(outputs, truth[name])),
                   "baseline_input": pick(score(inputs[name], truth[name]))}
  mean = {key: {m: float(np.mean([t[key][m] for t in tasks.values()])) for m in ("psnr", "ssim")}
          for key in ("model", "baseline_input")}
  return {"images": len(on) + len(off), "attribute": config.data.attribute, "tasks": tasks,
          "mean": mean}


SPEC = ModelSpec(
    name="genegan", data_kind=DataKind.MULTI_LABEL, validate_config=validate_config,
    make_examples=make_examples, image_shapes=image_shapes, create_state=create_state,
    make_train_step=make_train_step, make_sample_fn=make_sample_fn, sample_grids=sample_grids,
    translator=translator, translate_options=frozenset({"references", "train_mode"}),
    directions=(), multimodal=False, input_multiple=lambda config: 16,
    translate_example="--reference=IMAGE (without: the attribute removed)",
    step_phase=step_phase, evaluate=evaluate_crossover)
