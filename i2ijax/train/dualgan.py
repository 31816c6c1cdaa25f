"""DualGAN (Yi et al. 2017): state, one pure train step, sampling.

Follows `model.py` of duxingren14/DualGAN (TensorFlow 1). G_A: A -> B, G_B: B -> A
(official `A_g_net`, `B_g_net`); D_A judges domain B (real B vs G_A(A)), D_B judges
domain A (`A_d_net`, `B_d_net`). One iteration (`DualNet.run_optim`):
1. discriminator update: one RMSProp step over both critics' parameters on
     L_D = [E D_A(G_A(A)) - E D_A(B)] + [E D_B(G_B(B)) - E D_B(A)]
           + gamma (GP(D_A, B, G_A(A)) + GP(D_B, A, G_B(B)))          (wgan-gp, default)
   (no penalty for 'wgan'; the BCE terms for 'classic'), the fakes made by the
   current generators; for 'wgan' every critic parameter is then clipped to
   [-clip_value, clip_value] (norm scales and biases included, as the official
   `clip_ops` over all `d_vars`);
2. generator update (wgan, wgan-gp: in iterations t with (t + 2) % n_critic == 0, see
   `generator_updates`; 'classic': twice every iteration): one RMSProp step over both
   generators, against the *updated* critics, on
     L_G = -E D_A(G_A(A)) + lambda_B |G_A(G_B(B)) - B| - E D_B(G_B(B)) + lambda_A |G_B(G_A(A)) - A|
   (|.| the mean absolute error, or the mean square for loss_metric L2). The
   official code runs this as a second `sess.run`, so the fakes are generated
   again; with the generators unchanged since step 1 they equal step 1's
   (dropout, when on, draws new masks).
The GP (Gulrajani et al. 2017, eq. 3, as the official code): x_hat = real + e (fake - real),
e ~ U[0, 1) per sample, E[(sqrt(1e-8 + ||grad D(x_hat)||^2) - 1)^2].
Optimizer: TF1's `tf.train.RMSPropOptimizer(lr, decay=0.9)` (`train.common.tf1_rmsprop`).
Batches are dicts {"A": [N, H, W, C_in], "B": [N, H, W, C_out]} in [-1, 1].

Parity: the official code is TensorFlow 1 and cannot run here, so the step is checked
against a hand-composed reference of the same losses and update rule
(tests/train/test_dualgan.py), and each official detail against its own test.
Quickstart (`configs/dualgan.py:quickstart`): the embedded day -> night photos at 64 px
(its scores are in the config's docstring).
"""

from typing import Any

import flax.struct
import jax
import jax.numpy as jnp
import optax

from i2ijax import losses
from i2ijax.models.dualgan import DISC_TYPES, DualGANDiscriminator, DualGANGenerator
from i2ijax.registry import DataKind, ModelSpec, Translator
from i2ijax.train.common import (apply_module, clip_weights, cycle_sample_grids, cycle_samples,
                                 init_module, learning_rate_schedule,
                                 make_optimizer, norm_metrics, precision,
                                 validate_batch_and_precision)

GENERATORS = ("G_A", "G_B")
DISCRIMINATORS = ("D_A", "D_B")
TRANSLATORS = {"AtoB": ("G_A", "input_nc", "output_nc"), "BtoA": ("G_B", "output_nc", "input_nc")}
GAN_TYPES = ("wgan-gp", "wgan", "classic")
LOSS_METRICS = ("L1", "L2")
GP_EPS = 1e-8  # inside the square root of the official slopes


@flax.struct.dataclass
class DualGANState:
  step: jax.Array
  params: dict  # {"G_A", "G_B", "D_A", "D_B"} -> flax params
  batch_stats: dict  # same keys, all empty (the official norm keeps no statistics)
  g_opt_state: Any  # one RMSProp over both generators
  d_opt_state: Any  # one RMSProp over both critics


# ---------------------------------------------------------------- config and networks
def validate_config(config) -> None:
  """Raises ValueError naming the config key of any value the model cannot use."""
  from i2ijax.data.pipeline import validate_data_config
  m, o, d = config.model, config.optimizer, config.data
  choices = {"gan_type": GAN_TYPES, "disc_type": DISC_TYPES, "loss_metric": LOSS_METRICS}
  for key, valid in choices.items():
    if m[key] not in valid:
      raise ValueError(f"config.model.{key}={m[key]!r} is not one of {list(valid)}")
  for key in ("gcn", "dcn", "n_critic", "n_layers_D"):
    if m[key] < 1:
      raise ValueError(f"config.model.{key}={m[key]!r} must be >= 1")
  if m.num_downs < 4:
    raise ValueError(f"config.model.num_downs={m.num_downs!r} must be >= 4")
  for key in ("lambda_A", "lambda_B", "gamma", "clip_value"):
    if m[key] < 0:
      raise ValueError(f"config.model.{key}={m[key]!r} must be >= 0")
  if not 0.0 <= m.dropout_rate <= 1.0:
    raise ValueError(f"config.model.dropout_rate={m.dropout_rate!r} must be in [0, 1] (TF1's "
                     "keep probability; 0: no dropout)")
  if o.lr < 0 or not 0.0 <= o.decay < 1.0 or o.eps < 0:
    raise ValueError(f"config.optimizer lr={o.lr!r}, decay={o.decay!r}, eps={o.eps!r}: lr and "
                     "eps must be >= 0 and decay in [0, 1)")
  validate_batch_and_precision(config)
  validate_data_config(d)
  multiple = input_multiple(config)
  if d.preprocess != "none" and d.crop_size % multiple:
    raise ValueError(f"config.data.crop_size={d.crop_size} must be a multiple of {multiple} "
                     f"(2^config.model.num_downs)")


def input_multiple(config) -> int:
  """Image sides the generators accept are multiples of this: 2^num_downs."""
  return 2 ** config.model.num_downs


def build_models(config) -> dict:
  """The four networks: G_A (A -> B), G_B (B -> A), D_A (judges B), D_B (judges A)."""
  validate_config(config)
  m, dt = config.model, precision(config)
  g = dict(gcn=m.gcn, num_downs=m.num_downs, dropout_rate=m.dropout_rate, **dt)
  d = dict(dcn=m.dcn, disc_type=m.disc_type, n_layers=m.n_layers_D, **dt)
  return {"G_A": DualGANGenerator(output_nc=config.data.output_nc, **g),
          "G_B": DualGANGenerator(output_nc=config.data.input_nc, **g),
          "D_A": DualGANDiscriminator(**d), "D_B": DualGANDiscriminator(**d)}


def create_state(config, key, image_shapes, dataset_size: int) -> DualGANState:
  """A fresh state; `image_shapes` = {"A": (H, W, C_in), "B": (H, W, C_out)}."""
  models = build_models(config)
  opt = make_optimizer(config, learning_rate_schedule(config, dataset_size))
  dtype = jnp.dtype(config.model.param_dtype)
  reads = {"G_A": "A", "G_B": "B", "D_A": "B", "D_B": "A"}
  keys = dict(zip(GENERATORS + DISCRIMINATORS, jax.random.split(key, 4)))
  params = {}
  for name, module in models.items():
    x = jnp.zeros((1, *image_shapes[reads[name]]), dtype)
    params[name], _ = init_module(module, keys[name], x)
  g_params = {k: params[k] for k in GENERATORS}
  d_params = {k: params[k] for k in DISCRIMINATORS}
  return DualGANState(step=jnp.zeros((), jnp.int32), params=params,
                      batch_stats={k: {} for k in params},
                      g_opt_state=opt.init(g_params), d_opt_state=opt.init(d_params))


# ---------------------------------------------------------------- losses
def recovery_loss(recovered, original, metric: str = "L1"):
  """The reconstruction error (Yi et al. 2017, eq. 3's ||u - G_B(G_A(u, z), z')||): the mean
  absolute error over every element (L1, the default), or the mean square (L2).
  [N, H, W, C] each."""
  diff = recovered - original
  return jnp.mean(jnp.abs(diff)) if metric == "L1" else jnp.mean(jnp.square(diff))


def critic_loss(real_scores, fake_scores, gan_type: str):
  """One critic's adversarial terms (real_term + fake_term): WGAN -E D(real) + E D(fake)
  (Yi et al. 2017, eq. 1; 'wgan' and 'wgan-gp'), or the BCE of logits against 1 and 0
  ('classic')."""
  gan = losses.adversarial("vanilla" if gan_type == "classic" else "wgangp")
  real, fake = gan.d_loss(real_scores, fake_scores)
  return real + fake


def generator_adversarial_loss(fake_scores, gan_type: str):
  """A generator's adversarial term: -E D(G(x)) (Yi et al. 2017, eq. 3), or the BCE of the
  logits against 1 ('classic')."""
  return losses.adversarial("vanilla" if gan_type == "classic" else "wgangp").g_loss(fake_scores)


def run(nets, name, params, x, key, hp):
  """Network `name` on x (train mode; `key` feeds dropout when the generators use it)."""
  dropout = name in GENERATORS and hp.dropout_rate > 0
  return apply_module(nets[name], params[name], {}, x, train=True,
                      key=key if dropout else None)[0]


def discriminator_loss(d_params, g_params, batch, draws, key, nets, hp):
  """Step 1's L_D (module docstring) for the critics' parameters `d_params`.

  `draws` = {"eps_A", "eps_B"}: [N, 1, 1, 1] interpolation weights of the penalties on D_B
  (domain A) and D_A (domain B) (wgan-gp only). Returns (L_D, terms).
  """
  params = {**g_params, **d_params}
  real_a, real_b = batch["A"], batch["B"]
  k_a, k_b = jax.random.split(key)
  fake_b = jax.lax.stop_gradient(run(nets, "G_A", params, real_a, k_a, hp))  # A2B
  fake_a = jax.lax.stop_gradient(run(nets, "G_B", params, real_b, k_b, hp))  # B2A
  terms = {}
  for name, real, fake, eps in (("D_A", real_b, fake_b, "eps_B"), ("D_B", real_a, fake_a, "eps_A")):
    scores = run(nets, name, params, jnp.concatenate([real, fake]), None, hp)
    real_scores, fake_scores = jnp.split(scores, 2)
    terms[name] = critic_loss(real_scores, fake_scores, hp.gan_type)
    if hp.gan_type == "wgan-gp":
      critic = lambda x, name=name: run(nets, name, params, x, None, hp)
      x_hat = losses.interpolate_samples(fake, real, draws[eps])  # real + eps (fake - real)
      terms[f"{name}_gp"] = hp.gamma * losses.sqrt_eps_gradient_penalty(critic, x_hat, GP_EPS)
  return sum(terms.values()), terms


def generator_loss(g_params, d_params, batch, key, nets, hp):
  """Step 2's L_G (module docstring) for the generators' parameters `g_params`.

  Returns (L_G, terms): G_A = the adversarial term of D_A(G_A(A)), rec_B = lambda_B
  |G_A(G_B(B)) - B| (the official Ag_loss is their sum), likewise G_B and rec_A.
  """
  params = {**g_params, **d_params}
  real_a, real_b = batch["A"], batch["B"]
  k = jax.random.split(key, 4)
  fake_b = run(nets, "G_A", params, real_a, k[0], hp)  # A2B
  fake_a = run(nets, "G_B", params, real_b, k[1], hp)  # B2A
  rec_a = run(nets, "G_B", params, fake_b, k[2], hp)  # A2B2A
  rec_b = run(nets, "G_A", params, fake_a, k[3], hp)  # B2A2B
  terms = {
      "G_A": generator_adversarial_loss(run(nets, "D_A", params, fake_b, None, hp), hp.gan_type),
      "rec_B": hp.lambda_B * recovery_loss(rec_b, real_b, hp.loss_metric),
      "G_B": generator_adversarial_loss(run(nets, "D_B", params, fake_a, None, hp), hp.gan_type),
      "rec_A": hp.lambda_A * recovery_loss(rec_a, real_a, hp.loss_metric),
  }
  return sum(terms.values()), terms


# ---------------------------------------------------------------- train step
def generator_updates(config, step: int, dataset_size: int | None = None) -> int:
  """How many generator updates iteration `step` (0-based) makes (`ModelSpec.step_phase`).

  'classic': 2 (the official loop runs g_optim twice). WGAN types: 1 when
  (step + 2) % n_critic == 0, else 0: the official counter starts at 1 and is raised
  before `run_optim(..., batch_idx=step)` tests `batch_idx % n_critic == 0`, so the first
  iteration passes 2 (with n_critic 5 the generators first update in the 4th iteration).
  """
  del dataset_size
  if config.model.gan_type == "classic":
    return 2
  return int((int(step) + 2) % config.model.n_critic == 0)


def make_train_step(config, dataset_size: int):
  """Returns the pure step `(state, batch, rng, draws=None, phase=None) -> (state, metrics)`.

  `rng` is the run's base key; the step uses `fold_in(rng, state.step)`, so a resumed run
  draws exactly what an uninterrupted one would. `draws` (tests) replaces the penalty's
  interpolation weights {"eps_A", "eps_B"} ([N, 1, 1, 1] each). `phase` (static,
  `generator_updates`) is the number of generator updates; without it the WGAN step picks
  with `lax.cond` and reports zeros for the generator terms it skips.
  """
  nets, hp = build_models(config), config.model
  opt = make_optimizer(config, learning_rate_schedule(config, dataset_size))
  sched = learning_rate_schedule(config, dataset_size)
  dtype = jnp.dtype(hp.param_dtype)

  def g_update(args, d_params, batch, key):
    g_params, g_opt = args
    (total, terms), grads = jax.value_and_grad(generator_loss, has_aux=True)(
        g_params, d_params, batch, key, nets, hp)
    updates, g_opt = opt.update(grads, g_opt, g_params)
    metrics = {"G_total": total, **terms, "G_grad_norm": optax.tree.norm(grads)}
    return (optax.apply_updates(g_params, updates), g_opt), metrics

  def train_step(state: DualGANState, batch, rng, draws=None, phase=None):
    key = jax.random.fold_in(rng, state.step)
    k_eps_a, k_eps_b, k_d, k_g1, k_g2 = jax.random.split(key, 5)
    batch = {k: v.astype(dtype) for k, v in batch.items()}
    n = batch["A"].shape[0]
    if draws is None:
      draws = {"eps_A": jax.random.uniform(k_eps_a, (n, 1, 1, 1), dtype),
               "eps_B": jax.random.uniform(k_eps_b, (n, 1, 1, 1), dtype)}
    g_params = {k: state.params[k] for k in GENERATORS}
    d_params = {k: state.params[k] for k in DISCRIMINATORS}

    # 1. Critics (the fakes of the current generators), then clipping for 'wgan'.
    (d_total, d_terms), d_grads = jax.value_and_grad(discriminator_loss, has_aux=True)(
        d_params, g_params, batch, draws, k_d, nets, hp)
    updates, d_opt_state = opt.update(d_grads, state.d_opt_state, d_params)
    d_params = optax.apply_updates(d_params, updates)
    if hp.gan_type == "wgan":
      d_params = clip_weights(d_params, hp.clip_value)
    metrics = {"D_total": d_total, **d_terms, "D_grad_norm": optax.tree.norm(d_grads)}

    # 2. Generators, against the updated critics.
    args = (g_params, state.g_opt_state)
    if hp.gan_type == "classic" or phase is not None:
      count = generator_updates(config, 0) if phase is None else phase
      for k in (k_g1, k_g2)[:count]:
        args, g_metrics = g_update(args, d_params, batch, k)
        metrics.update(g_metrics)
    else:
      def skip(args):
        zero = jnp.zeros((), jnp.promote_types(dtype, jnp.float32))
        return args, {k: zero for k in ("G_total", "G_A", "rec_B", "G_B", "rec_A",
                                        "G_grad_norm")}
      args, g_metrics = jax.lax.cond((state.step + 2) % hp.n_critic == 0,
                                     lambda a: g_update(a, d_params, batch, k_g1), skip, args)
      metrics.update(g_metrics)
    g_params, g_opt_state = args

    metrics.update(norm_metrics({}, {"G": g_params, "D": d_params}))
    metrics["lr"] = sched(state.step)
    new_state = state.replace(step=state.step + 1, params={**g_params, **d_params},
                              g_opt_state=g_opt_state, d_opt_state=d_opt_state)
    return new_state, metrics

  return train_step


# ---------------------------------------------------------------- sampling and translation
def make_sample_fn(config):
  """`(state, batch, rng) -> {name: images}`: real_A | A2B | A2B2A, real_B | B2A | B2A2B
  (the official `sample_shotcut`), in training mode."""
  nets, hp = build_models(config), config.model

  def sample(state: DualGANState, batch, rng):
    return cycle_samples(lambda name, x, key: run(nets, name, state.params, x, key, hp), batch,
                         rng)

  return sample


def sample_grids(config, images: dict) -> dict:
  """One grid: A -> B -> A lines, then B -> A -> B lines (real | translated | recovered)."""
  del config
  return cycle_sample_grids(images, "recovered")


def translator(config, request):
  """G_A (AtoB) or G_B (BtoA) on one image (`registry.Translator`). The generators have no
  running statistics; dropout (dropout_rate > 0) is applied only with `request.train_mode`
  (the official test graph always applies it), keyed by config.seed."""
  name, in_key, out_key = TRANSLATORS[request.direction]
  net = build_models(config)[name]
  train = request.train_mode and config.model.dropout_rate > 0
  key = jax.random.key(config.seed) if train else None
  apply = jax.jit(lambda p, x: apply_module(net, p, {}, x, train=train, key=key)[0])
  return Translator(apply, lambda state: state.params[name], config.data[in_key],
                    config.data[out_key], 1, input_multiple(config))


def image_shapes(config) -> dict:
  """{"A": (crop, crop, input_nc), "B": (crop, crop, output_nc)}."""
  size = config.data.crop_size
  return {"A": (size, size, config.data.input_nc), "B": (size, size, config.data.output_nc)}


def make_examples(config, split: str = "train", seed: int | None = None):
  """(example function, dataset size, image shapes) of the unaligned A/B data (CycleGAN's)."""
  from i2ijax.train.cyclegan import make_examples as unaligned_examples
  return unaligned_examples(config, split, seed)


SPEC = ModelSpec(
    name="dualgan", data_kind=DataKind.TWO_DOMAIN, validate_config=validate_config,
    make_examples=make_examples, image_shapes=image_shapes, create_state=create_state,
    make_train_step=make_train_step, make_sample_fn=make_sample_fn, sample_grids=sample_grids,
    translator=translator, directions=tuple(TRANSLATORS), input_multiple=input_multiple,
    step_phase=generator_updates)
