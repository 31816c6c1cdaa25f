"""DiscoGAN (Kim et al. 2017): state, one pure train step, sampling.

Follows `discogan/image_translation.py` of SKTBrain/DiscoGAN (commit f044178).
The official names are kept: generator_B maps A -> B and generator_A maps
B -> A ("G_B", "G_A" here); discriminator_A judges domain A, discriminator_B
domain B ("D_A", "D_B"). Images are in [0, 1] inside the step (pixel / 255 as
the official data; the library's [-1, 1] batches are mapped by (x + 1) / 2, and
outputs back by 2 y - 1). Every iteration t (0-based `state.step`) runs, all
in training mode (batch statistics; every running average is updated by
every forward, in the official call order):
1. AB = G_B(A), BA = G_A(B), ABA = G_A(AB), BAB = G_B(BA);
2. recon_A = MSE(ABA, A), recon_B = MSE(BAB, B);
   D_A on A and BA: dis_A = 0.5 BCE(D_A(A), 1) + 0.5 BCE(D_A(BA), 0),
   gen_A = BCE(D_A(BA), 1), fm_A = feature matching of D_A's features on A
   and BA (`losses.feature_matching_loss`); likewise D_B on B and AB;
3. rate = starting_rate (0.01) while t < gan_curriculum (10,000), else
   default_rate (0.5);
   L_G = [(0.1 gen_B + 0.9 fm_B)(1 - rate) + rate recon_A]
       + [(0.1 gen_A + 0.9 fm_A)(1 - rate) + rate recon_B]    (model_arch discogan),
   L_D = dis_A + dis_B;
4. if t % update_interval (3) == 0, one Adam step of both discriminators on
   L_D, else one Adam step of both generators on L_G (both Adams: 2e-4,
   (0.5, 0.999), coupled L2 weight decay 1e-5). The fakes are not detached:
   the official backward of L_D also reaches the generators' gradients, which
   the next iteration's zero_grad discards, so only the stepped networks change.
`model_arch` "recongan" keeps one direction (L_G = the first bracket, L_D =
dis_B) and "gan" drops the reconstruction too (L_G = 0.1 gen_B + 0.9 fm_B,
L_D = dis_B), as the official options.
Batches are dicts {"A": [N, H, W, 3], "B": [N, H, W, 3]} in [-1, 1].
"""

from typing import Any

import flax.struct
import jax
import jax.numpy as jnp
import optax

from i2ijax import losses
from i2ijax.models.discogan import Discriminator, Generator
from i2ijax.models.layers import torch_default_params
from i2ijax.registry import DataKind, ModelSpec, Translator
from i2ijax.train.common import (apply_module, cycle_sample_grids, cycle_samples, init_module,
                                 learning_rate_schedule,
                                 make_optimizer, norm_metrics, precision,
                                 validate_batch_and_precision)

GENERATORS = ("G_A", "G_B")  # G_A: B -> A, G_B: A -> B (the official naming)
DISCRIMINATORS = ("D_A", "D_B")  # D_A judges domain A, D_B domain B
TRANSLATORS = {"AtoB": "G_B", "BtoA": "G_A"}
ARCHS = ("discogan", "recongan", "gan")
PHASES = ("D", "G")


@flax.struct.dataclass
class DiscoGANState:
  step: jax.Array
  params: dict  # {"G_A", "G_B", "D_A", "D_B"}
  batch_stats: dict  # same keys (every network has batch norm)
  g_opt_state: Any  # one Adam over both generators
  d_opt_state: Any  # one Adam over both discriminators


def validate_config(config) -> None:
  """Raises ValueError naming the config key of any value the model cannot use."""
  from i2ijax.data.pipeline import validate_data_config
  validate_batch_and_precision(config)
  validate_data_config(config.data)
  m, d = config.model, config.data
  if m.model_arch not in ARCHS:
    raise ValueError(f"config.model.model_arch={m.model_arch!r} is not one of {list(ARCHS)}")
  if m.update_interval < 2:
    raise ValueError(f"config.model.update_interval={m.update_interval} must be >= 2 "
                     f"(iteration t updates D when t % update_interval == 0, else G)")
  for key in ("ngf", "ndf"):
    if m[key] < 1:
      raise ValueError(f"config.model.{key}={m[key]} must be positive")
  for key in ("starting_rate", "default_rate"):
    if not 0.0 <= m[key] <= 1.0:
      raise ValueError(f"config.model.{key}={m[key]} must be in [0, 1]")
  if m.gan_curriculum < 0:
    raise ValueError(f"config.model.gan_curriculum={m.gan_curriculum} must be >= 0")
  if d.crop_size % 16 or d.crop_size < 64:
    raise ValueError(f"config.data.crop_size={d.crop_size} must be a multiple of 16 and at "
                     f"least 64 (the discriminator's last 4x4 conv needs a 4x4 map)")


def build_models(config) -> dict:
  validate_config(config)
  m, dt = config.model, precision(config)
  return {"G_A": Generator(m.ngf, **dt), "G_B": Generator(m.ngf, **dt),
          "D_A": Discriminator(m.ndf, **dt), "D_B": Discriminator(m.ndf, **dt)}


def create_state(config, key, image_shapes, dataset_size: int) -> DiscoGANState:
  """Fresh networks with PyTorch's default initialisation (the official code has no other)."""
  del dataset_size
  nets = build_models(config)
  opt = make_optimizer(config, learning_rate_schedule(config, 1))
  x = jnp.zeros((1, *image_shapes["A"]), jnp.dtype(config.model.param_dtype))
  params, stats = {}, {}
  for name, k in zip(nets, jax.random.split(key, len(nets))):
    k_init, k_torch = jax.random.split(k)
    p, stats[name] = init_module(nets[name], k_init, x)
    params[name] = torch_default_params(p, k_torch)
  g = {n: params[n] for n in GENERATORS}
  d = {n: params[n] for n in DISCRIMINATORS}
  return DiscoGANState(step=jnp.zeros((), jnp.int32), params=params, batch_stats=stats,
                       g_opt_state=opt.init(g), d_opt_state=opt.init(d))


# ---------------------------------------------------------------- losses
def to_unit_range(x):
  """[-1, 1] -> [0, 1], the official data range (pixel / 255)."""
  return (x + 1.0) / 2.0


def reconstruction_rate(step, hp):
  """The official curriculum: starting_rate while step < gan_curriculum, then default_rate."""
  return jnp.where(step < hp.gan_curriculum, hp.starting_rate, hp.default_rate)


def forward(params, stats, batch, nets):
  """The official forward in training mode, running averages updated in the official order.

  batch: {"A", "B"} in [0, 1]. Returns ({"AB", "BA", "ABA", "BAB", "D_A_real", "D_A_fake",
  "D_B_real", "D_B_fake"} (logits [N, 1, 1, 1] and, under "feats_*", the features), stats).
  """
  stats = dict(stats)

  def run(name, x):
    y, stats[name] = apply_module(nets[name], params[name], stats[name], x, train=True)
    return y

  out = {"AB": run("G_B", batch["A"]), "BA": run("G_A", batch["B"])}
  out["ABA"] = run("G_A", out["AB"])
  out["BAB"] = run("G_B", out["BA"])
  for d, real, fake in (("D_A", batch["A"], out["BA"]), ("D_B", batch["B"], out["AB"])):
    out[f"{d}_real"], out[f"feats_{d}_real"] = run(d, real)
    out[f"{d}_fake"], out[f"feats_{d}_fake"] = run(d, fake)
  return out, stats


def adversarial_terms(real_logits, fake_logits, real_feats, fake_feats):
  """One discriminator's terms (the official `get_gan_loss` and `get_fm_loss`):
  dis = 0.5 BCE(D(real), 1) + 0.5 BCE(D(fake), 0), gen = BCE(D(fake), 1) and the
  feature matching fm of its features."""
  bce = losses.clamped_bce_with_logits
  return {"dis": 0.5 * bce(real_logits, 1.0) + 0.5 * bce(fake_logits, 0.0),
          "gen": bce(fake_logits, 1.0),
          "fm": losses.feature_matching_loss(real_feats, fake_feats)}


def discogan_losses(params, stats, batch, rate, nets, hp):
  """Every term of one official iteration, and L_G, L_D (module docstring, steps 1-3).

  params, stats: all four networks'; batch in [0, 1]; rate: the reconstruction weight.
  Returns ({"G_total", "D_total", "gen_loss_A", "fm_loss_A", "recon_loss_A", "dis_loss_A",
  ... B}, new stats).
  """
  out, stats = forward(params, stats, batch, nets)
  t = {}
  for dom in ("A", "B"):
    d = f"D_{dom}"
    adv = adversarial_terms(out[f"{d}_real"], out[f"{d}_fake"], out[f"feats_{d}_real"],
                            out[f"feats_{d}_fake"])
    t[f"gen_loss_{dom}"], t[f"fm_loss_{dom}"], t[f"dis_loss_{dom}"] = (
        adv["gen"], adv["fm"], adv["dis"])
  t["recon_loss_A"] = losses.mse_loss(out["ABA"], batch["A"])
  t["recon_loss_B"] = losses.mse_loss(out["BAB"], batch["B"])
  adv_b = hp.lambda_gan * t["gen_loss_B"] + hp.lambda_fm * t["fm_loss_B"]
  adv_a = hp.lambda_gan * t["gen_loss_A"] + hp.lambda_fm * t["fm_loss_A"]
  total_a = adv_b * (1.0 - rate) + t["recon_loss_A"] * rate
  total_b = adv_a * (1.0 - rate) + t["recon_loss_B"] * rate
  if hp.model_arch == "discogan":
    t["G_total"], t["D_total"] = total_a + total_b, t["dis_loss_A"] + t["dis_loss_B"]
  elif hp.model_arch == "recongan":
    t["G_total"], t["D_total"] = total_a, t["dis_loss_B"]
  else:  # gan
    t["G_total"], t["D_total"] = adv_b, t["dis_loss_B"]
  return t, stats


# ---------------------------------------------------------------- train step
def step_phase(config, step: int, dataset_size: int | None = None) -> str:
  """"D" when iteration `step` (0-based) updates the discriminators (step % update_interval
  == 0), else "G" (`ModelSpec.step_phase`)."""
  del dataset_size
  return "D" if int(step) % config.model.update_interval == 0 else "G"


def make_train_step(config, dataset_size: int):
  """Returns the pure step `(state, batch, rng, phase=None) -> (state, metrics)`.

  `phase` ("D" or "G", static: `step_phase`) picks the updated networks at
  compile time; without it the step picks with `lax.cond`. The step draws no
  random number (`rng` is unused: the official iteration has no dropout or noise).
  """
  del dataset_size
  nets, hp = build_models(config), config.model
  sched = learning_rate_schedule(config, 1)
  opt = make_optimizer(config, sched)

  def update(names, params, grads, opt_state):
    sub = {n: params[n] for n in names}
    updates, opt_state = opt.update({n: grads[n] for n in names}, opt_state, sub)
    return {**params, **optax.apply_updates(sub, updates)}, opt_state

  def train_step(state: DiscoGANState, batch, rng, phase=None):
    del rng
    batch = {k: to_unit_range(batch[k]) for k in ("A", "B")}
    rate = reconstruction_rate(state.step, hp).astype(jnp.dtype(hp.param_dtype))

    def loss(params, which):
      terms, stats = discogan_losses(params, state.batch_stats, batch, rate, nets, hp)
      return terms[which], (terms, stats)

    def d_update(args):
      params, g_opt, d_opt = args
      (_, (terms, stats)), grads = jax.value_and_grad(loss, has_aux=True)(params, "D_total")
      params, d_opt = update(DISCRIMINATORS, params, grads, d_opt)
      return (params, g_opt, d_opt), terms, stats, {n: grads[n] for n in DISCRIMINATORS}

    def g_update(args):
      params, g_opt, d_opt = args
      (_, (terms, stats)), grads = jax.value_and_grad(loss, has_aux=True)(params, "G_total")
      params, g_opt = update(GENERATORS, params, grads, g_opt)
      return (params, g_opt, d_opt), terms, stats, {n: grads[n] for n in GENERATORS}

    args = (state.params, state.g_opt_state, state.d_opt_state)
    if phase is not None:
      if phase not in PHASES:
        raise ValueError(f"phase must be one of {PHASES}, got {phase!r}")
      (params, g_opt, d_opt), terms, stats, grads = (d_update if phase == "D" else g_update)(args)
      updated = {phase: grads}
    else:
      def both(fn, other):
        def run(a):
          out, terms, stats, grads = fn(a)
          zeros = {n: jax.tree_util.tree_map(jnp.zeros_like, a[0][n]) for n in other}
          return out, terms, stats, {**grads, **zeros}
        return run
      (params, g_opt, d_opt), terms, stats, grads = jax.lax.cond(
          state.step % hp.update_interval == 0, both(d_update, GENERATORS),
          both(g_update, DISCRIMINATORS), args)
      updated = {"D": {n: grads[n] for n in DISCRIMINATORS},
                 "G": {n: grads[n] for n in GENERATORS}}
    new_state = state.replace(step=state.step + 1, params=params, batch_stats=stats,
                              g_opt_state=g_opt, d_opt_state=d_opt)
    nets_of = {"D": DISCRIMINATORS, "G": GENERATORS}
    metrics = {**terms, "rate": rate, "lr": sched(state.step),
               **norm_metrics(updated, {k: {n: params[n] for n in nets_of[k]} for k in updated})}
    return new_state, metrics

  return train_step


# ---------------------------------------------------------------- sampling, data, translation
def make_sample_fn(config):
  """`(state, batch, rng) -> {name: images in [-1, 1]}` (`cycle_samples`: G_B maps A -> B)
  in training mode, as the official test images (running averages not updated here)."""
  nets = build_models(config)

  def sample(state: DiscoGANState, batch, rng):
    def g(name, x, key):
      del key
      y = apply_module(nets[name], state.params[name], state.batch_stats[name],
                       to_unit_range(x), train=True)[0]
      return 2.0 * y - 1.0
    return cycle_samples(g, batch, rng, generators=("G_B", "G_A"))

  return sample


def sample_grids(config, images: dict) -> dict:
  """One grid: A -> B -> A lines, then B -> A -> B lines."""
  del config
  return cycle_sample_grids(images)


def image_shapes(config) -> dict:
  size = config.data.crop_size
  return {"A": (size, size, 3), "B": (size, size, 3)}


def make_examples(config, split: str = "train", seed: int | None = None):
  """(example function, dataset size, image shapes) of the unaligned A/B data."""
  from i2ijax.data.pipeline import UnalignedExamples, make_transform
  from i2ijax.data.sources import unaligned_domains
  domain_a, domain_b = unaligned_domains(config.data, split)
  examples = UnalignedExamples(domain_a, domain_b, transform=make_transform(config.data),
                               seed=config.seed if seed is None else seed)
  return examples, examples.size, image_shapes(config)


def translator(config, request):
  """G_B (AtoB) or G_A (BtoA) on one image: [-1, 1] in and out, [0, 1] inside. Running
  averages unless `request.train_mode` (then the image's own batch statistics, as the
  official test images, which are generated in training mode)."""
  name = TRANSLATORS[request.direction]
  net, train = build_models(config)[name], request.train_mode

  def apply(p, x):
    y = apply_module(net, p["params"], p["batch_stats"], to_unit_range(x), train=train)[0]
    return 2.0 * y - 1.0

  params = lambda state: {"params": state.params[name], "batch_stats": state.batch_stats[name]}
  return Translator(jax.jit(apply), params, 3, 3, 1, 16)


SPEC = ModelSpec(
    name="discogan", data_kind=DataKind.TWO_DOMAIN, validate_config=validate_config,
    make_examples=make_examples, image_shapes=image_shapes, create_state=create_state,
    make_train_step=make_train_step, make_sample_fn=make_sample_fn, sample_grids=sample_grids,
    translator=translator, directions=tuple(TRANSLATORS), input_multiple=lambda config: 16,
    step_phase=step_phase)
