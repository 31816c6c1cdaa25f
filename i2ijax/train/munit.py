"""MUNIT (Huang et al. 2018) and UNIT (Liu et al. 2017): state, one pure train step, sampling.

Follows `trainer.py` of NVlabs/MUNIT (`MUNIT_Trainer`, `UNIT_Trainer`; the
same file as mingyuliutw/UNIT). Networks (i2ijax.models.munit): G = gen_a and
gen_b, D = dis_a (judges domain A) and dis_b; one Adam over both generators,
one over both discriminators. Batches are {"A": [N, H, W, C_a], "B": [N, H,
W, C_b]} in [-1, 1]. Each iteration runs the discriminator update and then
the generator update (the official `dis_update`, `gen_update`), each drawing
its own random codes (`draw_codes`, named after the official variables; a
test can inject them through the step's `draws`):

MUNIT, with style codes s_a, s_b ~ N(0, I) [N, style_dim]:
  D: x_ba = G_a(c_b, s_a), x_ab = G_b(c_a, s_b) (no gradient to G);
     L_D = gan_w * sum_scales [LSGAN_D(dis_a; x_a, x_ba) + LSGAN_D(dis_b; x_b, x_ab)]
  G: (c_a, s_a') = E_a(x_a); x_a_recon = G_a(c_a, s_a'); x_ba = G_a(c_b, s_a);
     (c_b_recon, s_a_recon) = E_a(x_ba); likewise for b; optionally
     x_aba = G_a(c_a_recon, s_a') (the explicit cycle, weight 0 by default);
     L_G = gan_w (adv_a + adv_b) + recon_x_w (|x_a_recon - x_a| + ...)
           + recon_s_w (|s_a_recon - s_a| + ...) + recon_c_w (|c_a_recon - c_a| + ...)
           + recon_x_cyc_w (|x_aba - x_a| + ...) + vgg_w (perceptual, see below).
UNIT, with latents h = E(x) and unit Gaussian noise n (fresh at every encode):
  D: x_ba = G_a(h_b + n_b), x_ab = G_b(h_a + n_a);
  G: x_a_recon = G_a(h_a + n_a), x_ba = G_a(h_b + n_b); h_b_recon = E_a(x_ba);
     x_aba = G_a(h_a_recon + n); L_G = gan_w (adv) + recon_x_w |x_recon - x|
     + recon_kl_w (E[h_a^2] + E[h_b^2]) + recon_x_cyc_w |x_aba - x|
     + recon_kl_cyc_w (E[h_a_recon^2] + E[h_b_recon^2]) + vgg_w (perceptual).
All reconstruction terms are mean absolute errors. The learning rate is
`lr * gamma ** ((t + 1) // step_size)` during iteration t (0-based): the
official loop steps its StepLR schedulers before every iteration. Weight decay
is PyTorch's coupled L2. Calls of one network on independent inputs are
batched (instance norm, MUNIT's LayerNorm and AdaIN all work per sample).
"""

from typing import Any

import flax.struct
import jax
import jax.numpy as jnp
import optax

from i2ijax import losses, perceptual
from i2ijax.models.munit import Discriminators, Generators, adain_buffers, torch_layers
from i2ijax.registry import DataKind, ModelSpec, TorchNetwork, Translator, block_grid, rows_grid
from i2ijax.train.common import (interpolate_codes, learning_rate_schedule, make_optimizer,
                                 norm_metrics, precision, style_request,
                                 validate_batch_and_precision)

KINDS = ("munit", "unit")


@flax.struct.dataclass
class MUNITState:
  step: jax.Array
  params: dict  # {"G": {gen_a, gen_b[, shared_enc, shared_dec]}, "D": {dis_a, dis_b}}
  g_opt_state: Any
  d_opt_state: Any
  batch_stats: dict  # {} for both (no batch norm); kept for the shared tools


def kind_of(config) -> str:
  return config.model_name


def validate_config(config) -> None:
  """Raises ValueError naming the config key of any value the model cannot use."""
  from i2ijax.data.pipeline import validate_data_config
  m, d = config.model, config.data
  if config.model_name not in KINDS:
    raise ValueError(f"config.model_name={config.model_name!r} is not one of {list(KINDS)}")
  g, dis = m.gen, m.dis
  for key in ("dim", "n_downsample"):
    if g[key] < 1:
      raise ValueError(f"config.model.gen.{key}={g[key]!r} must be >= 1")
  if g.n_res < 0:
    raise ValueError(f"config.model.gen.n_res={g.n_res!r} must be >= 0")
  if kind_of(config) == "munit":
    for key in ("style_dim", "mlp_dim"):
      if g[key] < 1:
        raise ValueError(f"config.model.gen.{key}={g[key]!r} must be >= 1")
  elif not 0 <= g.get("shared_blocks", 0) <= g.n_res:
    raise ValueError(f"config.model.gen.shared_blocks={g.shared_blocks!r} must be in "
                     f"[0, gen.n_res={g.n_res}]")
  for key in ("dim", "n_layer", "num_scales"):
    if dis[key] < 1:
      raise ValueError(f"config.model.dis.{key}={dis[key]!r} must be >= 1")
  if dis.gan_type not in ("lsgan", "nsgan"):
    raise ValueError(f"config.model.dis.gan_type={dis.gan_type!r} is not one of ['lsgan', 'nsgan']")
  if dis.norm != "none":
    raise ValueError(f"config.model.dis.norm={dis.norm!r}: only 'none' (the official default) "
                     "is supported")
  for key in ("activ",):
    if g[key] not in ("relu", "lrelu", "tanh", "none"):
      raise ValueError(f"config.model.gen.{key}={g[key]!r} is not one of relu, lrelu, tanh, none")
  for key in loss_weight_keys(config):
    if m[key] < 0:
      raise ValueError(f"config.model.{key}={m[key]!r} must be >= 0")
  if m.vgg_w > 0 and not m.get("vgg_model_path"):
    raise ValueError("config.model.vgg_w > 0 needs config.model.vgg_model_path: the VGG16 "
                     "weights file (see i2ijax.perceptual.load_vgg16)")
  o = config.optimizer
  if o.lr_policy not in ("step", "constant"):
    raise ValueError(f"config.optimizer.lr_policy={o.lr_policy!r} is not one of "
                     "['step', 'constant']")
  if o.lr_policy == "step" and o.step_size < 1:
    raise ValueError(f"config.optimizer.step_size={o.step_size!r} must be >= 1")
  validate_batch_and_precision(config)
  validate_data_config(d)
  multiple = 2**g.n_downsample
  if d.preprocess != "none" and d.crop_size % multiple:
    raise ValueError(f"config.data.crop_size={d.crop_size} must be a multiple of {multiple} "
                     f"(the content encoder downsamples gen.n_downsample={g.n_downsample} times)")
  if d.preprocess != "none" and d.crop_size < 2**(dis.n_layer + dis.num_scales - 1):
    raise ValueError(f"config.data.crop_size={d.crop_size} is too small for the discriminator "
                     f"(dis.n_layer={dis.n_layer}, dis.num_scales={dis.num_scales}): use at "
                     f"least {2**(dis.n_layer + dis.num_scales - 1)}")


def loss_weight_keys(config) -> tuple[str, ...]:
  if kind_of(config) == "munit":
    return ("gan_w", "recon_x_w", "recon_s_w", "recon_c_w", "recon_x_cyc_w", "vgg_w")
  return ("gan_w", "recon_x_w", "recon_kl_w", "recon_x_cyc_w", "recon_kl_cyc_w", "vgg_w")


def build_models(config) -> dict:
  """{"G": Generators, "D": Discriminators} from config.model.gen / .dis (official names)."""
  validate_config(config)
  g, dis = config.model.gen, config.model.dis
  dt = precision(config)
  gen = Generators(kind_of(config), config.data.input_nc, config.data.output_nc, dim=g.dim,
                   style_dim=g.get("style_dim", 8), n_downsample=g.n_downsample, n_res=g.n_res,
                   mlp_dim=g.get("mlp_dim", 256), act=g.activ, pad_type=g.pad_type,
                   shared_blocks=g.get("shared_blocks", 0), **dt)
  d = Discriminators(dim=dis.dim, n_layer=dis.n_layer, num_scales=dis.num_scales,
                     norm=dis.norm, act=dis.activ, pad_type=dis.pad_type, **dt)
  return {"G": gen, "D": d}


def image_shapes(config) -> dict:
  size = config.data.crop_size
  return {"A": (size, size, config.data.input_nc), "B": (size, size, config.data.output_nc)}


def create_state(config, key, image_shapes, dataset_size: int) -> MUNITState:
  """Fresh networks (gens Kaiming, dis N(0, 0.02)) and both Adam states."""
  del dataset_size
  models = build_models(config)
  dtype = jnp.dtype(config.model.param_dtype)
  xa = jnp.zeros((1, *image_shapes["A"]), dtype)
  xb = jnp.zeros((1, *image_shapes["B"]), dtype)
  k_g, k_d = jax.random.split(key)
  params = {"G": models["G"].init(k_g, xa, xb)["params"],
            "D": models["D"].init(k_d, xa, xb, method="both")["params"]}
  opt = make_optimizer(config, learning_rate_schedule(config, 1))
  return MUNITState(step=jnp.zeros((), jnp.int32), params=params,
                    g_opt_state=opt.init(params["G"]), d_opt_state=opt.init(params["D"]),
                    batch_stats={"G": {}, "D": {}})


class Nets:
  """Pure calls of the generator pair and the discriminator pair on given parameters."""

  def __init__(self, config):
    models = build_models(config)
    self.G, self.D = models["G"], models["D"]
    self.kind = kind_of(config)
    self.gan = losses.adversarial("lsgan" if config.model.dis.gan_type == "lsgan" else "vanilla")

  def encode(self, g, domain, x):
    return self.G.apply({"params": g}, domain, x, method="encode")

  def decode(self, g, domain, *codes):
    return self.G.apply({"params": g}, domain, *codes, method="decode")

  def dis(self, d, domain, x):
    return self.D.apply({"params": d}, domain, x)

  def d_loss(self, d, domain, real, fake):
    """Sum over scales of the real and fake terms, with one call on [real; fake]."""
    outs = self.dis(d, domain, jnp.concatenate([real, fake]))
    n = real.shape[0]
    return losses.multiscale_d_loss([o[:n] for o in outs], [o[n:] for o in outs], self.gan)

  def g_adv(self, d, domain, fake):
    return losses.multiscale_g_loss(self.dis(d, domain, fake), self.gan)


def _two(a, b):
  return jnp.concatenate([a, b])


# ---------------------------------------------------------------- random codes
# Every random number of a step, named after the official variables:
#   MUNIT: dis_s_a, dis_s_b (the style codes `dis_update` draws), gen_s_a, gen_s_b
#          (those of `gen_update`), each [N, style_dim];
#   UNIT:  dis_n_a, dis_n_b (the noise `VAEGen.encode` adds in `dis_update`), gen_n_a,
#          gen_n_b, gen_n_b_recon (gen_a.encode(x_ba)), gen_n_a_recon (gen_b.encode(x_ab)),
#          each the shape of its latent [N, H / 2^n, W / 2^n, dim 2^n] (n = gen.n_downsample).
# All unit Gaussians in config.model.param_dtype.


def code_shapes(config, batch) -> dict:
  """{name: shape} of the random codes one step draws for `batch` (names above)."""
  n = batch["A"].shape[0]
  if kind_of(config) == "munit":
    dim = config.model.gen.style_dim
    return {name: (n, dim) for name in ("dis_s_a", "dis_s_b", "gen_s_a", "gen_s_b")}
  g = config.model.gen
  latent = lambda x: (n, x.shape[1] >> g.n_downsample, x.shape[2] >> g.n_downsample,
                      g.dim << g.n_downsample)
  h_a, h_b = latent(batch["A"]), latent(batch["B"])
  return {"dis_n_a": h_a, "dis_n_b": h_b, "gen_n_a": h_a, "gen_n_b": h_b,
          "gen_n_b_recon": h_b, "gen_n_a_recon": h_a}


def draw_codes(config, batch, key) -> dict:
  """The step's random codes from `key`: {name: N(0, I) array} (names above).

  `key` splits into the D update's key and the G update's; MUNIT splits each
  into the codes for a and b; UNIT splits the D key in two (n_a, n_b) and the
  G key in four (n_a, n_b, n_a_recon, n_b_recon).
  """
  shapes = code_shapes(config, batch)
  dtype = jnp.dtype(config.model.param_dtype)
  k_d, k_g = jax.random.split(key)
  if kind_of(config) == "munit":
    order = (("dis_s_a", "dis_s_b"), ("gen_s_a", "gen_s_b"))
  else:
    order = (("dis_n_a", "dis_n_b"), ("gen_n_a", "gen_n_b", "gen_n_a_recon", "gen_n_b_recon"))
  codes = {}
  for k, names in zip((k_d, k_g), order):
    for sub, name in zip(jax.random.split(k, len(names)), names):
      codes[name] = jax.random.normal(sub, shapes[name], dtype)
  return codes


def step_codes(config, batch, key, draws=None) -> dict:
  """`draw_codes`, with the arrays of `draws` (same names, our layout) in place of the drawn
  ones; a name the step does not draw, or a shape that does not fit, is an error."""
  codes = draw_codes(config, batch, key)
  if draws is None:
    return codes
  unknown = set(draws) - set(codes)
  if unknown:
    raise ValueError(f"draws {sorted(unknown)} are not drawn by the {kind_of(config)} step; "
                     f"it draws {sorted(codes)}")
  dtype = jnp.dtype(config.model.param_dtype)
  for name, value in draws.items():
    if tuple(value.shape) != tuple(codes[name].shape):
      raise ValueError(f"draws[{name!r}] has shape {tuple(value.shape)}, the step draws "
                       f"{tuple(codes[name].shape)}")
    codes[name] = jnp.asarray(value, dtype)
  return codes


# ---------------------------------------------------------------- losses
# Each takes (generator params g, discriminator params d, batch, codes, nets, hp):
# `codes` are the step's random codes (`step_codes`), `nets` is `Nets(config)`, `hp`
# is config.model; `perceptual` is the optional VGG term `(image, target) -> loss`
# (`make_perceptual_loss`).


def translations(g, batch, codes, nets, hp):
  """The D step's cross-domain fakes (x_ba, x_ab) [N, H, W, C] each.

  MUNIT: x_ba = G_a(c_b, dis_s_a), x_ab = G_b(c_a, dis_s_b);
  UNIT: x_ba = G_a(h_b + dis_n_b), x_ab = G_b(h_a + dis_n_a).
  """
  xa, xb = batch["A"], batch["B"]
  if nets.kind == "munit":
    c_a, _ = nets.encode(g, "a", xa)
    c_b, _ = nets.encode(g, "b", xb)
    return nets.decode(g, "a", c_b, codes["dis_s_a"]), nets.decode(g, "b", c_a, codes["dis_s_b"])
  h_a, h_b = nets.encode(g, "a", xa), nets.encode(g, "b", xb)
  return (nets.decode(g, "a", h_b + codes["dis_n_b"]),
          nets.decode(g, "b", h_a + codes["dis_n_a"]))


def discriminator_loss(d, g, batch, codes, nets, hp):
  """L_D = gan_w sum_scales [GAN_D(dis_a; x_a, x_ba) + GAN_D(dis_b; x_b, x_ab)] with the
  fakes of `translations` detached (the official `dis_update`).

  Returns (L_D, {"D_a", "D_b"}).
  """
  x_ba, x_ab = jax.lax.stop_gradient(translations(g, batch, codes, nets, hp))
  loss_a = nets.d_loss(d, "a", batch["A"], x_ba)
  loss_b = nets.d_loss(d, "b", batch["B"], x_ab)
  return hp.gan_w * loss_a + hp.gan_w * loss_b, {"D_a": loss_a, "D_b": loss_b}


def _shared_terms(d, batch, x_a_recon, x_b_recon, x_ba, x_ab, nets, hp, perceptual):
  """The terms both models have: adversarial, within-domain reconstruction, perceptual."""
  xa, xb = batch["A"], batch["B"]
  t = {
      "adv_a": hp.gan_w * nets.g_adv(d, "a", x_ba),
      "adv_b": hp.gan_w * nets.g_adv(d, "b", x_ab),
      "recon_x_a": hp.recon_x_w * losses.image_reconstruction_loss(x_a_recon, xa),
      "recon_x_b": hp.recon_x_w * losses.image_reconstruction_loss(x_b_recon, xb),
  }
  if perceptual is not None:
    t["vgg_a"] = hp.vgg_w * perceptual(x_ba, xb)
    t["vgg_b"] = hp.vgg_w * perceptual(x_ab, xa)
  return t


def munit_generator_terms(g, d, batch, codes, nets, hp, perceptual=None):
  """MUNIT's generator terms (Huang et al. 2018, eq. 5; the official `gen_update`), weighted:
  adversarial, image, style and content reconstruction, optional explicit cycle and VGG."""
  xa, xb = batch["A"], batch["B"]
  s_a, s_b = codes["gen_s_a"], codes["gen_s_b"]
  c_a, s_a_prime = nets.encode(g, "a", xa)
  c_b, s_b_prime = nets.encode(g, "b", xb)
  x_a_recon, x_ba = jnp.split(nets.decode(g, "a", _two(c_a, c_b), _two(s_a_prime, s_a)), 2)
  x_b_recon, x_ab = jnp.split(nets.decode(g, "b", _two(c_b, c_a), _two(s_b_prime, s_b)), 2)
  c_b_recon, s_a_recon = nets.encode(g, "a", x_ba)
  c_a_recon, s_b_recon = nets.encode(g, "b", x_ab)
  t = {
      **_shared_terms(d, batch, x_a_recon, x_b_recon, x_ba, x_ab, nets, hp, perceptual),
      "recon_s_a": hp.recon_s_w * losses.latent_reconstruction_loss(s_a_recon, s_a),
      "recon_s_b": hp.recon_s_w * losses.latent_reconstruction_loss(s_b_recon, s_b),
      "recon_c_a": hp.recon_c_w * losses.latent_reconstruction_loss(c_a_recon, c_a),
      "recon_c_b": hp.recon_c_w * losses.latent_reconstruction_loss(c_b_recon, c_b),
  }
  if hp.recon_x_cyc_w > 0:
    x_aba = nets.decode(g, "a", c_a_recon, s_a_prime)
    x_bab = nets.decode(g, "b", c_b_recon, s_b_prime)
    t["cycrecon_x_a"] = hp.recon_x_cyc_w * losses.cycle_loss(x_aba, xa)
    t["cycrecon_x_b"] = hp.recon_x_cyc_w * losses.cycle_loss(x_bab, xb)
  return t


def unit_generator_terms(g, d, batch, codes, nets, hp, perceptual=None):
  """UNIT's generator terms (Liu et al. 2017, eq. 2-5; the official `gen_update`), weighted:
  adversarial, reconstruction, KL, cycle reconstruction and cycle KL, optional VGG."""
  xa, xb = batch["A"], batch["B"]
  h_a, h_b = nets.encode(g, "a", xa), nets.encode(g, "b", xb)
  z_a, z_b = h_a + codes["gen_n_a"], h_b + codes["gen_n_b"]
  x_a_recon, x_ba = jnp.split(nets.decode(g, "a", _two(z_a, z_b)), 2)
  x_b_recon, x_ab = jnp.split(nets.decode(g, "b", _two(z_b, z_a)), 2)
  h_b_recon, h_a_recon = nets.encode(g, "a", x_ba), nets.encode(g, "b", x_ab)
  t = {
      **_shared_terms(d, batch, x_a_recon, x_b_recon, x_ba, x_ab, nets, hp, perceptual),
      "recon_kl_a": hp.recon_kl_w * losses.gaussian_kl_unit_variance(h_a),
      "recon_kl_b": hp.recon_kl_w * losses.gaussian_kl_unit_variance(h_b),
      "recon_kl_cyc_aba": hp.recon_kl_cyc_w * losses.gaussian_kl_unit_variance(h_a_recon),
      "recon_kl_cyc_bab": hp.recon_kl_cyc_w * losses.gaussian_kl_unit_variance(h_b_recon),
  }
  if hp.recon_x_cyc_w > 0:
    x_aba = nets.decode(g, "a", h_a_recon + codes["gen_n_a_recon"])
    x_bab = nets.decode(g, "b", h_b_recon + codes["gen_n_b_recon"])
    t["cyc_x_a"] = hp.recon_x_cyc_w * losses.cycle_loss(x_aba, xa)
    t["cyc_x_b"] = hp.recon_x_cyc_w * losses.cycle_loss(x_bab, xb)
  return t


def generator_loss(g, d, batch, codes, nets, hp, perceptual=None):
  """The sum of the model's generator terms; returns (L_G, terms)."""
  terms_fn = munit_generator_terms if nets.kind == "munit" else unit_generator_terms
  terms = terms_fn(g, d, batch, codes, nets, hp, perceptual)
  return sum(terms.values()), terms


# ---------------------------------------------------------------- train step
def make_train_step(config, dataset_size: int):
  """Returns the pure step `(state, batch, rng, draws=None) -> (state, metrics)` (D update,
  then G).

  `rng` is the run's base key; the step draws its codes (`draw_codes`) from
  `fold_in(rng, state.step)`, so a resumed run draws exactly the codes an
  uninterrupted one would. `draws` (tests): {name: array} replacing those
  codes, names and layouts as listed above `code_shapes`.
  """
  nets, hp = Nets(config), config.model
  sched = learning_rate_schedule(config, dataset_size)
  opt = make_optimizer(config, sched)  # one Adam over both generators, one over both Ds
  perceptual = make_perceptual_loss(config) if hp.vgg_w > 0 else None

  def train_step(state: MUNITState, batch, rng, draws=None):
    codes = step_codes(config, batch, jax.random.fold_in(rng, state.step), draws)
    g, d = state.params["G"], state.params["D"]
    (d_total, d_terms), d_grads = jax.value_and_grad(discriminator_loss, has_aux=True)(
        d, g, batch, codes, nets, hp)
    updates, d_opt_state = opt.update(d_grads, state.d_opt_state, d)
    d = optax.apply_updates(d, updates)
    (g_total, g_terms), g_grads = jax.value_and_grad(generator_loss, has_aux=True)(
        g, d, batch, codes, nets, hp, perceptual)
    updates, g_opt_state = opt.update(g_grads, state.g_opt_state, g)
    g = optax.apply_updates(g, updates)
    metrics = {**{f"G_{k}": v for k, v in g_terms.items()}, **d_terms,
               "G_total": g_total, "D_total": d_total, "lr": sched(state.step),
               **norm_metrics({"G": g_grads, "D": d_grads}, {"G": g, "D": d})}
    new_state = state.replace(step=state.step + 1, params={"G": g, "D": d},
                              g_opt_state=g_opt_state, d_opt_state=d_opt_state)
    return new_state, metrics

  return train_step


# ---------------------------------------------------------------- perceptual term
def make_perceptual_loss(config):
  """`(image, target) -> E[(IN(vgg(image)) - IN(vgg(target)))^2]`, MUNIT's `compute_vgg_loss`,
  with the VGG16 weights of `config.model.vgg_model_path` (`i2ijax.perceptual`) in
  config.model.param_dtype."""
  return perceptual.make_perceptual_loss(config.model.vgg_model_path,
                                         dtype=jnp.dtype(config.model.param_dtype))


# ---------------------------------------------------------------- sampling and translation
def num_sample_styles(config) -> int:
  return config.get("num_sample_styles", 4)


def make_sample_fn(config):
  """`(state, batch, rng) -> {name: images}` for the sample grids (no noise for UNIT).

  MUNIT: the official rows x_a, x_a_recon, x_ab1 (fixed style), x_ab2 (random
  style), and the same for b; "styles_ab" [n, 1 + K, ...]: each A image and
  its translations with K fixed random B styles; "reference_ab" [n + 1, n + 1,
  ...]: a header of the B references, then each A image decoded with every
  reference's style (example-guided); "swap_a" [n + 1, n + 1, ...]: each A
  content with the style of every A image (the diagonal reconstructs).
  UNIT: x_a, x_a_recon, x_ab and x_b, x_b_recon, x_ba.
  """
  nets = Nets(config)
  munit = nets.kind == "munit"
  style_dim = config.model.gen.get("style_dim", 8)
  k_styles = num_sample_styles(config)
  dtype = jnp.dtype(config.model.param_dtype)

  def sample(state: MUNITState, batch, rng):
    g = state.params["G"]
    xa, xb = batch["A"], batch["B"]
    n = xa.shape[0]
    if not munit:
      h_a, h_b = nets.encode(g, "a", xa), nets.encode(g, "b", xb)
      ra, ba = jnp.split(nets.decode(g, "a", _two(h_a, h_b)), 2)
      rb, ab = jnp.split(nets.decode(g, "b", _two(h_b, h_a)), 2)
      return {"x_a": xa, "x_a_recon": ra, "x_ab": ab, "x_b": xb, "x_b_recon": rb, "x_ba": ba}
    fixed = jax.random.normal(jax.random.key(1234), (2, n, style_dim), dtype)
    rand = jax.random.normal(rng, (2, n, style_dim), dtype)
    c_a, s_a = nets.encode(g, "a", xa)
    c_b, s_b = nets.encode(g, "b", xb)
    out_a = nets.decode(g, "a", jnp.concatenate([c_a, c_b, c_b]),
                        jnp.concatenate([s_a, fixed[0], rand[0]]))
    out_b = nets.decode(g, "b", jnp.concatenate([c_b, c_a, c_a]),
                        jnp.concatenate([s_b, fixed[1], rand[1]]))
    ra, ba1, ba2 = jnp.split(out_a, 3)
    rb, ab1, ab2 = jnp.split(out_b, 3)
    images = {"x_a": xa, "x_a_recon": ra, "x_ab1": ab1, "x_ab2": ab2,
              "x_b": xb, "x_b_recon": rb, "x_ba1": ba1, "x_ba2": ba2}
    styles = jax.random.normal(jax.random.key(4321), (k_styles, style_dim), dtype)
    many = nets.decode(g, "b", jnp.repeat(c_a, k_styles, axis=0), jnp.tile(styles, (n, 1)))
    images["styles_ab"] = jnp.concatenate(
        [xa[:, None], many.reshape(n, k_styles, *many.shape[1:])], axis=1)
    cross = nets.decode(g, "b", jnp.repeat(c_a, n, axis=0), jnp.tile(s_b, (n, 1)))
    images["reference_ab"] = _with_header(xa, xb, cross)
    swap = nets.decode(g, "a", jnp.repeat(c_a, n, axis=0), jnp.tile(s_a, (n, 1)))
    images["swap_a"] = _with_header(xa, xa, swap)
    return images

  return sample


def _with_header(sources, references, outputs):
  """[n + 1, n + 1, H, W, C]: blank + references on top, then each source and its n outputs."""
  n = sources.shape[0]
  outputs = outputs.reshape(n, n, *outputs.shape[1:])
  body = jnp.concatenate([sources[:, None], outputs], axis=1)
  header = jnp.concatenate([jnp.ones_like(sources[:1]), references])[None]
  return jnp.concatenate([header, body], axis=0)


MUNIT_ROWS = (("x_a", "x_a_recon", "x_ab1", "x_ab2"), ("x_b", "x_b_recon", "x_ba1", "x_ba2"))
UNIT_ROWS = (("x_a", "x_a_recon", "x_ab"), ("x_b", "x_b_recon", "x_ba"))


def sample_grids(config, images: dict) -> dict:
  """{"samples": the official rows, and for MUNIT "styles_ab", "reference_ab", "swap_a"}."""
  n = images["x_a"].shape[0]
  if kind_of(config) == "unit":
    return {"samples": rows_grid(images, UNIT_ROWS, ["A", "B"],
                                 ["input", "reconstructed", "translated"])}
  grids = {"samples": rows_grid(images, MUNIT_ROWS, ["A", "B"],
                                ["input", "reconstructed", "fixed style", "random style"])}
  sources = [f"A #{i}" for i in range(n)]
  grids["styles_ab"] = block_grid(images["styles_ab"], sources,
                                  ["A"] + [f"B style {k}" for k in range(num_sample_styles(config))])
  grids["reference_ab"] = block_grid(images["reference_ab"], ["B references"] + sources,
                                     ["content"] + [f"style of B #{j}" for j in range(n)])
  grids["swap_a"] = block_grid(images["swap_a"], ["A styles"] + sources,
                               ["content"] + [f"style of A #{j}" for j in range(n)])
  return grids


def make_examples(config, split: str = "train", seed: int | None = None):
  """(example function, dataset size, image shapes) of the unaligned A/B data."""
  from i2ijax.train.cyclegan import make_examples as unaligned_examples
  return unaligned_examples(config, split, seed)


def translator(config, request):
  """The translation of `request.direction` on one image (`registry.Translator`).

  MUNIT: the input's content decoded with K target-domain style codes: the
  styles of `request.references` (example-guided), or `num_styles` codes ~
  N(0, I) [K, style_dim] from key `seed`; with interpolate K > 1, K codes
  evenly spaced from the first code to the second (two references, or two
  random codes from `seed`). UNIT: the single deterministic translation
  (latent mean, no noise). Sides must be multiples of 2^gen.n_downsample.
  """
  nets = Nets(config)
  source, target = ("a", "b") if request.direction == "AtoB" else ("b", "a")
  in_nc, out_nc = config.data.input_nc, config.data.output_nc
  channels = (in_nc, out_nc) if request.direction == "AtoB" else (out_nc, in_nc)
  params = lambda state: state.params["G"]
  if nets.kind == "unit":
    apply = jax.jit(lambda g, x: nets.decode(g, target, nets.encode(g, source, x)))
    return Translator(apply, params, *channels, 1, input_multiple(config))
  refs, count, k = style_request(request)
  random_codes = jax.random.normal(jax.random.key(request.seed),
                                   (count, config.model.gen.style_dim),
                                   jnp.dtype(config.model.param_dtype))

  def codes(g):
    c = (jnp.concatenate([nets.encode(g, target, r)[1] for r in refs]) if refs
         else random_codes)
    return interpolate_codes(c, request.interpolate)

  @jax.jit
  def apply(g, x):
    content, _ = nets.encode(g, source, x)
    c = codes(g)
    return nets.decode(g, target, jnp.repeat(content, c.shape[0], axis=0), c)

  return Translator(apply, params, *channels, k, input_multiple(config))


def input_multiple(config) -> int:
  return 2**config.model.gen.n_downsample


def torch_networks(config) -> list:
  """The snapshots of NVlabs/MUNIT's trainers (MUNIT and UNIT alike):
  `gen_<iteration:08d>.pt` = {"a": gen_a, "b": gen_b} and `dis_<iteration:08d>.pt` =
  {"a": dis_a, "b": dis_b}, each a state_dict of `networks.AdaINGen` / `VAEGen` /
  `MsImageDis` (the MUNIT decoder's AdaIN layers hold unused running statistics)."""
  g = config.model.gen
  if g.get("shared_blocks", 0):
    raise ValueError(f"config.model.gen.shared_blocks={g.shared_blocks} has no official "
                     f"checkpoint layout (the official trainers share no blocks)")
  extra = (adain_buffers(g.n_res, g.dim * 2**g.n_downsample)
           if kind_of(config) == "munit" else {})
  return ([TorchNetwork(f"gen_{d}", ("gen_*.pt",), "gen_{step:08d}.pt", torch_layers,
                        "translate",
                        path=("G", f"gen_{d}"), entry=d, extra_buffers=extra) for d in "ab"]
          + [TorchNetwork(f"dis_{d}", ("dis_*.pt",), "dis_{step:08d}.pt", torch_layers,
                          path=("D", f"dis_{d}"), entry=d) for d in "ab"])


_COMMON = dict(validate_config=validate_config, make_examples=make_examples,
               image_shapes=image_shapes, create_state=create_state,
               make_train_step=make_train_step, make_sample_fn=make_sample_fn,
               sample_grids=sample_grids, translator=translator,
               directions=("AtoB", "BtoA"), input_multiple=input_multiple,
               torch_networks=torch_networks)
MUNIT_SPEC = ModelSpec(
    name="munit", data_kind=DataKind.TWO_DOMAIN, multimodal=True,
    translate_options=frozenset({"direction", "seed", "num_styles", "references",
                                 "interpolate"}),
    translate_example="--direction=AtoB --num_styles=4", **_COMMON)
UNIT_SPEC = ModelSpec(name="unit", data_kind=DataKind.TWO_DOMAIN,
                      translate_options=frozenset({"direction"}), **_COMMON)
