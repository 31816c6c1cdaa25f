"""U-GAT-IT (Kim et al., ICLR 2020): state, one pure train step, sampling, translation.

Follows `UGATIT.train` of znxlwm/UGATIT-pytorch. genA2B: A -> B, genB2A:
B -> A; disGA / disLA (global, 7 layers / local, 5 layers) judge domain A,
disGB / disLB domain B. Every discriminator returns patch logits and CAM
logits, each judged with LSGAN. Per iteration, in the official order:
1. discriminator update (one Adam over the four Ds) on
   L_D = adv_weight * sum over D of [MSE(D(real), 1) + MSE(D(fake), 0)
         + MSE(D_cam(real), 1) + MSE(D_cam(fake), 0)],
   fakes genA2B(A), genB2A(B) from the current generators;
2. generator update (one Adam over both) on, for domain A (B alike),
   L_G_A = adv_weight * sum over disGA, disLA of [MSE(D(genB2A(B)), 1)
           + MSE(D_cam(genB2A(B)), 1)]
           + cycle_weight |genB2A(genA2B(A)) - A|_1
           + identity_weight |genB2A(A) - A|_1
           + cam_weight * losses.cam_loss(cam of genB2A(B), cam of genB2A(A)),
   judged by the just-updated discriminators;
3. every rho of the generators' AdaILN / ILN layers clipped to [0, 1].
Both Adams: lr 1e-4, betas (0.5, 0.999), weight decay 1e-4 coupled (added to
the gradient, as torch.optim.Adam). Every discriminator call runs one power
iteration of each spectral norm (PyTorch's training mode), so each D's u/v
advance three times per iteration (real, fake, then the generator update's
fake), in `batch_stats`. The step draws no random numbers.

Schedule (`optimizer.lr_policy`): "official" (`--decay_flag True`, the
default): before iteration s (1-based) > T // 2 the official loop subtracts
lr / (T // 2), T = num_train_steps: linear to 0 at s = T (for odd T the last
rate is -lr / (T // 2), as the official loop computes it); "constant".
Batches are dicts {"A": [N, H, W, 3], "B": [N, H, W, 3]} in [-1, 1].
"""

from typing import Any

import flax.struct
import jax
import jax.numpy as jnp
import ml_collections
import optax

from i2ijax import losses
from i2ijax.models.layers import torch_default_params
from i2ijax.models.ugatit import (Discriminator, ResnetGenerator, variables_from_torch,
                                  variables_to_torch)
from i2ijax.registry import DataKind, ModelSpec, TorchNetwork, Translator, rows_grid
from i2ijax.train.common import (make_optimizer, norm_metrics, precision,
                                 validate_batch_and_precision, validate_rgb_data)

GENERATORS = ("genA2B", "genB2A")
DISCRIMINATORS = ("disGA", "disGB", "disLA", "disLB")
TRANSLATORS = {"AtoB": "genA2B", "BtoA": "genB2A"}
# Which domain each discriminator judges.
JUDGES = {"A": ("disGA", "disLA"), "B": ("disGB", "disLB")}
LR_POLICIES = ("official", "constant")


@flax.struct.dataclass
class UGATITState:
  step: jax.Array
  params: dict  # {"genA2B", "genB2A", "disGA", "disGB", "disLA", "disLB"} -> flax params
  batch_stats: dict  # same keys: spectral norm vectors {"u", "v"} of the Ds; {} for the Gs
  g_opt_state: Any
  d_opt_state: Any


def validate_config(config) -> None:
  """Raises ValueError naming the config key of any value the model cannot use."""
  m, o = config.model, config.optimizer
  for key in ("ch", "n_layers_global", "n_layers_local"):
    if m[key] < 1:
      raise ValueError(f"config.model.{key}={m[key]!r} must be >= 1")
  for key in ("n_layers_global", "n_layers_local"):
    if m[key] < 3:
      raise ValueError(f"config.model.{key}={m[key]!r} must be >= 3")
  for key in ("n_res", "adv_weight", "cycle_weight", "identity_weight", "cam_weight"):
    if m[key] < 0:
      raise ValueError(f"config.model.{key}={m[key]!r} must be >= 0")
  if o.lr_policy not in LR_POLICIES:
    raise ValueError(f"config.optimizer.lr_policy={o.lr_policy!r} is not one of "
                     f"{list(LR_POLICIES)}")
  if o.lr_policy == "official" and config.num_train_steps < 2:
    raise ValueError(f"config.num_train_steps={config.num_train_steps} must be >= 2 with "
                     "config.optimizer.lr_policy='official' (it decays over the second half)")
  validate_batch_and_precision(config)
  validate_rgb_data(config, "U-GAT-IT")
  d = config.data
  if d.preprocess == "none":
    raise ValueError("config.data.preprocess='none' is not possible for U-GAT-IT: its "
                     "generator's MLP reads a feature map of fixed size (crop_size)")
  if d.crop_size % 4:
    raise ValueError(f"config.data.crop_size={d.crop_size} must be a multiple of 4 (the "
                     "generator downsamples twice by 2)")
  for key in ("n_layers_global", "n_layers_local"):
    side = d.crop_size
    for _ in range(m[key] - 2):
      side = (side + 2 - 4) // 2 + 1
    side = side + 2 - 4 + 1  # the stride-1 conv
    if side < 2 or side + 2 - 4 + 1 < 1:
      raise ValueError(f"config.data.crop_size={d.crop_size} is too small for "
                       f"config.model.{key}={m[key]}: its last convolutions would see a "
                       f"{max(side, 0)}x{max(side, 0)} map (the official global D needs 128 px)")


def build_models(config: ml_collections.ConfigDict) -> dict:
  """The six networks, by the official names."""
  validate_config(config)
  m = config.model
  dt = precision(config)
  gen = lambda: ResnetGenerator(3, m.ch, m.n_res, config.data.crop_size, m.light, **dt)
  return {"genA2B": gen(), "genB2A": gen(),
          "disGA": Discriminator(m.ch, m.n_layers_global, **dt),
          "disGB": Discriminator(m.ch, m.n_layers_global, **dt),
          "disLA": Discriminator(m.ch, m.n_layers_local, **dt),
          "disLB": Discriminator(m.ch, m.n_layers_local, **dt)}


def learning_rate_schedule(config):
  """The rate of iteration t (0-based; the official step s = t + 1), in param_dtype."""
  o = config.optimizer
  dtype = jnp.dtype(config.model.param_dtype)
  if o.lr_policy == "constant":
    return lambda count: jnp.asarray(o.lr, dtype)
  half = config.num_train_steps // 2

  def schedule(count):
    decays = jnp.maximum(0, jnp.asarray(count, jnp.int32) + 1 - half).astype(dtype)
    return jnp.asarray(o.lr, dtype) - decays * jnp.asarray(o.lr / half, dtype)

  return schedule


def create_state(config, key, image_shapes, dataset_size: int) -> UGATITState:
  """Fresh networks with PyTorch's default initialisation (the official code sets none;
  rho 0.9 in AdaILN, 0 in ILN; spectral-norm u, v ~ N(0, 1) normalised), and both Adams."""
  del dataset_size
  models = build_models(config)
  opt = make_optimizer(config, learning_rate_schedule(config))
  dtype = jnp.dtype(config.model.param_dtype)
  params, stats = {}, {}
  keys = dict(zip(GENERATORS + DISCRIMINATORS, jax.random.split(key, 6)))
  for name, module in models.items():
    x = jnp.zeros((1, *image_shapes["A" if name in ("genA2B", "disGA", "disLA") else "B"]),
                  dtype)
    k_init, k_torch = jax.random.split(keys[name])
    variables = module.init(k_init, x)
    params[name] = torch_default_params(variables["params"], k_torch)
    stats[name] = variables.get("batch_stats", {})
  g_params = {k: params[k] for k in GENERATORS}
  d_params = {k: params[k] for k in DISCRIMINATORS}
  return UGATITState(step=jnp.zeros((), jnp.int32), params=params, batch_stats=stats,
                     g_opt_state=opt.init(g_params), d_opt_state=opt.init(d_params))


# ---------------------------------------------------------------- networks and losses
def generate(nets, params, name, x):
  """(image, cam_logit [N, 2], heatmap) of generator `name` (stateless)."""
  return nets[name].apply({"params": params[name]}, x)


def discriminate(nets, params, stats, name, x):
  """((logits, cam_logit, heatmap), stats): discriminator `name` in PyTorch's training mode,
  one power iteration of its spectral norms, whose new vectors replace its entry of `stats`."""
  variables = {"params": params[name], "batch_stats": stats[name]}
  out, new = nets[name].apply(variables, x, update=True, mutable=["batch_stats"])
  return out, {**stats, name: new["batch_stats"]}


def mse(x, target: float):
  """`nn.MSELoss()(x, full_like(x, target))`: the mean squared error over all elements."""
  return jnp.mean(jnp.square(x - target))


def discriminator_loss(d_params, stats, reals, fakes, nets, hp):
  """L_D (module docstring, step 1): reals/fakes {"A", "B"} (fakes of that domain).

  Each D judges the real batch, then the fake one (two power iterations), as
  the official calls. Returns (L_D, (weighted terms, stats)).
  """
  terms = {}
  for domain in ("A", "B"):
    for name in JUDGES[domain]:
      (real, real_cam, _), stats = discriminate(nets, d_params, stats, name, reals[domain])
      (fake, fake_cam, _), stats = discriminate(nets, d_params, stats, name, fakes[domain])
      tag = name[3:]  # GA, LA, GB, LB
      terms[f"D_ad_{tag}"] = hp.adv_weight * (mse(real, 1.0) + mse(fake, 0.0))
      terms[f"D_ad_cam_{tag}"] = hp.adv_weight * (mse(real_cam, 1.0) + mse(fake_cam, 0.0))
  return sum(terms.values()), (terms, stats)


def generator_loss(g_params, d_params, stats, batch, nets, hp):
  """L_G_A + L_G_B (module docstring, step 2). Returns (L_G, (weighted terms, images, stats))."""
  real_a, real_b = batch["A"], batch["B"]
  n = real_a.shape[0]
  # Per-sample networks: the two calls of each generator on real images run as one batch.
  a2b, cam_ab, heat_ab = generate(nets, g_params, "genA2B", jnp.concatenate([real_a, real_b]))
  b2a, cam_ba, heat_ba = generate(nets, g_params, "genB2A", jnp.concatenate([real_b, real_a]))
  fake_a2b, fake_b2b = a2b[:n], a2b[n:]
  fake_b2a, fake_a2a = b2a[:n], b2a[n:]
  fake_a2b2a, _, _ = generate(nets, g_params, "genB2A", fake_a2b)
  fake_b2a2b, _, _ = generate(nets, g_params, "genA2B", fake_b2a)
  fakes = {"A": fake_b2a, "B": fake_a2b}
  terms = {}
  for domain in ("A", "B"):
    for name in JUDGES[domain]:
      (logit, cam, _), stats = discriminate(nets, d_params, stats, name, fakes[domain])
      tag = name[3:]
      terms[f"G_ad_{tag}"] = hp.adv_weight * mse(logit, 1.0)
      terms[f"G_ad_cam_{tag}"] = hp.adv_weight * mse(cam, 1.0)
  terms["G_recon_A"] = hp.cycle_weight * losses.cycle_loss(fake_a2b2a, real_a)
  terms["G_recon_B"] = hp.cycle_weight * losses.cycle_loss(fake_b2a2b, real_b)
  terms["G_identity_A"] = hp.identity_weight * losses.identity_loss(fake_a2a, real_a)
  terms["G_identity_B"] = hp.identity_weight * losses.identity_loss(fake_b2b, real_b)
  terms["G_cam_A"] = hp.cam_weight * losses.cam_loss(cam_ba[:n], cam_ba[n:])
  terms["G_cam_B"] = hp.cam_weight * losses.cam_loss(cam_ab[:n], cam_ab[n:])
  images = {"fake_A2B": fake_a2b, "fake_B2A": fake_b2a, "heatmap_A2B": heat_ab[:n],
            "heatmap_B2A": heat_ba[:n]}
  return sum(terms.values()), (terms, images, stats)


def clip_rho(params):
  """Every `rho` leaf (AdaILN, ILN) clipped to [0, 1]: the official `RhoClipper(0, 1)`,
  applied after each generator update."""
  def clip(path, leaf):
    return jnp.clip(leaf, 0.0, 1.0) if getattr(path[-1], "key", None) == "rho" else leaf
  return jax.tree_util.tree_map_with_path(clip, params)


# ---------------------------------------------------------------- train step
def make_train_step(config, dataset_size: int):
  """Returns the pure step `(state, batch, rng) -> (state, metrics)` (it draws nothing)."""
  del dataset_size
  nets, hp = build_models(config), config.model
  sched = learning_rate_schedule(config)
  opt = make_optimizer(config, sched)

  def train_step(state: UGATITState, batch, rng):
    del rng
    g_params = {k: state.params[k] for k in GENERATORS}
    d_params = {k: state.params[k] for k in DISCRIMINATORS}

    # 1. Discriminators, on the current generators' translations.
    fakes = {"B": generate(nets, g_params, "genA2B", batch["A"])[0],
             "A": generate(nets, g_params, "genB2A", batch["B"])[0]}
    fakes = jax.lax.stop_gradient(fakes)
    (d_total, (d_terms, stats)), d_grads = jax.value_and_grad(discriminator_loss, has_aux=True)(
        d_params, state.batch_stats, batch, fakes, nets, hp)
    updates, d_opt_state = opt.update(d_grads, state.d_opt_state, d_params)
    d_params = optax.apply_updates(d_params, updates)

    # 2. Generators, judged by the updated discriminators; 3. rho clipped.
    (g_total, (g_terms, _, stats)), g_grads = jax.value_and_grad(generator_loss, has_aux=True)(
        g_params, d_params, stats, batch, nets, hp)
    updates, g_opt_state = opt.update(g_grads, state.g_opt_state, g_params)
    g_params = clip_rho(optax.apply_updates(g_params, updates))

    new_state = state.replace(step=state.step + 1, params={**g_params, **d_params},
                              batch_stats=stats, g_opt_state=g_opt_state,
                              d_opt_state=d_opt_state)
    metrics = {**d_terms, **g_terms, "D_total": d_total, "G_total": g_total,
               **norm_metrics({"G": g_grads, "D": d_grads}, {"G": g_params, "D": d_params}),
               "lr": sched(state.step)}
    return new_state, metrics

  return train_step


# ---------------------------------------------------------------- heatmaps, samples, translation
def heatmap_colours(heatmap, size: int):
  """Heatmaps [N, h, w, 1] -> RGB images [N, size, size, 3] in [-1, 1], as the official `cam`:
  each map shifted to min 0 and scaled to max 1, resized (bilinear) and coloured with the
  jet colour map (blue low, red high)."""
  h = heatmap - jnp.min(heatmap, axis=(1, 2, 3), keepdims=True)
  h = h / jnp.maximum(jnp.max(h, axis=(1, 2, 3), keepdims=True), 1e-12)
  h = jax.image.resize(h, (h.shape[0], size, size, 1), "bilinear")
  rgb = jnp.concatenate([jnp.clip(1.5 - jnp.abs(4.0 * h - c), 0.0, 1.0) for c in (3.0, 2.0, 1.0)],
                        axis=-1)
  return rgb * 2.0 - 1.0


def make_sample_fn(config):
  """`(state, batch, rng) -> {name: images}`: the official sample columns per domain - real,
  identity heatmap, identity, translation heatmap, translation, cycle heatmap, cycle."""
  nets = build_models(config)
  size = config.data.crop_size

  def sample(state: UGATITState, batch, rng):
    del rng
    out = {}
    for src, fwd, back in (("A", "genA2B", "genB2A"), ("B", "genB2A", "genA2B")):
      other = "B" if src == "A" else "A"
      x = batch[src]
      idt, _, h_idt = generate(nets, state.params, back, x)
      fake, _, h_fake = generate(nets, state.params, fwd, x)
      rec, _, h_rec = generate(nets, state.params, back, fake)
      out.update({f"real_{src}": x, f"idt_{src}_heatmap": heatmap_colours(h_idt, size),
                  f"idt_{src}": idt, f"fake_{src}2{other}_heatmap": heatmap_colours(h_fake, size),
                  f"fake_{src}2{other}": fake,
                  f"rec_{src}_heatmap": heatmap_colours(h_rec, size), f"rec_{src}": rec})
    return out

  return sample


def sample_grids(config, images: dict) -> dict:
  """One grid: an A line and a B line per example, the official seven columns."""
  del config
  rows = tuple((f"real_{s}", f"idt_{s}_heatmap", f"idt_{s}", f"fake_{s}2{o}_heatmap",
                f"fake_{s}2{o}", f"rec_{s}_heatmap", f"rec_{s}") for s, o in (("A", "B"), ("B", "A")))
  return {"samples": rows_grid(images, rows, ["A", "B"],
                               ["real", "idt CAM", "identity", "CAM", "translated", "cyc CAM",
                                "cycle"])}


def translator(config, request):
  """genA2B (AtoB) or genB2A (BtoA) on one image, resized to crop_size as the official test
  does; returns {"image", "heatmap"} (the attention heatmap, jet-coloured, image-sized)."""
  nets = build_models(config)
  name = TRANSLATORS[request.direction]
  size = config.data.crop_size

  @jax.jit
  def apply(params, x):
    image, _, heat = nets[name].apply({"params": params}, x)
    return {"image": image, "heatmap": heatmap_colours(heat, size)}

  return Translator(apply, lambda state: state.params[name], 3, 3, 1, 4, size=size,
                    extras=("heatmap",))


def image_shapes(config) -> dict:
  size = config.data.crop_size
  return {"A": (size, size, 3), "B": (size, size, 3)}


def make_examples(config, split: str = "train", seed: int | None = None):
  """(example function, dataset size, image shapes) of the unaligned A/B data."""
  from i2ijax.train.cyclegan import make_examples as unaligned_examples
  return unaligned_examples(config, split, seed)


def torch_networks(config) -> list:
  """The official `<dataset>_params_<step:07d>.pt` (and `_params_latest.pt`) of
  znxlwm/UGATIT-pytorch: {"genA2B", "genB2A", "disGA", "disGB", "disLA", "disLB"}
  state_dicts, spectral norms as `weight_orig` / `weight_u` / `weight_v`."""
  del config
  return [TorchNetwork(name, ("*_params_*.pt",), "{run}_params_{step:07d}.pt", None,
                       "translate" if name.startswith("gen") else "optional", entry=name,
                       to_torch=variables_to_torch,
                       from_torch=lambda sd, like: variables_from_torch(sd))
          for name in ("genA2B", "genB2A", "disGA", "disGB", "disLA", "disLB")]


SPEC = ModelSpec(
    name="ugatit", data_kind=DataKind.TWO_DOMAIN, validate_config=validate_config,
    make_examples=make_examples, image_shapes=image_shapes, create_state=create_state,
    make_train_step=make_train_step, make_sample_fn=make_sample_fn, sample_grids=sample_grids,
    translator=translator, directions=tuple(TRANSLATORS), input_multiple=lambda config: 4,
    translate_options=frozenset({"direction"}), torch_networks=torch_networks)
