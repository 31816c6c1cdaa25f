"""IcGAN (Perarnau et al., "Invertible Conditional GANs for image editing", NIPS-W 2016):
state, one pure train step in two stages, sampling grids, attribute-editing translator,
and the evaluation (edits plus reconstruction after inversion).

Follows the official Lua Torch7 code Guim3/IcGAN (commit 0c73cf8): `trainGAN.lua`,
`trainEncoder.lua`, `data/generateEncoderDataset.lua`, `data/donkey_celebA.lua`,
`generation/attributeTransfer.lua`, `cfg/mainConfig.lua`. Networks: i2ijax.models.icgan.
Labels y are {-1, 1} vectors (the data's 0/1 labels mapped by 2 l - 1).

Training is the official two stages in one run, chosen by the iteration index
(`step_phase`, so a resumed run continues in the right stage):
- iterations [0, gan_steps): the conditional GAN (`trainGAN.lua`), per iteration
  1. D step (Adam 2e-4, beta1 0.5): with z ~ N(0, I) (`noise = 'normal'`) and y_fake the
     labels of random training images (`data:sampleY`), x_fake = G(z, y_fake) (G in train
     mode: batch statistics, running averages updated once), three separate D calls in
     train mode (each its own batch statistics, in this order)
       L_D = BCE(D(x, y), 1) + w BCE(D(x, y_wrong), 0) + w BCE(D(x_fake, y_fake), 0),
     y_wrong the labels of another random training image differing from y
     (`trainWrongY`, on by default, w = 0.5: the fake term's gradient is shared equally
     with the wrong-label term; without it w = 1 and no wrong-label term);
  2. G step (Adam 2e-4, beta1 0.5): L_G = BCE(D'(x_fake, y_fake), 1) with the updated D'
     (train mode) on the same x_fake (the official `fGx` reuses the D step's G forward).
- iterations [gan_steps, gan_steps + max(enc_z_steps, enc_y_steps)): both encoders, G fixed
  (`trainEncoder.lua`, Adam 1e-4, beta1 0.1, each for its own number of iterations):
  E_z: L = MSE(E_z(G(z, y)), z) on generated pairs, G in eval mode (running averages, as
     `generateEncoderDataset.lua` generates after `net:evaluate()`), z ~ N(0, I), y the
     labels of random training images;
  E_y: L = MSE(E_y(x), y) on the real labelled images.
BCE is Torch7's `BCECriterion` on D's sigmoid output (`losses.torch7_bce`); MSE is
`MSECriterion` (the mean over every element). Adam is Torch7's `optim.adam`
(`torch7_adam`): eps added to the uncorrected sqrt(v).
Editing (`generation/attributeTransfer.lua`): z = E_z(x), y = E_y(x) thresholded at 0 to
{-1, 1} (`applyThreshold`), the chosen attributes set, x' = G(z, y') (all in eval mode).
"""

from typing import NamedTuple

import flax.struct
import jax
import jax.numpy as jnp
import numpy as np
import optax

from i2ijax import losses
from i2ijax.data.attributes import attribute_values, parse_attrs, single_changes
from i2ijax.models.icgan import (Discriminator, Encoder, Generator, check_image_size,
                                 encoder_feature_side, torch7_default_params)
from i2ijax.registry import DataKind, ModelSpec, Translator, block_grid
from i2ijax.train.common import (norm_metrics, precision, validate_batch_and_precision,
                                 validate_rgb_data)

NETS = ("G", "D", "E_z", "E_y")
NOISE = ("normal", "uniform")
# How labels enter G, D and E_y: "signed" (IcGAN: binary attributes as {-1, 1}, E_y's
# reading thresholded at 0) or "one_hot" (Age-cGAN: one class of single-label data as a
# {0, 1} one-hot, E_y's reading by its largest entry).
LABEL_CODINGS = ("signed", "one_hot")


@flax.struct.dataclass
class IcGANState:
  step: jax.Array
  params: dict  # {"G", "D", "E_z", "E_y"}
  batch_stats: dict  # the same keys: BatchNorm running averages
  opt_state: dict  # the same keys: one Torch7 Adam state each


# ---------------------------------------------------------------- configuration
def attribute_names(config) -> list[str]:
  """config.model.attrs as a list (a comma-separated string or a sequence of names)."""
  return parse_attrs(config.model.attrs)


def stage_steps(config) -> tuple[int, int, int]:
  """(gan_steps, enc_z_steps, enc_y_steps) of config.model."""
  m = config.model
  return int(m.gan_steps), int(m.enc_z_steps), int(m.enc_y_steps)


def total_steps(config) -> int:
  """Iterations of the whole schedule: gan_steps + max(enc_z_steps, enc_y_steps)."""
  gan, ez, ey = stage_steps(config)
  return gan + max(ez, ey)


def validate_config(config) -> None:
  """Raises ValueError naming the config key of any value the model cannot use."""
  m, o = config.model, config.optimizer
  names = attribute_names(config)
  if len(names) < 1 or len(set(names)) != len(names):
    raise ValueError(f"config.model.attrs={m.attrs!r} must name distinct attributes")
  size = config.data.crop_size
  try:
    check_image_size(size)
  except ValueError as e:
    raise ValueError(f"config.data.crop_size={size}: {e}") from None
  if m.enc_conv_layers < 1:
    raise ValueError(f"config.model.enc_conv_layers={m.enc_conv_layers!r} must be >= 1")
  encoder_feature_side(size, m.enc_conv_layers)
  for key in ("nz", "ngf", "ndf", "enc_nf"):
    if m[key] < 1:
      raise ValueError(f"config.model.{key}={m[key]!r} must be >= 1")
  for key in ("enc_z_fc", "enc_y_fc", "gan_steps", "enc_z_steps", "enc_y_steps"):
    if m[key] < 0:
      raise ValueError(f"config.model.{key}={m[key]!r} must be >= 0")
  if m.get("label_coding", "signed") not in LABEL_CODINGS:
    raise ValueError(f"config.model.label_coding={m.label_coding!r} is not one of "
                     f"{list(LABEL_CODINGS)}")
  if m.noise not in NOISE:
    raise ValueError(f"config.model.noise={m.noise!r} is not one of {list(NOISE)}")
  if config.num_train_steps > total_steps(config):
    raise ValueError(f"config.num_train_steps={config.num_train_steps} is past the schedule: "
                     f"config.model.gan_steps + max(enc_z_steps, enc_y_steps) = "
                     f"{total_steps(config)}")
  for key in ("lr", "enc_lr"):
    if o[key] <= 0:
      raise ValueError(f"config.optimizer.{key}={o[key]!r} must be > 0")
  for key in ("beta1", "beta2", "enc_beta1"):
    if not 0.0 <= o[key] < 1.0:
      raise ValueError(f"config.optimizer.{key}={o[key]!r} must be in [0, 1)")
  if config.batch_size < 2:
    raise ValueError(f"config.batch_size={config.batch_size} must be >= 2 (batch norm in "
                     f"training mode)")
  validate_batch_and_precision(config)
  validate_rgb_data(config, "IcGAN")


def build_models(config) -> dict:
  validate_config(config)
  m = config.model
  dt = precision(config)
  size, k = config.data.crop_size, len(attribute_names(config))
  return {"G": Generator(size, m.ngf, 3, **dt), "D": Discriminator(size, m.ndf, **dt),
          "E_z": Encoder(m.nz, m.enc_nf, m.enc_conv_layers, m.enc_z_fc, **dt),
          "E_y": Encoder(k, m.enc_nf, m.enc_conv_layers, m.enc_y_fc, **dt)}


class Torch7AdamState(NamedTuple):
  count: jax.Array
  mu: optax.Updates
  nu: optax.Updates


def torch7_adam(learning_rate: float, b1: float, b2: float = 0.999,
                eps: float = 1e-8) -> optax.GradientTransformation:
  """Torch7's `optim.adam`: m <- b1 m + (1 - b1) g, v <- b2 v + (1 - b2) g^2, then
  w <- w - lr sqrt(1 - b2^t) / (1 - b1^t) * m / (sqrt(v) + eps): eps is added to the
  uncorrected sqrt(v) (PyTorch adds it to the bias-corrected one; the same as PyTorch
  with eps / sqrt(1 - b2^t))."""

  def init(params):
    zeros = lambda: jax.tree_util.tree_map(jnp.zeros_like, params)
    return Torch7AdamState(jnp.zeros((), jnp.int32), zeros(), zeros())

  def update(grads, state, params=None):
    del params
    t = state.count + 1
    mu = jax.tree_util.tree_map(lambda m, g: b1 * m + (1 - b1) * g, state.mu, grads)
    nu = jax.tree_util.tree_map(lambda v, g: b2 * v + (1 - b2) * g * g, state.nu, grads)

    def one(m, v):
      tf = t.astype(m.dtype)
      step = learning_rate * jnp.sqrt(1 - b2 ** tf) / (1 - b1 ** tf)
      return -step * m / (jnp.sqrt(v) + eps)

    return jax.tree_util.tree_map(one, mu, nu), Torch7AdamState(t, mu, nu)

  return optax.GradientTransformation(init, update)


def make_optimizers(config) -> dict:
  """Torch7 Adam: lr, (beta1, beta2) for G and D (`trainGAN.lua`), enc_lr, (enc_beta1,
  beta2) for both encoders (`trainEncoder.lua`); constant rates."""
  o = config.optimizer
  gan = torch7_adam(o.lr, o.beta1, o.beta2)
  enc = torch7_adam(o.enc_lr, o.enc_beta1, o.beta2)
  return {"G": gan, "D": gan, "E_z": enc, "E_y": enc}


def create_state(config, key, image_shapes, dataset_size: int) -> IcGANState:
  """Fresh networks (G and D: `weights_init`; the encoders: Torch7's defaults) and their
  Adam states."""
  del dataset_size
  nets = build_models(config)
  dtype = jnp.dtype(config.model.param_dtype)
  x = jnp.zeros((2, *image_shapes["x"]), dtype)
  y = jnp.zeros((2, len(attribute_names(config))), dtype)
  z = jnp.zeros((2, config.model.nz), dtype)
  k_g, k_d, k_ez, k_ey, r_ez, r_ey = jax.random.split(key, 6)
  variables = {"G": nets["G"].init(k_g, z, y, train=False),
               "D": nets["D"].init(k_d, x, y, train=False),
               "E_z": nets["E_z"].init(k_ez, x, train=False),
               "E_y": nets["E_y"].init(k_ey, x, train=False)}
  params = {n: variables[n]["params"] for n in NETS}
  params["E_z"] = torch7_default_params(params["E_z"], r_ez)
  params["E_y"] = torch7_default_params(params["E_y"], r_ey)
  opts = make_optimizers(config)
  return IcGANState(step=jnp.zeros((), jnp.int32), params=params,
                    batch_stats={n: variables[n]["batch_stats"] for n in NETS},
                    opt_state={n: opts[n].init(params[n]) for n in NETS})


# ---------------------------------------------------------------- losses
def signed(labels):
  """0/1 labels -> IcGAN's {-1, 1} (2 l - 1; a slider value v in [0, 1] -> 2 v - 1)."""
  return 2.0 * labels - 1.0


def label_coding(config) -> str:
  return config.model.get("label_coding", "signed")


def encode_labels(labels, coding: str):
  """0/1 labels [..., K] -> the networks' labels: signed (2 l - 1) or one_hot (unchanged)."""
  return signed(labels) if coding == "signed" else labels


def decode_labels(y, coding: str):
  """The networks' labels -> 0/1 labels (the inverse of `encode_labels`)."""
  return (y + 1.0) / 2.0 if coding == "signed" else y


def read_labels(y, coding: str):
  """E_y's output [N, K] -> labels in the networks' coding: `threshold` (signed) or the
  one-hot of the largest entry (one_hot)."""
  if coding == "signed":
    return threshold(y)
  return jax.nn.one_hot(jnp.argmax(y, axis=-1), y.shape[-1], dtype=y.dtype)


def threshold(y):
  """`applyThreshold(Y, 0)` of the official editing scripts: 1 where y > 0, else -1."""
  return jnp.where(y > 0, 1.0, -1.0).astype(y.dtype)


def draw_noise(key, n: int, nz: int, noise: str, dtype):
  """z [n, nz]: N(0, 1) (`noise = 'normal'`) or U(-1, 1) (`'uniform'`)."""
  if noise == "uniform":
    return jax.random.uniform(key, (n, nz), dtype, -1.0, 1.0)
  return jax.random.normal(key, (n, nz), dtype)


def discriminator_loss(d_params, d_stats, D, x, y, y_wrong, fake, y_fake, train_wrong_y: bool):
  """L_D of IcGAN's conditional GAN (`fDx`): BCE(D(x, y), 1) + w BCE(D(x, y_wrong), 0)
  + w BCE(D(x_fake, y_fake), 0), w = 0.5 with `train_wrong_y` (the wrong-label term only
  then), else 1. x, fake [N, S, S, 3] in [-1, 1]; y, y_wrong, y_fake [N, K] in {-1, 1}.
  D in train mode, three calls in this order, each with its own batch statistics.
  Returns (L_D, ({"D_real", "D_wrong", "D_fake"} (the weighted terms), D's running
  statistics after the three calls))."""
  call = lambda stats, a, b: D.apply({"params": d_params, "batch_stats": stats}, a, b,
                                     train=True, mutable=["batch_stats"])
  p_real, upd = call(d_stats, x, y)
  real = losses.torch7_bce(p_real, 1.0)
  wrong = jnp.zeros_like(real)
  stats = upd["batch_stats"]
  if train_wrong_y:
    p_wrong, upd = call(stats, x, y_wrong)
    wrong = 0.5 * losses.torch7_bce(p_wrong, 0.0)
    stats = upd["batch_stats"]
  p_fake, upd = call(stats, fake, y_fake)
  fake_term = (0.5 if train_wrong_y else 1.0) * losses.torch7_bce(p_fake, 0.0)
  total = real + wrong + fake_term
  return total, ({"D_real": real, "D_wrong": wrong, "D_fake": fake_term}, upd["batch_stats"])


def generator_adversarial_loss(fake, d_params, d_stats, D, y_fake):
  """L_G of IcGAN (`fGx`): BCE(D(x_fake, y_fake), 1), D in train mode (batch statistics,
  running averages updated). A function of the generated images x_fake [N, S, S, 3] (their
  gradient is back-propagated through G's forward of the D step). Returns (L_G, D's
  running statistics)."""
  p, upd = D.apply({"params": d_params, "batch_stats": d_stats}, fake, y_fake, train=True,
                   mutable=["batch_stats"])
  return losses.torch7_bce(p, 1.0), upd["batch_stats"]


def encoder_loss(e_params, e_stats, E, x, target):
  """The encoders' loss (`trainEncoder.lua`, MSECriterion): mean (E(x) - target)^2 over
  every element; E_z: x = G(z, y) generated, target z [N, nz]; E_y: x a real image,
  target its labels y [N, K] in {-1, 1}. E in train mode. Returns (loss, E's running
  statistics)."""
  out, upd = E.apply({"params": e_params, "batch_stats": e_stats}, x, train=True,
                     mutable=["batch_stats"])
  return losses.mse_loss(out, target), upd["batch_stats"]


def generate_eval(G, g_params, g_stats, z, y):
  """G(z, y) in eval mode (running averages), without gradient: the generated images of
  E_z's training pairs."""
  return jax.lax.stop_gradient(G.apply({"params": g_params, "batch_stats": g_stats}, z, y,
                                       train=False))


# ---------------------------------------------------------------- schedule
PHASES = ("gan", "encoders", "encoder_z", "encoder_y")


def step_phase(config, step: int, dataset_size: int | None = None) -> str:
  """The stage of iteration `step` (0-based, `ModelSpec.step_phase`): "gan" for step <
  gan_steps; then "encoders" while both encoders train, "encoder_z" / "encoder_y" once
  the other has done its iterations."""
  del dataset_size
  gan, ez, ey = stage_steps(config)
  if step < gan:
    return "gan"
  j = step - gan
  z_on, y_on = j < ez, j < ey
  if z_on and y_on:
    return "encoders"
  return "encoder_z" if z_on else "encoder_y"


# ---------------------------------------------------------------- train step
def make_train_step(config, dataset_size: int):
  """Returns the pure step `(state, batch, rng, draws=None, phase=None) -> (state, metrics)`.

  batch: {"x" [N, S, S, 3] in [-1, 1], "label" [N, K], "label_fake" [N, K],
  "label_wrong" [N, K]} (0/1 labels; `IcGANExamples`). `rng` is the run's base key; the
  step uses `fold_in(rng, state.step)`. `draws` (tests) replaces the noise: {"z" [N, nz]}
  (the GAN stage's, and E_z's generated pairs'). `phase` (static, `step_phase`) picks the
  stage; without it the stage is chosen by `lax.cond` on the step.
  """
  del dataset_size
  nets, m = build_models(config), config.model
  G, D, E_z, E_y = (nets[n] for n in NETS)
  dtype = jnp.dtype(m.param_dtype)
  opts = make_optimizers(config)
  gan_steps, ez_steps, ey_steps = stage_steps(config)
  wrong = bool(m.train_wrong_y)
  coding = label_coding(config)

  def update(name, params, opt_state, grads):
    updates, new_opt = opts[name].update(grads, opt_state[name], params[name])
    return optax.apply_updates(params[name], updates), new_opt

  def inputs(batch, key, draws):
    x = batch["x"].astype(dtype)
    y, y_fake, y_wrong = (encode_labels(batch[k].astype(dtype), coding)
                          for k in ("label", "label_fake", "label_wrong"))
    z = (draws["z"].astype(dtype) if draws is not None
         else draw_noise(key, x.shape[0], m.nz, m.noise, dtype))
    return x, y, y_fake, y_wrong, z

  def gan_stage(state, batch, key, draws):
    params, stats, opt_state = dict(state.params), dict(state.batch_stats), dict(state.opt_state)
    x, y, y_fake, y_wrong, z = inputs(batch, key, draws)

    # 1. D step: G's forward once (train mode), its backward kept for the G step.
    def g_forward(g_params):
      out, upd = G.apply({"params": g_params, "batch_stats": stats["G"]}, z, y_fake, train=True,
                         mutable=["batch_stats"])
      return out, upd["batch_stats"]

    fake, g_vjp, stats["G"] = jax.vjp(g_forward, params["G"], has_aux=True)
    (d_loss, (d_terms, stats["D"])), d_grads = jax.value_and_grad(
        discriminator_loss, has_aux=True)(params["D"], stats["D"], D, x, y, y_wrong,
                                          jax.lax.stop_gradient(fake), y_fake, wrong)
    params["D"], opt_state["D"] = update("D", params, opt_state, d_grads)

    # 2. G step against the updated D, on the same generated images.
    (g_loss, stats["D"]), d_fake = jax.value_and_grad(generator_adversarial_loss, has_aux=True)(
        fake, params["D"], stats["D"], D, y_fake)
    (g_grads,) = g_vjp(d_fake)
    params["G"], opt_state["G"] = update("G", params, opt_state, g_grads)

    # The official errD: (real + fake + wrong) / 2 with the weighted terms.
    metrics = {"D_loss": d_loss / 2.0, "G_loss": g_loss, **d_terms}
    metrics.update(norm_metrics({"G": g_grads, "D": d_grads},
                                {"G": params["G"], "D": params["D"]}))
    return state.replace(step=state.step + 1, params=params, batch_stats=stats,
                         opt_state=opt_state), metrics

  def encoder_stage(state, batch, key, draws, z_on, y_on):
    """z_on / y_on: Python bools (static phases) or traced booleans (phase=None)."""
    params, stats, opt_state = dict(state.params), dict(state.batch_stats), dict(state.opt_state)
    x, y, y_fake, _, z = inputs(batch, key, draws)
    metrics, grads = {}, {}
    static = isinstance(z_on, bool)
    for name, on, E, xs, target in (("E_z", z_on, E_z, None, z), ("E_y", y_on, E_y, x, y)):
      if static and not on:
        continue
      if xs is None:
        xs = generate_eval(G, params["G"], stats["G"], z, y_fake)
      (loss, new_stats), g = jax.value_and_grad(encoder_loss, has_aux=True)(
          params[name], stats[name], E, xs, target)
      new_params, new_opt = update(name, params, opt_state, g)
      if static:
        params[name], opt_state[name], stats[name] = new_params, new_opt, new_stats
      else:
        pick = lambda a, b, on=on: jax.tree_util.tree_map(lambda u, v: jnp.where(on, u, v), a, b)
        params[name] = pick(new_params, params[name])
        opt_state[name] = pick(new_opt, opt_state[name])
        stats[name] = pick(new_stats, stats[name])
        loss = jnp.where(on, loss, 0.0)
      metrics[f"{name}_loss"] = loss
      grads[name] = g
    metrics.update(norm_metrics(grads, {k: params[k] for k in grads}))
    return state.replace(step=state.step + 1, params=params, batch_stats=stats,
                         opt_state=opt_state), metrics

  def train_step(state: IcGANState, batch, rng, draws=None, phase=None):
    key = jax.random.fold_in(rng, state.step)
    if phase == "gan":
      return gan_stage(state, batch, key, draws)
    if phase in ("encoders", "encoder_z", "encoder_y"):
      return encoder_stage(state, batch, key, draws, phase != "encoder_y",
                           phase != "encoder_z")
    if phase is not None:
      raise ValueError(f"unknown IcGAN phase {phase!r}; valid: {list(PHASES)}")
    j = state.step - gan_steps
    zero = jnp.zeros((), jnp.promote_types(dtype, jnp.float32))

    def as_gan(s):
      new, met = gan_stage(s, batch, key, draws)
      return new, {**{k: zero for k in ENCODER_METRICS}, **met}

    def as_encoders(s):
      new, met = encoder_stage(s, batch, key, draws, j < ez_steps, j < ey_steps)
      return new, {**{k: zero for k in GAN_METRICS}, **met}

    return jax.lax.cond(state.step < gan_steps, as_gan, as_encoders, state)

  return train_step


GAN_METRICS = ("D_loss", "G_loss", "D_real", "D_wrong", "D_fake", "G_grad_norm", "D_grad_norm",
               "G_param_norm", "D_param_norm")
ENCODER_METRICS = ("E_z_loss", "E_y_loss", "E_z_grad_norm", "E_y_grad_norm", "E_z_param_norm",
                   "E_y_param_norm")


# ---------------------------------------------------------------- editing
def invert(nets, p, x, coding: str = "signed"):
  """(E_z(x), E_y(x) read as labels: `read_labels`) in eval mode; x [N, S, S, 3] in
  [-1, 1]."""
  enc = lambda name: nets[name].apply({"params": p["params"][name],
                                       "batch_stats": p["batch_stats"][name]}, x, train=False)
  return enc("E_z"), read_labels(enc("E_y"), coding)


def generate(nets, p, z, y):
  """G(z, y) in eval mode (running averages)."""
  return nets["G"].apply({"params": p["params"]["G"], "batch_stats": p["batch_stats"]["G"]},
                         z, y.astype(z.dtype), train=False)


def eval_params(state) -> dict:
  return {"params": state.params, "batch_stats": state.batch_stats}


def make_sample_fn(config):
  """`(state, batch, rng) -> {"changes": [N, 2 + K, S, S, 3], "samples": [N, S, S, 3]}`:
  each source, its reconstruction G(E_z(x), E_y(x)), then each attribute of E_y's reading
  changed alone (`single_changes`); and G(z, y) of random z with the batch's labels."""
  nets = build_models(config)
  coding = label_coding(config)

  def sample(state: IcGANState, batch, rng):
    p = eval_params(state)
    x = batch["x"]
    z, y = invert(nets, p, x, coding)
    k_dim = y.shape[-1]
    changes = single_changes(decode_labels(y, coding), [], coding == "one_hot")
    targets = jnp.concatenate([y[None], encode_labels(changes, coding)])
    t = targets.shape[0]
    out = generate(nets, p, jnp.tile(z, (t, 1)), targets.reshape(t * x.shape[0], k_dim))
    out = jnp.moveaxis(out.reshape(t, *x.shape), 0, 1)
    noise = draw_noise(rng, x.shape[0], config.model.nz, config.model.noise, z.dtype)
    return {"changes": jnp.concatenate([x[:, None], out], axis=1),
            "samples": generate(nets, p, noise,
                                encode_labels(batch["label"].astype(z.dtype), coding))}

  return sample


def sample_grids(config, images: dict) -> dict:
  """{"changes": per source: the source, its reconstruction, each attribute changed;
  "samples": one row of G(z, y) for random z and the batch's labels}."""
  block = images["changes"]
  cols = ["source", "reconstruction"] + [f"change {n}" for n in attribute_names(config)]
  samples = np.asarray(images["samples"])
  return {"changes": block_grid(block, [f"source #{i}" for i in range(block.shape[0])], cols),
          "samples": block_grid(samples[None], ["G(z, y)"],
                                [f"#{i}" for i in range(samples.shape[0])])}


# ---------------------------------------------------------------- data and translation
def image_shapes(config) -> dict:
  size = config.data.crop_size
  return {"x": (size, size, 3)}


class IcGANExamples:
  """The GAN's examples: example g is `main(g)` ({"x", "label"}) plus "label_fake", the
  label of a random training image (`data:sampleY`), and "label_wrong", the label of a
  random training image that differs from "label" (`trainLoader:sample`: redrawn while
  equal; after `max_draws` equal draws the last is kept, e.g. for data whose labels are
  all the same). Depends only on (seed, g)."""

  def __init__(self, main, labels: np.ndarray, seed: int, max_draws: int = 100):
    self.main, self.labels, self.seed, self.max_draws = main, np.asarray(labels), seed, max_draws
    self.size = main.size

  def __call__(self, g: int) -> dict:
    out = self.main(g)
    rng = np.random.default_rng([self.seed, g, 7])
    n = len(self.labels)
    out["label_fake"] = self.labels[rng.integers(n)].astype(np.float32)
    for _ in range(self.max_draws):
      wrong = self.labels[rng.integers(n)]
      if not np.array_equal(wrong, out["label"]):
        break
    out["label_wrong"] = wrong.astype(np.float32)
    return out


def make_examples(config, split: str = "train", seed: int | None = None):
  """(example function, dataset size, image shapes) of the attribute-labelled data
  (`data.attributes.attribute_source`: CelebA, TFDS, the embedded attribute photos) with
  the fake and wrong labels beside each example (`IcGANExamples`). The test split is not
  flipped."""
  from i2ijax.data.attributes import attribute_source
  from i2ijax.data.pipeline import MultiLabelExamples, make_transform
  seed = config.seed if seed is None else seed
  data = config.data
  source = attribute_source(data, split, config.model.attrs)
  one_hot = label_coding(config) == "one_hot"
  if source.single_label != one_hot:
    raise ValueError(
        f"{source.name} is {'single' if source.single_label else 'multi'}-label data but "
        f"config.model.label_coding={label_coding(config)!r}: signed takes binary attributes, "
        f"one_hot single-label classes (config.data.source)")
  if split != "train":
    data = data.copy_and_resolve_references()
    data.flip = False
  labels = getattr(source, "labels", None)
  if labels is None:
    labels = np.stack([source.label(i) for i in range(len(source))])
  main = MultiLabelExamples(source, transform=make_transform(data), seed=seed)
  examples = IcGANExamples(main, labels, seed)
  return examples, examples.size, image_shapes(config)


def translator(config, request, refine=None, known_labels: bool = False):
  """Edits with `request.attrs` (values in [0, 1], 2 v - 1 in the signed code: 1 on, 0
  off, 0.5 the midpoint) or, for one_hot labels, `request.domain` (class k): z = E_z(x),
  y = E_y(x) read as labels (`read_labels`), the given attributes set (or class k),
  G(z, y') (eval mode, `generation/attributeTransfer.lua`); without either, every
  single-attribute change (every class) of y (one output each). The source's known labels
  are not used unless `known_labels`: as the official scripts, y is E_y's reading.
  `refine(p, x, z, y) -> z` (Face-Age's latent optimisation) replaces E_z's guess before
  the edit."""
  nets = build_models(config)
  names = attribute_names(config)
  coding = label_coding(config)
  fixed = attribute_values(names, request.attrs) if request.attrs else {}
  if request.domain is not None:
    if coding != "one_hot":
      raise ValueError("--domain is for one_hot labels (single-label data); use --attrs")
    if fixed:
      raise ValueError("--domain and --attrs: give one of them")
    if not 0 <= request.domain < len(names):
      raise ValueError(f"domain {request.domain} is out of range: the model has "
                       f"{len(names)} classes ({', '.join(names)})")
    fixed = {k: float(k == request.domain) for k in range(len(names))}
  idx = np.asarray(sorted(fixed), np.int32)
  vals = np.asarray([fixed[k] for k in sorted(fixed)], np.float32)
  outputs = 1 if fixed else len(names)

  def apply(p, x, labels=None):
    z, y = invert(nets, p, x, coding)
    if known_labels and labels is not None:
      y = encode_labels(jnp.asarray(labels, y.dtype), coding)
    if refine is not None:
      z = refine(p, x, z, y)
    if fixed:
      targets = y.at[:, idx].set(jnp.asarray(encode_labels(vals, coding), y.dtype))
    else:
      changes = single_changes(decode_labels(y, coding), [], coding == "one_hot")
      targets = encode_labels(changes, coding).reshape(-1, len(names))
    return generate(nets, p, jnp.repeat(z, targets.shape[0] // x.shape[0], axis=0), targets)

  return Translator(jax.jit(apply), eval_params, 3, 3, outputs, size=config.data.crop_size)


def reconstruction_scores(config, state, split: str = "test", seed: int = 0) -> dict:
  """The inversion of `split`'s images: {"model": PSNR / SSIM of G(E_z(x), E_y(x)) against
  x, "baseline_random_z": of G(z, E_y(x)) with z ~ N(0, I) (seed `seed`), "encoder_y":
  {"accuracy": E_y's thresholded reading against the true labels}, "images": N}. Images
  prepared as `evaluate` prepares them (`evaluate.tasks.prepare_fn`)."""
  from i2ijax.data.attributes import attribute_source
  from i2ijax.data.images import to_uint8
  from i2ijax.evaluate.scoring import score
  from i2ijax.evaluate.tasks import prepare_fn
  nets = build_models(config)
  source = attribute_source(config.data, split, config.model.attrs)
  prepare = prepare_fn(config)
  images = np.stack([prepare(source.load(i)) for i in range(len(source))])
  labels = np.stack([source.label(i) for i in range(len(source))])
  p = jax.device_get(eval_params(state))
  dtype = jnp.dtype(config.model.param_dtype)

  @jax.jit
  def run(p, x, noise):
    z, y = invert(nets, p, x, label_coding(config))
    return generate(nets, p, z, y), generate(nets, p, noise, y), y

  x = jnp.asarray(images, dtype) / 127.5 - 1.0
  noise = jax.random.normal(jax.random.key(seed), (x.shape[0], config.model.nz), dtype)
  rec, rand, y = run(p, x, noise)
  rec, rand = to_uint8(np.asarray(rec)), to_uint8(np.asarray(rand))
  model, base = score(list(rec), list(images)), score(list(rand), list(images))
  accuracy = float(np.mean(np.asarray(decode_labels(y, label_coding(config))) == (labels > 0.5)))
  return {"images": int(len(images)),
          "model": {"psnr": model["psnr"], "ssim": model["ssim"]},
          "baseline_random_z": {"psnr": base["psnr"], "ssim": base["ssim"]},
          "encoder_y": {"accuracy": accuracy}}


def evaluate(config, state, split: str) -> dict:
  """`ModelSpec.evaluate`: the multi-label report of `evaluate.Evaluator` (the edits: the
  attribute classifier's accuracy on the changed attribute, PSNR / SSIM against the true
  edit where known, each beside the untranslated input) plus task "reconstruction"
  (`reconstruction_scores`: G(E_z(x), E_y(x)) against x beside a random z). FID/KID run
  when config.eval_inception_weights (or its environment variable) gives the weights."""
  from i2ijax.evaluate.scoring import Evaluator
  report = Evaluator(config, split,
                     inception_weights=config.get("eval_inception_weights", "") or None)(state)
  report["tasks"]["reconstruction"] = reconstruction_scores(config, state, split)
  return {k: v for k, v in report.items() if k not in ("model_name", "split", "mode")}


SPEC = ModelSpec(
    name="icgan", data_kind=DataKind.MULTI_LABEL, validate_config=validate_config,
    make_examples=make_examples, image_shapes=image_shapes, create_state=create_state,
    make_train_step=make_train_step, make_sample_fn=make_sample_fn, sample_grids=sample_grids,
    translator=translator, translate_options=frozenset({"attrs", "domain"}), directions=(),
    multimodal=False, translate_example="--attrs=<NAME>=1", step_phase=step_phase,
    evaluate=evaluate)
