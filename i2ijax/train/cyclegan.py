"""CycleGAN (Zhu et al. 2017): state, one pure train step, sampling.

Follows `models/cycle_gan_model.py` of junyanz/pytorch-CycleGAN-and-pix2pix:
G_A: A -> B, G_B: B -> A, D_A judges domain B (real B vs G_A(A)), D_B judges
domain A. Per step:
1. forward: fake_B = G_A(A), rec_A = G_B(fake_B), fake_A = G_B(B), rec_B = G_A(fake_A)
   (and identity maps G_A(B), G_B(A) when lambda_identity > 0);
2. generator update (one Adam over both generators, discriminators frozen) on
   L_G = GAN(D_A(fake_B)) + GAN(D_B(fake_A)) + lambda_A ||rec_A - A||_1
         + lambda_B ||rec_B - B||_1
         + lambda_idt (lambda_B ||G_A(B) - B||_1 + lambda_A ||G_B(A) - A||_1);
3. discriminator update (one Adam over both) on
   L_D_A = 0.5 (GAN_real(D_A(B)) + GAN_fake(D_A(pool_B(fake_B)))), likewise D_B,
   with the fakes of step 1 (generated before the generator update).
Batches are dicts {"A": [N, H, W, C_in], "B": [N, H, W, C_out]} in [-1, 1].
"""

from typing import Any

import flax.struct
import jax
import jax.numpy as jnp
import ml_collections
import optax

from i2ijax import losses
from i2ijax.models.resnet import make_discriminator, make_generator
from i2ijax.registry import DataKind, ModelSpec
from i2ijax.train.common import (apply_many, apply_module, cycle_sample_grids, cycle_samples,
                                 init_module, junyanz_torch_networks,
                                 learning_rate_schedule, make_optimizer, network_translator,
                                 norm_metrics, precision, validate_gan_config)
from i2ijax.train.image_pool import ImagePool, init_pool, query_pool

GENERATORS = ("G_A", "G_B")
TRANSLATORS = {"AtoB": ("G_A", "input_nc"), "BtoA": ("G_B", "output_nc")}
DISCRIMINATORS = ("D_A", "D_B")


@flax.struct.dataclass
class CycleGANState:
  step: jax.Array
  params: dict  # {"G_A", "G_B", "D_A", "D_B"} -> flax params
  batch_stats: dict  # same keys; empty dicts unless norm == "batch"
  g_opt_state: Any
  d_opt_state: Any
  pool_A: ImagePool  # history of fake A images, shown to D_B
  pool_B: ImagePool  # history of fake B images, shown to D_A


def build_models(config: ml_collections.ConfigDict) -> dict:
  """The four networks, by the official option names."""
  validate_config(config)
  m = config.model
  dt = precision(config)
  g = dict(ngf=m.ngf, norm=m.norm, use_dropout=m.use_dropout, remat=m.get("remat", False),
           upsample=m.get("upsample", "transpose"), **dt)
  d = dict(ndf=m.ndf, n_layers=m.n_layers_D, norm=m.norm, **dt)
  return {
      "G_A": make_generator(m.netG, output_nc=config.data.output_nc, **g),
      "G_B": make_generator(m.netG, output_nc=config.data.input_nc, **g),
      "D_A": make_discriminator(m.netD, **d),
      "D_B": make_discriminator(m.netD, **d),
  }


def input_multiple(config) -> int:
  """Image sides the ResNet generator accepts are multiples of this."""
  del config
  return 4


def validate_config(config) -> None:
  """Raises ValueError naming the config key of any value the model cannot use."""
  validate_gan_config(config, ("lambda_A", "lambda_B", "lambda_identity", "pool_size"))
  d = config.data
  if d.preprocess != "none" and d.crop_size % 4:
    raise ValueError(f"config.data.crop_size={d.crop_size} must be a multiple of 4 "
                     "(the ResNet generator downsamples twice by 2)")


def create_state(config, key, image_shapes, dataset_size: int) -> CycleGANState:
  """A fresh state; `image_shapes` = {"A": (H, W, C_in), "B": (H, W, C_out)}."""
  models = build_models(config)
  opt = make_optimizer(config, learning_rate_schedule(config, dataset_size))
  param_dtype = jnp.dtype(config.model.param_dtype)
  params, stats = {}, {}
  keys = dict(zip(GENERATORS + DISCRIMINATORS, jax.random.split(key, 4)))
  # A generator reads its source domain; a discriminator reads its target domain.
  reads = {"G_A": "A", "G_B": "B", "D_A": "B", "D_B": "A"}
  for name, module in models.items():
    x = jnp.zeros((1, *image_shapes[reads[name]]), param_dtype)
    params[name], stats[name] = init_module(module, keys[name], x)
    if name in DISCRIMINATORS:
      out = jax.eval_shape(lambda p, s, x: apply_module(module, p, s, x, train=False)[0],
                           params[name], stats[name], x)
      if 0 in out.shape:
        raise ValueError(f"images of shape {x.shape[1:3]} are too small for netD="
                         f"{config.model.netD!r} (n_layers_D={config.model.n_layers_D}): "
                         "it would output no logits; raise data.crop_size")
  g_params = {k: params[k] for k in GENERATORS}
  d_params = {k: params[k] for k in DISCRIMINATORS}
  size = config.model.pool_size
  return CycleGANState(
      step=jnp.zeros((), jnp.int32), params=params, batch_stats=stats,
      g_opt_state=opt.init(g_params), d_opt_state=opt.init(d_params),
      pool_A=init_pool(size, image_shapes["A"], param_dtype),
      pool_B=init_pool(size, image_shapes["B"], param_dtype))


# ---------------------------------------------------------------- losses
# Each takes (parameters, batch statistics, batch, key, networks, hyper-parameters):
# `nets` is `build_models(config)`, `hp` is config.model. Batch norm keeps
# per-call statistics, so every function returns the updated `stats` too.


def run_network(nets, hp, name, params, stats, xs, key, train=True):
  """Applies network `name` to each array of `xs`; returns (outputs, stats).

  Instance norm (or none) treats every sample alone, so calls that share a
  network are batched together; with batch norm each call keeps its own
  statistics, in the official order.
  """
  ys, s = apply_many(nets[name], params[name], stats[name], xs, key, fuse=hp.norm != "batch",
                     dropout=hp.use_dropout, train=train)
  return ys, {**stats, name: s}


def generate(params, stats, batch, key, nets, hp):
  """Step 1: fake_B = G_A(A), rec_A = G_B(fake_B), fake_A = G_B(B), rec_B = G_A(fake_A),
  and the identity maps idt_A = G_A(B), idt_B = G_B(A) when lambda_identity > 0.

  Returns ({name: [N, H, W, C]}, stats).
  """
  real_a, real_b = batch["A"], batch["B"]
  run = lambda name, stats, xs, k: run_network(nets, hp, name, params, stats, xs, k)
  k = jax.random.split(key, 4)
  ident = hp.lambda_identity > 0
  if hp.norm != "batch":
    (fake_b, *idt_a), stats = run("G_A", stats, [real_a] + [real_b] * ident, k[0])
    (fake_a, *idt_b), stats = run("G_B", stats, [real_b] + [real_a] * ident, k[1])
    (rec_a,), stats = run("G_B", stats, [fake_b], k[2])
    (rec_b,), stats = run("G_A", stats, [fake_a], k[3])
  else:  # the official call order
    (fake_b,), stats = run("G_A", stats, [real_a], k[0])
    (rec_a,), stats = run("G_B", stats, [fake_b], k[1])
    (fake_a,), stats = run("G_B", stats, [real_b], k[2])
    (rec_b,), stats = run("G_A", stats, [fake_a], k[3])
    idt_a, idt_b = [], []
    if ident:
      k2 = jax.random.split(k[3], 2)
      idt_a, stats = run("G_A", stats, [real_b], k2[0])
      idt_b, stats = run("G_B", stats, [real_a], k2[1])
  out = dict(fake_B=fake_b, rec_A=rec_a, fake_A=fake_a, rec_B=rec_b)
  if ident:
    out.update(idt_A=idt_a[0], idt_B=idt_b[0])
  return out, stats


def generator_loss(g_params, d_params, stats, batch, key, nets, hp):
  """L_G = GAN(D_A(G_A(A))) + GAN(D_B(G_B(B))) + lambda_A |G_B(G_A(A)) - A|_1
  + lambda_B |G_A(G_B(B)) - B|_1 + lambda_idt (lambda_B |G_A(B) - B|_1 + lambda_A |G_B(A) - A|_1)
  (Zhu et al. 2017, eq. 3 with LSGAN and the identity term of sec. 5.2).

  Returns (L_G, (terms, generated images, stats)); gradients flow to g_params only
  (the discriminators are frozen for this update).
  """
  gan = losses.adversarial(hp.gan_mode)
  params = {**g_params, **d_params}
  real_a, real_b = batch["A"], batch["B"]
  k_fwd, k_d = jax.random.split(key)
  out, stats = generate(params, stats, batch, k_fwd, nets, hp)
  (logit_b,), stats = run_network(nets, hp, "D_A", params, stats, [out["fake_B"]], k_d)
  (logit_a,), stats = run_network(nets, hp, "D_B", params, stats, [out["fake_A"]], k_d)
  terms = {
      "G_A": gan.g_loss(logit_b),
      "G_B": gan.g_loss(logit_a),
      "cycle_A": hp.lambda_A * losses.cycle_loss(out["rec_A"], real_a),
      "cycle_B": hp.lambda_B * losses.cycle_loss(out["rec_B"], real_b),
  }
  if hp.lambda_identity > 0:
    terms["idt_A"] = hp.lambda_identity * hp.lambda_B * losses.identity_loss(out["idt_A"], real_b)
    terms["idt_B"] = hp.lambda_identity * hp.lambda_A * losses.identity_loss(out["idt_B"], real_a)
  return sum(terms.values()), (terms, out, stats)


def discriminator_loss(d_params, g_params, stats, batch, fakes, key, nets, hp):
  """L_D_A = 0.5 (GAN_real(D_A(B)) + GAN_fake(D_A(fake_B))), likewise D_B on A and fake_A
  (plus lambda_gp times the WGAN-GP penalty for gan_mode wgangp).

  `fakes` = {"A": fake A, "B": fake B} (the pooled fakes). Returns (L_D_A + L_D_B,
  ({"D_A", "D_B"}, stats)).
  """
  gan = losses.adversarial(hp.gan_mode)
  params = {**g_params, **d_params}
  terms = {}
  for name, real, fake in (("D_A", batch["B"], fakes["B"]), ("D_B", batch["A"], fakes["A"])):
    (l_real, l_fake), stats = run_network(nets, hp, name, params, stats, [real, fake], key)
    r, f = gan.d_loss(l_real, l_fake)
    terms[name] = 0.5 * (r + f)
    if hp.gan_mode == "wgangp":
      critic = lambda x, name=name: apply_module(nets[name], d_params[name], stats[name], x,
                                                 train=True, key=key)[0]
      terms[name] += losses.gradient_penalty(critic, real, fake, jax.random.fold_in(key, 7),
                                             hp.lambda_gp)
  return sum(terms.values()), (terms, stats)


# ---------------------------------------------------------------- train step
def make_train_step(config, dataset_size: int):
  """Returns the pure step `(state, batch, rng) -> (state, metrics)`.

  `rng` is the run's base key; the step uses `fold_in(rng, state.step)`, so a
  resumed run draws exactly the numbers an uninterrupted one would.
  """
  nets, hp = build_models(config), config.model
  sched = learning_rate_schedule(config, dataset_size)
  opt = make_optimizer(config, sched)  # one Adam over both generators, one over both Ds

  def train_step(state: CycleGANState, batch, rng):
    key = jax.random.fold_in(rng, state.step)
    k_g, k_pa, k_pb, k_d = jax.random.split(key, 4)
    g_params = {k: state.params[k] for k in GENERATORS}
    d_params = {k: state.params[k] for k in DISCRIMINATORS}

    # 1-2. Generators (discriminators frozen).
    (g_total, (g_terms, out, stats)), g_grads = jax.value_and_grad(generator_loss, has_aux=True)(
        g_params, d_params, state.batch_stats, batch, k_g, nets, hp)
    updates, g_opt_state = opt.update(g_grads, state.g_opt_state, g_params)
    g_params = optax.apply_updates(g_params, updates)

    # 3. Discriminators, on fakes from the image pools.
    pool_b, fake_b = query_pool(state.pool_B, out["fake_B"], k_pb)
    pool_a, fake_a = query_pool(state.pool_A, out["fake_A"], k_pa)
    (d_total, (d_terms, stats)), d_grads = jax.value_and_grad(discriminator_loss, has_aux=True)(
        d_params, g_params, stats, batch, {"A": fake_a, "B": fake_b}, k_d, nets, hp)
    updates, d_opt_state = opt.update(d_grads, state.d_opt_state, d_params)
    d_params = optax.apply_updates(d_params, updates)

    new_state = state.replace(
        step=state.step + 1, params={**g_params, **d_params}, batch_stats=stats,
        g_opt_state=g_opt_state, d_opt_state=d_opt_state, pool_A=pool_a, pool_B=pool_b)
    metrics = {**g_terms, **d_terms, "G_total": g_total, "D_total": d_total,
               **norm_metrics({"G": g_grads, "D": d_grads}, {"G": g_params, "D": d_params}),
               "lr": sched(state.step)}
    return new_state, metrics

  return train_step


def make_sample_fn(config):
  """`(state, batch, rng) -> {name: images}` for the sample grids.

  Rows: real_A | fake_B | rec_A and real_B | fake_A | rec_B, computed as in
  training mode (the official default when sampling) without updating state.
  """
  models = build_models(config)

  def sample(state: CycleGANState, batch, rng):
    def g(name, x, k):
      return apply_module(models[name], state.params[name], state.batch_stats[name], x,
                          train=True, key=k if config.model.use_dropout else None)[0]
    return cycle_samples(g, batch, rng)

  return sample


def sample_grids(config, images: dict) -> dict:
  """One grid: A -> B -> A lines, then B -> A -> B lines (real | translated | reconstructed)."""
  del config
  return cycle_sample_grids(images)


def translator(config, request):
  """G_A (AtoB) or G_B (BtoA) on one image (`registry.Translator`)."""
  name, in_key = TRANSLATORS[request.direction]
  out_key = "output_nc" if in_key == "input_nc" else "input_nc"
  return network_translator(config, request, build_models(config)[name], name,
                            config.data[in_key], config.data[out_key], input_multiple(config))


def image_shapes(config) -> dict:
  """{"A": (crop, crop, input_nc), "B": (crop, crop, output_nc)}."""
  size = config.data.crop_size
  return {"A": (size, size, config.data.input_nc), "B": (size, size, config.data.output_nc)}


def make_examples(config, split: str = "train", seed: int | None = None):
  """(example function, dataset size, image shapes) of the unaligned A/B data."""
  from i2ijax.data.pipeline import UnalignedExamples, make_transform
  from i2ijax.data.sources import unaligned_domains
  domain_a, domain_b = unaligned_domains(config.data, split)
  examples = UnalignedExamples(domain_a, domain_b, transform=make_transform(config.data),
                               seed=config.seed if seed is None else seed)
  if config.data.preprocess == "none":
    first = examples(0)
    shapes = {k: v.shape for k, v in first.items()}
  else:
    shapes = image_shapes(config)
  return examples, examples.size, shapes


def torch_networks(config) -> list:
  """The official checkpoint files of the networks (`latest_net_G_A.pth`, ...)."""
  return junyanz_torch_networks(config, {"G_A": "_net_G_A.pth", "G_B": "_net_G_B.pth"},
                                {"D_A": "_net_D_A.pth", "D_B": "_net_D_B.pth"})


SPEC = ModelSpec(
    name="cyclegan", data_kind=DataKind.TWO_DOMAIN, validate_config=validate_config,
    make_examples=make_examples, image_shapes=image_shapes, create_state=create_state,
    make_train_step=make_train_step, make_sample_fn=make_sample_fn, sample_grids=sample_grids,
    translator=translator, directions=tuple(TRANSLATORS), input_multiple=input_multiple,
    torch_networks=torch_networks)
