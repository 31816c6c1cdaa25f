"""StarGAN v2 (Choi et al. 2020): state, one pure train step, sampling grids.

Follows `core/solver.py` of clovaai/stargan-v2. Networks: generator G,
mapping network F, style encoder E, discriminator D (i2ijax.models.stargan_v2).
A batch holds source images x [N, H, W, 3] in [-1, 1] with domains y [N],
and two references x_ref, x_ref2 of one target domain y~ = y_ref [N]; the
step draws z, z2 ~ N(0, I) [N, latent_dim] from its key (the official z_trg,
z_trg2). One iteration:

1. D step, latent-guided: s~ = F(z, y~), fake = G(x, s~) (no gradient),
   L_D = BCE(D(x, y), 1) + BCE(D(fake, y~), 0) + lambda_reg R1(D, x, y);
2. D step, reference-guided: the same with s~ = E(x_ref, y~);
3. G step, latent-guided (updates G, F and E), with s~ = F(z, y~), s~2 = F(z2, y~):
   L_G = BCE(D(G(x, s~), y~), 1) + lambda_sty |E(G(x, s~), y~) - s~|
         - lambda_ds |G(x, s~) - sg(G(x, s~2))| + lambda_cyc |G(G(x, s~), E(x, y)) - x|;
4. G step, reference-guided (updates G only), s~ = E(x_ref, y~), s~2 = E(x_ref2, y~);
5. EMA of G, F, E: ema <- param + beta (ema - param), beta 0.999;
6. lambda_ds decays linearly from its initial value to 0 at ds_iter steps.

Each network has its own Adam (beta 0, 0.99; weight decay 1e-4 coupled as
PyTorch's; lr 1e-4, F 1e-6). G's Adam steps twice per iteration (3 and 4), D's
twice (1 and 2), F's and E's once, as in the official solver. The EMA copies
start from PyTorch's default init, not from the He init of the trained
networks: the official code copies the networks before `he_init`.

Calls that share a network and its parameters are batched (instance norm
and everything else work per sample, so this is exact up to rounding).
"""


import flax.struct
import jax
import jax.numpy as jnp
import optax

from i2ijax import losses
from i2ijax.models.layers import torch_default_params
from i2ijax.models.stargan_v2 import (Discriminator, Generator, MappingNetwork, StyleEncoder,
                                      high_pass_buffer, torch_layers, trunk_blocks)
from i2ijax.registry import DataKind, ModelSpec, TorchNetwork, Translator, block_grid
from i2ijax.train.common import (make_optimizer, norm_metrics, precision,
                                 validate_batch_and_precision, validate_rgb_data)

NETWORKS = ("G", "F", "E", "D")
EMA_NETWORKS = ("G", "F", "E")


@flax.struct.dataclass
class StarGANv2State:
  step: jax.Array
  params: dict  # {"G", "F", "E", "D"}
  ema: dict  # {"G", "F", "E"}: moving averages used for sampling, evaluation and export
  opt_state: dict  # one Adam state per network
  batch_stats: dict  # {} for every network (no batch norm); kept for the shared tools


def validate_config(config) -> None:
  """Raises ValueError naming the config key of any value the model cannot use."""
  m, d = config.model, config.data
  size = d.crop_size
  if size < 16 or size & (size - 1):
    raise ValueError(f"config.data.crop_size={size} (the image size) must be a power of 2, "
                     ">= 16: the networks halve it down to 4 x 4")
  if m.num_domains < 2:
    raise ValueError(f"config.model.num_domains={m.num_domains} must be >= 2")
  for key in ("latent_dim", "style_dim", "hidden_dim", "max_conv_dim", "ds_iter"):
    if m[key] < 1:
      raise ValueError(f"config.model.{key}={m[key]!r} must be >= 1")
  for key in ("lambda_reg", "lambda_cyc", "lambda_sty", "lambda_ds", "w_hpf", "dim_in"):
    if m[key] < 0:
      raise ValueError(f"config.model.{key}={m[key]!r} must be >= 0")
  if not 0.0 <= m.ema_beta <= 1.0:
    raise ValueError(f"config.model.ema_beta={m.ema_beta!r} must be in [0, 1]")
  validate_batch_and_precision(config)
  validate_rgb_data(config, "StarGAN v2")


def build_models(config) -> dict:
  validate_config(config)
  m = config.model
  dt = precision(config)
  kw = dict(img_size=config.data.crop_size, max_conv_dim=m.max_conv_dim,
            dim_in=m.dim_in or None, **dt)
  return {
      "G": Generator(style_dim=m.style_dim, w_hpf=m.w_hpf, **kw),
      "F": MappingNetwork(m.num_domains, m.style_dim, m.hidden_dim, **dt),
      "E": StyleEncoder(style_dim=m.style_dim, num_domains=m.num_domains, **kw),
      "D": Discriminator(num_domains=m.num_domains, **kw),
  }


def make_optimizers(config) -> dict:
  """One `torch.optim.Adam` per network (the shared factory): lr, F at f_lr."""
  o = config.optimizer
  return {name: make_optimizer(config, o.f_lr if name == "F" else o.lr) for name in NETWORKS}


def create_state(config, key, image_shapes, dataset_size: int) -> StarGANv2State:
  """Fresh networks (He init), their EMA copies (PyTorch default init) and Adam states."""
  del dataset_size
  models = build_models(config)
  m = config.model
  dtype = jnp.dtype(m.param_dtype)
  x = jnp.zeros((1, *image_shapes["x_src"]), dtype)
  y = jnp.zeros((1,), jnp.int32)
  s = jnp.zeros((1, m.style_dim), dtype)
  z = jnp.zeros((1, m.latent_dim), dtype)
  inputs = {"G": (x, s), "F": (z, y), "E": (x, y), "D": (x, y)}
  keys = jax.random.split(key, len(NETWORKS) + 1)
  params = {name: models[name].init(k, *inputs[name])["params"]
            for name, k in zip(NETWORKS, keys)}
  ema_keys = jax.random.split(keys[-1], len(EMA_NETWORKS))
  ema = {name: torch_default_params(params[name], k) for name, k in zip(EMA_NETWORKS, ema_keys)}
  opts = make_optimizers(config)
  return StarGANv2State(step=jnp.zeros((), jnp.int32), params=params, ema=ema,
                        opt_state={n: opts[n].init(params[n]) for n in NETWORKS},
                        batch_stats={n: {} for n in NETWORKS})


def lambda_ds_at(config, step):
  """The diversity weight during iteration `step` (0-based): linear from lambda_ds to 0 at
  ds_iter, in config.model.param_dtype.

  The official solver subtracts lambda_ds / ds_iter after each iteration while
  the weight is positive; this is the same line without the accumulated rounding
  (which, past ds_iter, can leave the official weight at -lambda_ds / ds_iter).
  """
  m = config.model
  dtype = jnp.dtype(m.param_dtype)
  t = jnp.asarray(step, dtype)
  return jnp.asarray(m.lambda_ds, dtype) * jnp.maximum(0.0, 1.0 - t / m.ds_iter)


def ema_update(ema, params, beta: float):
  """`torch.lerp(param, ema, beta)` = param + beta (ema - param), leaf by leaf."""
  return jax.tree_util.tree_map(lambda e, p: p + beta * (e - p), ema, params)


# ---------------------------------------------------------------- losses
# `nets` is `build_models(config)`, `hp` is config.model. The random draws (z, z2 ~
# N(0, I) [N, latent_dim]) are arguments, so a caller controls every draw.


def _apply(net, params, *args):
  return net.apply({"params": params}, *args)


def target_styles(params, batch, z, z2, latent_guided, nets):
  """(s~, s~2) [N, style_dim] each: F(z, y~), F(z2, y~) or E(x_ref, y~), E(x_ref2, y~)."""
  y = jnp.concatenate([batch["y_ref"], batch["y_ref"]])
  if latent_guided:
    s = _apply(nets["F"], params["F"], jnp.concatenate([z, z2]), y)
  else:
    s = _apply(nets["E"], params["E"], jnp.concatenate([batch["x_ref"], batch["x_ref2"]]), y)
  return jnp.split(s, 2)


def discriminator_loss(d_params, batch, x_fake, nets, hp):
  """L_D = BCE(D(x, y), 1) + BCE(D(fake, y~), 0) + lambda_reg R1(D, x, y) (Choi et al. 2020,
  eq. 1 with the non-saturating loss and the R1 penalty on real images).

  x_fake [N, H, W, 3]: detached translations into domains batch["y_ref"]. Returns
  (L_D, {"real", "fake", "reg"}).
  """
  D = nets["D"]
  reg, real_logits = losses.r1_penalty(lambda x: _apply(D, d_params, x, batch["y_src"]),
                                       batch["x_src"])
  fake_logits = _apply(D, d_params, x_fake, batch["y_ref"])
  real, fake = losses.vanilla_d_loss(real_logits, fake_logits)
  return real + fake + hp.lambda_reg * reg, {"real": real, "fake": fake, "reg": reg}


def generator_loss(trained, params, batch, z, z2, lambda_ds, latent_guided, nets, hp):
  """L_G = BCE(D(G(x, s~), y~), 1) + lambda_sty |E(G(x, s~), y~) - s~|
  - lambda_ds |G(x, s~) - sg(G(x, s~2))| + lambda_cyc |G(G(x, s~), E(x, y)) - x|
  (Choi et al. 2020, eq. 5), with s~ from latents (latent_guided) or references.

  `trained`: the networks differentiated ({"G", "F", "E"} or {"G"}), overriding
  `params`. Returns (L_G, {"adv", "sty", "ds", "cyc"}).
  """
  params = {**params, **trained}
  G, D, E = nets["G"], nets["D"], nets["E"]
  x_real, y_org, y_trg = batch["x_src"], batch["y_src"], batch["y_ref"]
  s_trg, s_trg2 = target_styles(params, batch, z, z2, latent_guided, nets)
  both = _apply(G, params["G"], jnp.concatenate([x_real, x_real]),
                jnp.concatenate([s_trg, s_trg2]))
  x_fake, x_fake2 = jnp.split(both, 2)
  adv = losses.vanilla_g_loss(_apply(D, params["D"], x_fake, y_trg))
  # One style-encoder call for the style of the fake and of the source.
  styles = _apply(E, params["E"], jnp.concatenate([x_fake, x_real]),
                  jnp.concatenate([y_trg, y_org]))
  s_pred, s_org = jnp.split(styles, 2)
  sty = losses.style_reconstruction_loss(s_pred, s_trg)
  ds = losses.diversity_sensitive_loss(x_fake, x_fake2)
  x_rec = _apply(G, params["G"], x_fake, s_org)
  cyc = losses.cycle_loss(x_rec, x_real)
  total = adv + hp.lambda_sty * sty - lambda_ds * ds + hp.lambda_cyc * cyc
  return total, {"adv": adv, "sty": sty, "ds": ds, "cyc": cyc}


# ---------------------------------------------------------------- train step
def make_train_step(config, dataset_size: int):
  """Returns the pure step `(state, batch, rng, draws=None) -> (state, metrics)`.

  `rng` is the run's base key; the step uses `fold_in(rng, state.step)`, so a
  resumed run draws exactly the latents an uninterrupted one would. `draws`
  (tests) replaces the step's random numbers, named as in the official solver:
  {"z_trg": z, "z_trg2": z2}, each [N, latent_dim].
  """
  del dataset_size
  nets, hp = build_models(config), config.model
  dtype = jnp.dtype(hp.param_dtype)
  opts = make_optimizers(config)
  G, F, E = nets["G"], nets["F"], nets["E"]

  def step_networks(params, opt_state, grads, names):
    params, opt_state = dict(params), dict(opt_state)
    for n in names:
      updates, opt_state[n] = opts[n].update(grads[n], opt_state[n], params[n])
      params[n] = optax.apply_updates(params[n], updates)
    return params, opt_state

  def train_step(state: StarGANv2State, batch, rng, draws=None):
    if draws is None:
      key = jax.random.fold_in(rng, state.step)
      n = batch["x_src"].shape[0]
      k1, k2 = jax.random.split(key)
      draws = {"z_trg": jax.random.normal(k1, (n, hp.latent_dim), dtype),
               "z_trg2": jax.random.normal(k2, (n, hp.latent_dim), dtype)}
    elif set(draws) != {"z_trg", "z_trg2"}:
      raise ValueError(f"draws {sorted(draws)}: the stargan_v2 step draws exactly "
                       "['z_trg', 'z_trg2']")
    z, z2 = draws["z_trg"], draws["z_trg2"]
    x_real, y_trg = batch["x_src"], batch["y_ref"]
    params, opt_state = state.params, state.opt_state
    lambda_ds = lambda_ds_at(config, state.step)
    metrics = {}

    # 1-2. Discriminator: latent-guided, then reference-guided fakes (made
    # with the same G before either D update; one batched G call).
    s_lat = _apply(F, params["F"], z, y_trg)
    s_ref = _apply(E, params["E"], batch["x_ref"], y_trg)
    fakes = _apply(G, params["G"], jnp.concatenate([x_real, x_real]),
                   jnp.concatenate([s_lat, s_ref]))
    fakes = jax.lax.stop_gradient(fakes)
    for tag, x_fake in zip(("latent", "ref"), jnp.split(fakes, 2)):
      (d_total, terms), d_grads = jax.value_and_grad(discriminator_loss, has_aux=True)(
          params["D"], batch, x_fake, nets, hp)
      params, opt_state = step_networks(params, opt_state, {"D": d_grads}, ("D",))
      metrics.update({f"D_{tag}_{k}": v for k, v in terms.items()})

    # 3. Generator, latent-guided: G, F and E are stepped.
    trained = {k: params[k] for k in ("G", "F", "E")}
    (g_total, terms), g_grads = jax.value_and_grad(generator_loss, has_aux=True)(
        trained, params, batch, z, z2, lambda_ds, True, nets, hp)
    params, opt_state = step_networks(params, opt_state, g_grads, ("G", "F", "E"))
    metrics.update({f"G_latent_{k}": v for k, v in terms.items()})

    # 4. Generator, reference-guided: only G is stepped (so only G is differentiated).
    (g_total_ref, terms), grads = jax.value_and_grad(generator_loss, has_aux=True)(
        {"G": params["G"]}, params, batch, z, z2, lambda_ds, False, nets, hp)
    params, opt_state = step_networks(params, opt_state, grads, ("G",))
    metrics.update({f"G_ref_{k}": v for k, v in terms.items()})

    # 5. Moving averages.
    ema = {k: ema_update(state.ema[k], params[k], hp.ema_beta) for k in EMA_NETWORKS}
    metrics.update({"G_latent_total": g_total, "G_ref_total": g_total_ref,
                    "lambda_ds": lambda_ds,
                    **norm_metrics({"D": d_grads, "G": g_grads["G"]},
                                   {"G": params["G"], "D": params["D"]})})
    new_state = state.replace(step=state.step + 1, params=params, opt_state=opt_state, ema=ema)
    return new_state, metrics

  return train_step


# ---------------------------------------------------------------- sampling
def latents_per_domain(config) -> int:
  return config.get("num_sample_latents", 3)


def make_sample_fn(config):
  """`(state, batch, rng) -> {"latent", "reference"}` image blocks, with the EMA networks.

  latent [n, 1 + K * L, H, W, 3]: each source, then G(x, F(z_l, k)) for every
    domain k and L fixed latents (the same z_l for every source and domain);
  reference [n + 1, n + 1, H, W, 3]: a header line of blank + the n
    references, then each source followed by G(x, E(ref_j, y_ref_j)) for every j.
  """
  models = build_models(config)
  m = config.model
  G, F, E = models["G"], models["F"], models["E"]
  n_lat = latents_per_domain(config)

  def sample(state: StarGANv2State, batch, rng):
    p = state.ema
    x = batch["x_src"]
    n = x.shape[0]
    k = m.num_domains
    z = jax.random.normal(jax.random.fold_in(rng, 99), (n_lat, m.latent_dim),
                          jnp.dtype(m.param_dtype))
    # Styles for every (domain, latent): [K * L, style_dim].
    ys = jnp.repeat(jnp.arange(k, dtype=jnp.int32), n_lat)
    styles = F.apply({"params": p["F"]}, jnp.tile(z, (k, 1)), ys)
    cols = styles.shape[0]
    xs = jnp.repeat(x, cols, axis=0)  # source-major
    ss = jnp.tile(styles, (n, 1))
    fake = G.apply({"params": p["G"]}, xs, ss).reshape(n, cols, *x.shape[1:])
    latent = jnp.concatenate([x[:, None], fake], axis=1)
    s_ref = E.apply({"params": p["E"]}, batch["x_ref"], batch["y_ref"])
    fake_r = G.apply({"params": p["G"]}, jnp.repeat(x, n, axis=0), jnp.tile(s_ref, (n, 1)))
    body = jnp.concatenate([x[:, None], fake_r.reshape(n, n, *x.shape[1:])], axis=1)
    header = jnp.concatenate([jnp.ones_like(x[:1]), batch["x_ref"]])[None]
    return {"latent": latent, "reference": jnp.concatenate([header, body], axis=0)}

  return sample


def sample_grids(config, images: dict) -> dict:
  """{"latent": source x (domain, latent) grid, "reference": source x reference grid}."""
  lat, ref = images["latent"], images["reference"]
  n, n_lat = lat.shape[0], latents_per_domain(config)
  cols = ["source"] + [f"domain {k} z{l}" for k in range(config.model.num_domains)
                       for l in range(n_lat)]
  return {"latent": block_grid(lat, [f"source #{i}" for i in range(n)], cols),
          "reference": block_grid(ref, ["references"] + [f"source #{i}" for i in range(n)],
                                  ["source"] + [f"ref #{j}" for j in range(n)])}


def make_examples(config, split: str = "train", seed: int | None = None):
  """(example function, dataset size, image shapes) of the multi-domain data."""
  from i2ijax.data.pipeline import MultiDomainExamples, make_transform
  from i2ijax.data.sources import multi_domain_sources
  _, domains = multi_domain_sources(config.data, split, config.model.num_domains)
  examples = MultiDomainExamples(domains, transform=make_transform(config.data),
                                 seed=config.seed if seed is None else seed)
  return examples, examples.size, image_shapes(config)


def image_shapes(config) -> dict:
  """{batch key: (H, W, C)} of the training images."""
  size = config.data.crop_size
  return {k: (size, size, 3) for k in ("x_src", "x_ref", "x_ref2")}


def translator(config, request):
  """Into domain `request.domain` with the EMA networks (as the official sampling and evaluation).

  Styles: F(z_k, domain) for k < num_styles with z_k ~ N(0, I) [1, latent_dim]
  from seed `request.seed + k`, or E(reference, domain) for each reference
  image (float [img_size, img_size, 3] in [-1, 1]). Inputs are resized to
  img_size.
  """
  models = build_models(config)
  m = config.model
  G, F, E = models["G"], models["F"], models["E"]
  domain = request.domain
  if domain is None or not 0 <= domain < m.num_domains:
    raise ValueError(f"domain {domain} is out of range: the model has {m.num_domains} domains "
                     "(pass --domain as an index or a domain name)")
  refs = jnp.stack([jnp.asarray(r) for r in request.references]) if request.references else None
  k = refs.shape[0] if refs is not None else request.num_styles
  y = jnp.full((k,), domain, jnp.int32)
  z = jnp.concatenate([jax.random.normal(jax.random.key(request.seed + i), (1, m.latent_dim),
                                         jnp.dtype(m.param_dtype)) for i in range(k)])

  @jax.jit
  def apply(p, x):
    if refs is None:
      styles = F.apply({"params": p["F"]}, z, y)
    else:
      styles = E.apply({"params": p["E"]}, refs, y)
    return G.apply({"params": p["G"]}, jnp.repeat(x, k, axis=0), styles)

  return Translator(apply, lambda state: state.ema, 3, 3, k, size=config.data.crop_size)


def torch_networks(config) -> list:
  """The official `<step:06d>_nets.ckpt` ({"generator", "mapping_network", "style_encoder",
  "discriminator"}: the trained networks) and `<step:06d>_nets_ema.ckpt` (the moving
  averages, which translate: the released pretrained files) of clovaai/stargan-v2's
  `CheckpointIO`. A "fan" entry (the w_hpf > 0 face-landmark network) is not read."""
  n = trunk_blocks(config.data.crop_size)
  hpf = high_pass_buffer(config.model.w_hpf)
  entries = {"G": "generator", "F": "mapping_network", "E": "style_encoder",
             "D": "discriminator"}
  out = []
  for net, entry in entries.items():
    extra = hpf if net == "G" else {}
    out.append(TorchNetwork(net, ("*_nets.ckpt",), "{step:06d}_nets.ckpt", torch_layers(net, n),
                            "optional" if net == "D" else "train", entry=entry,
                            extra_buffers=extra))
    if net != "D":
      out.append(TorchNetwork(f"{net}_ema", ("*_nets_ema.ckpt",), "{step:06d}_nets_ema.ckpt",
                              torch_layers(net, n), "translate", attr="ema", path=(net,),
                              entry=entry, extra_buffers=extra))
  return out


SPEC = ModelSpec(
    name="stargan_v2", data_kind=DataKind.MULTI_DOMAIN, validate_config=validate_config,
    make_examples=make_examples, image_shapes=image_shapes, create_state=create_state,
    make_train_step=make_train_step, make_sample_fn=make_sample_fn, sample_grids=sample_grids,
    translator=translator, translate_options=frozenset({"domain", "seed", "num_styles",
                                                        "references"}),
    directions=(), multimodal=True, translate_example="--domain=1 --seed=0",
    torch_networks=torch_networks)
