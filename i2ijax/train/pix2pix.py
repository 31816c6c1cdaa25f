"""pix2pix (Isola et al. 2017): state, one pure train step, sampling.

Follows `models/pix2pix_model.py` of junyanz/pytorch-CycleGAN-and-pix2pix.
G: A -> B (U-Net by default), D judges concat(A, B) pairs (conditional
PatchGAN). Per step, with one generator forward fake_B = G(A) (train mode:
dropout on, batch norm with batch statistics, running averages updated):
1. discriminator update first, on
   L_D = 0.5 (GAN_real(D(A, B)) + GAN_fake(D(A, fake_B)))   (fake_B detached);
2. generator update on
   L_G = GAN(D'(A, fake_B)) + lambda_L1 ||fake_B - B||_1,
   where D' is the just-updated discriminator and fake_B the same forward
   (its vjp is reused, so dropout masks and batch statistics are those of the
   single forward, as in the official code).
Batch norm at test time: the official test script keeps train mode (batch
statistics, dropout on) unless `--eval`; our sample grids do the same, and
`translate` uses the running averages with dropout off (`--eval`).
Batches are dicts {"A": [N, H, W, C_in], "B": [N, H, W, C_out]} in [-1, 1].
"""

from typing import Any

import flax.struct
import jax
import jax.numpy as jnp
import optax

from i2ijax import losses
from i2ijax.models.resnet import make_discriminator, make_generator
from i2ijax.registry import DataKind, ModelSpec, rows_grid
from i2ijax.train.common import (apply_many, init_module, junyanz_torch_networks,
                                 learning_rate_schedule, make_optimizer, network_translator,
                                 norm_metrics, precision, validate_gan_config)

SAMPLE_ROWS = (("real_A", "fake_B", "real_B"),)


@flax.struct.dataclass
class Pix2PixState:
  step: jax.Array
  params: dict  # {"G", "D"}
  batch_stats: dict  # {"G", "D"}; empty dicts unless norm == "batch"
  g_opt_state: Any
  d_opt_state: Any


def validate_config(config) -> None:
  """Raises ValueError naming the config key of any value the model cannot use."""
  validate_gan_config(config, ("lambda_L1",))
  d, m = config.data, config.model
  multiple = input_multiple(config)
  if d.preprocess != "none" and d.crop_size % multiple:
    raise ValueError(f"config.data.crop_size={d.crop_size} must be a multiple of {multiple} "
                     f"for netG={m.netG!r}")


def input_multiple(config) -> int:
  """Image sides the generator accepts are multiples of this (U-Net: 2^num_downs)."""
  return {"unet_256": 256, "unet_128": 128}.get(config.model.netG, 4)


def build_models(config) -> dict:
  validate_config(config)
  m = config.model
  dt = precision(config)
  return {
      "G": make_generator(m.netG, output_nc=config.data.output_nc, ngf=m.ngf, norm=m.norm,
                          use_dropout=m.use_dropout, remat=m.get("remat", False),
           upsample=m.get("upsample", "transpose"), **dt),
      "D": make_discriminator(m.netD, ndf=m.ndf, n_layers=m.n_layers_D, norm=m.norm, **dt),
  }


def create_state(config, key, image_shapes, dataset_size: int) -> Pix2PixState:
  models = build_models(config)
  opt = make_optimizer(config, learning_rate_schedule(config, dataset_size))
  dtype = jnp.dtype(config.model.param_dtype)
  k_g, k_d = jax.random.split(key)
  a = jnp.zeros((1, *image_shapes["A"]), dtype)
  ab = jnp.zeros((1, *image_shapes["A"][:2], image_shapes["A"][2] + image_shapes["B"][2]), dtype)
  g_params, g_stats = init_module(models["G"], k_g, a)
  d_params, d_stats = init_module(models["D"], k_d, ab)
  return Pix2PixState(step=jnp.zeros((), jnp.int32), params={"G": g_params, "D": d_params},
                      batch_stats={"G": g_stats, "D": d_stats},
                      g_opt_state=opt.init(g_params), d_opt_state=opt.init(d_params))


# ---------------------------------------------------------------- losses
# Each takes (parameters, batch statistics, batch, key, networks, hyper-parameters):
# `nets` is `build_models(config)`, `hp` is config.model.


def run_network(nets, hp, name, params, stats, xs, key, dropout=False):
  """Applies network `name` to each array of `xs` in training mode; returns (outputs, stats)."""
  return apply_many(nets[name], params, stats, xs, key, fuse=hp.norm != "batch", dropout=dropout)


def generate(g_params, g_stats, batch, key, nets, hp):
  """fake_B = G(A) [N, H, W, C_out] in training mode (dropout on); returns (fake_B, G stats)."""
  (fake,), g_stats = run_network(nets, hp, "G", g_params, g_stats, [batch["A"]], key,
                                 dropout=hp.use_dropout)
  return fake, g_stats


def discriminator_loss(d_params, d_stats, batch, fake_b, key, nets, hp):
  """L_D = 0.5 (GAN_real(D(A, B)) + GAN_fake(D(A, fake_B))) (Isola et al. 2017, eq. 1; the
  fake pair is judged first, as the official call order), fake_B detached.

  Returns (L_D, ({"D_real", "D_fake"}, D stats)).
  """
  gan = losses.adversarial(hp.gan_mode)
  real_a = batch["A"]
  fake_ab = jnp.concatenate([real_a, jax.lax.stop_gradient(fake_b)], axis=-1)
  real_ab = jnp.concatenate([real_a, batch["B"]], axis=-1)
  (l_fake, l_real), d_stats = run_network(nets, hp, "D", d_params, d_stats, [fake_ab, real_ab],
                                          key)
  r, f = gan.d_loss(l_real, l_fake)
  return 0.5 * (r + f), ({"D_real": r, "D_fake": f}, d_stats)


def generator_loss_of_fake(fake_b, d_params, d_stats, batch, key, nets, hp):
  """L_G = GAN(D(A, fake_B)) + lambda_L1 |fake_B - B|_1 (Isola et al. 2017, eq. 4) as a
  function of the generated images. Returns (L_G, ({"G_GAN", "G_L1"}, D stats))."""
  gan = losses.adversarial(hp.gan_mode)
  (logits,), d_stats = run_network(nets, hp, "D", d_params, d_stats,
                                   [jnp.concatenate([batch["A"], fake_b], -1)], key)
  terms = {"G_GAN": gan.g_loss(logits), "G_L1": hp.lambda_L1 * losses.l1_loss(fake_b, batch["B"])}
  return sum(terms.values()), (terms, d_stats)


def generator_loss(g_params, d_params, stats, batch, key, nets, hp):
  """L_G as a function of G's parameters: one forward of G, then `generator_loss_of_fake`.

  `stats` = {"G", "D"}; `key` = (G's dropout key, D's key) as a pair. Returns (L_G,
  (terms, stats)). The train step splits this at fake_B to reuse the single forward.
  """
  k_g, k_d = key
  fake_b, g_stats = generate(g_params, stats["G"], batch, k_g, nets, hp)
  total, (terms, d_stats) = generator_loss_of_fake(fake_b, d_params, stats["D"], batch, k_d,
                                                   nets, hp)
  return total, (terms, {"G": g_stats, "D": d_stats})


# ---------------------------------------------------------------- train step
def make_train_step(config, dataset_size: int):
  """Returns the pure step `(state, batch, rng) -> (state, metrics)` (D first, then G)."""
  nets, hp = build_models(config), config.model
  sched = learning_rate_schedule(config, dataset_size)
  opt = make_optimizer(config, sched)

  def train_step(state: Pix2PixState, batch, rng):
    key = jax.random.fold_in(rng, state.step)
    k_g, k_d = jax.random.split(key)
    g_params, d_params = state.params["G"], state.params["D"]
    fake_b, g_vjp, g_stats = jax.vjp(
        lambda p: generate(p, state.batch_stats["G"], batch, k_g, nets, hp), g_params,
        has_aux=True)

    # 1. Discriminator on the detached fake.
    (d_total, (d_terms, d_stats)), d_grads = jax.value_and_grad(discriminator_loss, has_aux=True)(
        d_params, state.batch_stats["D"], batch, fake_b, k_d, nets, hp)
    updates, d_opt_state = opt.update(d_grads, state.d_opt_state, d_params)
    d_params = optax.apply_updates(d_params, updates)

    # 2. Generator, judged by the updated discriminator, through the same forward (its vjp).
    (g_total, (g_terms, d_stats)), fake_grad = jax.value_and_grad(
        generator_loss_of_fake, has_aux=True)(fake_b, d_params, d_stats, batch, k_d, nets, hp)
    (g_grads,) = g_vjp(fake_grad)
    updates, g_opt_state = opt.update(g_grads, state.g_opt_state, g_params)
    g_params = optax.apply_updates(g_params, updates)

    new_state = state.replace(step=state.step + 1, params={"G": g_params, "D": d_params},
                              batch_stats={"G": g_stats, "D": d_stats},
                              g_opt_state=g_opt_state, d_opt_state=d_opt_state)
    metrics = {**g_terms, **d_terms, "G_total": g_total, "D_total": d_total,
               **norm_metrics({"G": g_grads, "D": d_grads}, {"G": g_params, "D": d_params}),
               "lr": sched(state.step)}
    return new_state, metrics

  return train_step


def make_sample_fn(config):
  """`(state, batch, rng) -> {name: images}`: real_A | fake_B | real_B, train-mode forward."""
  models = build_models(config)

  def sample(state: Pix2PixState, batch, rng):
    (fake,), _ = apply_many(models["G"], state.params["G"], state.batch_stats["G"], [batch["A"]],
                            rng, fuse=True, dropout=config.model.use_dropout)
    return {"real_A": batch["A"], "fake_B": fake, "real_B": batch["B"]}

  return sample


def make_examples(config, split: str = "train", seed: int | None = None):
  """(example function, dataset size, image shapes) of the paired A/B data."""
  from i2ijax.data.pipeline import PairedExamples, make_transform
  from i2ijax.data.sources import aligned_domains
  domain_a, domain_b = aligned_domains(config.data, split)
  examples = PairedExamples(domain_a, domain_b, transform=make_transform(config.data),
                            seed=config.seed if seed is None else seed)
  return examples, examples.size, image_shapes(config)


def image_shapes(config) -> dict:
  """{"A": (crop, crop, input_nc), "B": (crop, crop, output_nc)}."""
  size = config.data.crop_size
  return {"A": (size, size, config.data.input_nc), "B": (size, size, config.data.output_nc)}


def sample_grids(config, images: dict) -> dict:
  """One grid: input | translation | ground truth per example."""
  del config
  return {"samples": rows_grid(images, SAMPLE_ROWS, ["A"], ["input", "translated", "truth"])}


def translator(config, request):
  """G on one image (`registry.Translator`); eval mode unless `request.train_mode`."""
  return network_translator(config, request, build_models(config)["G"], "G",
                            config.data.input_nc, config.data.output_nc, input_multiple(config))


def torch_networks(config) -> list:
  """The official checkpoint files of the networks (`latest_net_G.pth`, `latest_net_D.pth`)."""
  return junyanz_torch_networks(config, {"G": "_net_G.pth"}, {"D": "_net_D.pth"})


SPEC = ModelSpec(
    name="pix2pix", data_kind=DataKind.PAIRED, validate_config=validate_config,
    make_examples=make_examples, image_shapes=image_shapes, create_state=create_state,
    make_train_step=make_train_step, make_sample_fn=make_sample_fn, sample_grids=sample_grids,
    translator=translator, input_multiple=input_multiple,
    torch_networks=torch_networks)
