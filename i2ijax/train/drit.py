"""DRIT++ (Lee et al., ECCV 2018 / IJCV 2020): state, one pure train step, sampling, translation.

Follows `src/train.py` and `src/model.py` of HsinYingLee/DRIT (master =
DRIT++, `--concat 1`, mode seeking on). Networks (`models/drit.py`): enc_c
(content encoders with a shared block), enc_a (attribute encoders, mean and
log-variance), gen (generators with a shared block), disA / disB (judge
translations with encoded attributes), disA2 / disB2 (with random
attributes), all multi-scale, and disContent (on content maps).

One step is one official `it`: one batch {"A", "B"} of N (even) images per
domain; the first N/2 are the "encoded" half, the last N/2 the "random" half
(the official batch 2: one each). Which update a step runs is the official
loop's: iteration `it` of an epoch (`dataset_size // N` batches) only updates
disContent when (it + 1) % d_iter != 0 and it < len(loader) - 2; otherwise it
runs the full update (`step_phase`). The full update, in the official order:

1. forward (training mode; content noise and attribute samples drawn):
   contents z_c = E_c(x) + noise, attributes z_a = mu + exp(logvar / 2) * eps,
   z_random, z_random2 ~ N(0, I); G_A on (z_c^B, z_a^A), (z_c^A, z_a^A),
   (z_c^B, z_random), (z_c^B, z_random2) gives fake_A_encoded, fake_AA_encoded,
   fake_A_random, fake_A_random2 (B alike); the fakes re-encoded give the
   cycle reconstructions fake_A_recon, fake_B_recon; mu2 = E_a-mean of the
   random-attribute fakes;
2. each image D: BCE(D(real), 1) + BCE(D(fake), 0) summed over scales
   (disA2 / disB2 on both random fakes, against the random half);
   disContent: BCE(D_c(z_c^B), 1) + BCE(D_c(z_c^A), 0), gradient norm clipped
   to `content_clip`, at lr / `content_lr_divisor`;
3. E_c, E_a, G on, with the updated discriminators,
   L_EG = sum over domains [BCE(D(fake_encoded), 1) over scales
          + content_adversarial_loss(D_c(z_c)) + lambda_kl_attr * KL(z_a)
          + lambda_kl_content * mean(z_c^2)
          + lambda_cycle * |fake_recon - x|_1 + lambda_self * |fake_self - x|_1];
4. E_c and G again (a second Adam step) on
   L_alone = sum over domains [BCE(D2(fake_random), 1) + BCE(D2(fake_random2), 1)
             + lambda_latent * |mu2 - z_random|_1]
             + mode_seeking_loss(...) per direction.
   Both gradients are taken at the weights of step 1's forward pass. (The
   official code steps E_c and G between the two backward passes of one
   graph; PyTorch >= 1.5 refuses that, and PyTorch 0.4 back-propagated the
   second loss through the stored activations with the updated weights.)

Adam lr 1e-4, betas (0.5, 0.999), coupled weight decay 1e-4, per network (E_c
and G take two steps per full update, so their Adam counts advance twice);
the rate is the official `LambdaLR` of the epoch: constant for n_epochs, then
linear over n_epochs_decay (`lr_policy` "linear" with epoch_count 0).
"""

import flax.struct
import jax
import jax.numpy as jnp
import ml_collections
import optax

from i2ijax import losses
from i2ijax.models.drit import (AttributeEncoders, ContentDiscriminator, ContentEncoders,
                                Generators, image_discriminator, variables_from_torch,
                                variables_to_torch)
from i2ijax.models.layers import normal_init, torch_default_params
from i2ijax.registry import DataKind, ModelSpec, TorchNetwork, Translator, rows_grid
from i2ijax.train.common import (clip_grad_norm, interpolate_codes, learning_rate_schedule,
                                 make_optimizer, norm_metrics, precision, style_request,
                                 validate_batch_and_precision, validate_rgb_data)
# The unaligned A/B data of CycleGAN (the official `dataset_unpair` pairs likewise).
from i2ijax.train.cyclegan import image_shapes, make_examples

IMAGE_DS = ("disA", "disB", "disA2", "disB2")
NETS = ("enc_c", "enc_a", "gen") + IMAGE_DS + ("disContent",)
DOMAINS = ("A", "B")
OTHER = {"A": "B", "B": "A"}
# The random numbers of a full update, in the official order (content-only updates draw the
# first two).
DRAWS = ("noise_A", "noise_B", "eps_A", "eps_B", "z_random", "z_random2", "noise_recon_A",
         "noise_recon_B", "eps_recon_A", "eps_recon_B")
FULL_METRICS = ("disA", "disA2", "disB", "disB2", "disContent", "gan_loss_a", "gan_loss_b",
                "gan_loss_acontent", "gan_loss_bcontent", "kl_loss_za_a", "kl_loss_za_b",
                "kl_loss_zc_a", "kl_loss_zc_b", "l1_recon_A", "l1_recon_B", "l1_recon_AA",
                "l1_recon_BB", "G_loss", "l1_recon_z_a", "l1_recon_z_b", "gan2_loss_a",
                "gan2_loss_b", "lz_AB", "lz_BA")


@flax.struct.dataclass
class DRITState:
  step: jax.Array
  params: dict  # NETS -> flax params
  opt_state: dict  # "dis" (the four image Ds), "disContent", "enc_c_gen", "enc_a"


# ---------------------------------------------------------------- config and networks
def content_side(config) -> int:
  return config.data.crop_size // 4


def content_logit_side(side: int, layers: int) -> int:
  """Side of the content discriminator's logit map for a content map of `side`."""
  for _ in range(layers):
    side = (side + 2 - 7) // 2 + 1
  return side - 4 + 1


def validate_config(config) -> None:
  """Raises ValueError naming the config key of any value the model cannot use."""
  m = config.model
  for key in ("ch", "nz", "d_iter", "dis_scales", "dis_layers"):
    if m[key] < 1:
      raise ValueError(f"config.model.{key}={m[key]!r} must be >= 1")
  for key in ("lambda_cycle", "lambda_self", "lambda_kl_attr", "lambda_kl_content",
              "lambda_latent", "content_clip"):
    if m[key] < 0:
      raise ValueError(f"config.model.{key}={m[key]!r} must be >= 0")
  if m.content_lr_divisor <= 0:
    raise ValueError(f"config.model.content_lr_divisor={m.content_lr_divisor!r} must be > 0")
  if config.batch_size < 2 or config.batch_size % 2:
    raise ValueError(f"config.batch_size={config.batch_size} must be even (>= 2): DRIT++ "
                     "splits each batch into an 'encoded' and a 'random' half")
  if config.optimizer.lr_policy not in ("linear", "constant"):
    raise ValueError(f"config.optimizer.lr_policy={config.optimizer.lr_policy!r} is not one of "
                     "['linear', 'constant']")
  validate_batch_and_precision(config)
  validate_rgb_data(config, "DRIT++")
  d = config.data
  if d.preprocess == "none":
    raise ValueError("config.data.preprocess='none' is not possible for DRIT++: every batch "
                     "needs one size (set crop_size)")
  if d.crop_size % 4:
    raise ValueError(f"config.data.crop_size={d.crop_size} must be a multiple of 4")
  smallest = -(-d.crop_size // 2 ** (m.dis_scales - 1)) // 2 ** (m.dis_layers - 1)
  if smallest < 2:
    raise ValueError(f"config.data.crop_size={d.crop_size} is too small for "
                     f"config.model.dis_scales={m.dis_scales} and dis_layers={m.dis_layers}: "
                     f"the last conv of the coarsest scale would see {smallest} px (it pads "
                     f"by reflection, which needs 2); crop_size >= "
                     f"{2 ** (m.dis_scales + m.dis_layers - 1)} is needed")
  side = content_side(config)
  if content_logit_side(side, m.content_d_layers) < 1:
    raise ValueError(f"config.data.crop_size={d.crop_size} is too small for "
                     f"config.model.content_d_layers={m.content_d_layers}: the content "
                     f"discriminator needs a content map of at least "
                     f"{_min_content_side(m.content_d_layers)} px (crop_size / 4)")


def _min_content_side(layers: int) -> int:
  side = 1
  while content_logit_side(side, layers) < 1:
    side += 1
  return side


def build_models(config: ml_collections.ConfigDict) -> dict:
  """The eight networks, by the official names."""
  validate_config(config)
  m, dt = config.model, precision(config)
  ds = lambda: image_discriminator(m.dis_scales, m.dis_layers, ch=m.ch, **dt)
  return {"enc_c": ContentEncoders(m.ch, **dt), "enc_a": AttributeEncoders(m.ch, m.nz, **dt),
          "gen": Generators(4 * m.ch, m.nz, **dt), "disA": ds(), "disB": ds(), "disA2": ds(),
          "disB2": ds(), "disContent": ContentDiscriminator(4 * m.ch, m.content_d_layers, **dt)}


def _gaussian_kernels(params, key):
  """Every conv / transposed-conv kernel (4-D) ~ N(0, 0.02): the official
  `gaussian_weights_init` (Linear layers and all biases keep PyTorch's defaults)."""
  leaves, treedef = jax.tree_util.tree_flatten_with_path(params)
  keys = iter(jax.random.split(key, len(leaves)))
  out = [normal_init(0.02)(next(keys), v.shape, v.dtype)
         if getattr(p[-1], "key", None) == "kernel" and v.ndim == 4 else v for p, v in leaves]
  return jax.tree_util.tree_unflatten(treedef, out)


def create_state(config, key, image_shapes, dataset_size: int) -> DRITState:
  """Fresh networks initialised as the official `DRIT.initialize` leaves them, and the Adams."""
  del dataset_size
  nets = build_models(config)
  dtype = jnp.dtype(config.model.param_dtype)
  half = config.batch_size // 2
  x = {d: jnp.zeros((half, *image_shapes[d]), dtype) for d in DOMAINS}
  side, nz = content_side(config), config.model.nz
  c = jnp.zeros((half, side, side, 4 * config.model.ch), dtype)
  z = jnp.zeros((half, nz), dtype)
  args = {"enc_c": (x["A"], x["B"]), "enc_a": (x["A"], x["B"]), "gen": (c, c, z, z),
          "disA": (x["A"],), "disA2": (x["A"],), "disB": (x["B"],), "disB2": (x["B"],),
          "disContent": (c,)}
  params = {}
  for name, k in zip(NETS, jax.random.split(key, len(NETS))):
    k_init, k_torch, k_gauss = jax.random.split(k, 3)
    p = nets[name].init(k_init, *args[name])["params"]
    params[name] = _gaussian_kernels(torch_default_params(p, k_torch), k_gauss)
  opt = make_optimizer(config, 1.0)
  groups = optimizer_groups(params)
  return DRITState(step=jnp.zeros((), jnp.int32), params=params,
                   opt_state={k: opt.init(v) for k, v in groups.items()})


def optimizer_groups(params: dict) -> dict:
  """The parameters of each Adam state: networks always stepped together share one (Adam is
  elementwise, so that equals the official one optimizer per network)."""
  return {"dis": {k: params[k] for k in IMAGE_DS}, "disContent": params["disContent"],
          "enc_c_gen": {k: params[k] for k in ("enc_c", "gen")}, "enc_a": params["enc_a"]}


def _content_only(config, step, dataset_size: int):
  """The official test for a content-discriminator-only iteration, on a Python int or a traced
  step: it = step mod (batches per epoch); (it + 1) % d_iter != 0 and it < len(loader) - 2."""
  n = config.batch_size
  it = step % max(1, dataset_size // n)
  loader_len = -(-dataset_size // n)
  return ((it + 1) % config.model.d_iter != 0) & (it < loader_len - 2)


def full_update(config, step: int, dataset_size: int) -> bool:
  """Whether batch `step` (0-based) runs the full update (else disContent alone), as the
  official loop decides it (`_content_only`; `ModelSpec.step_phase`)."""
  return not bool(_content_only(config, int(step), dataset_size))


def full_update_traced(config, step, dataset_size: int):
  """`full_update` of a traced step."""
  return jnp.logical_not(_content_only(config, step, dataset_size))


# ---------------------------------------------------------------- the step
def draw(key, half: int, content_shape: tuple, nz: int, dtype) -> dict:
  """The random numbers of one step (`DRAWS`): content noise [half, h, w, C], the rest
  [half, nz], all N(0, 1)."""
  keys = dict(zip(DRAWS, jax.random.split(key, len(DRAWS))))
  return {k: jax.random.normal(keys[k], (half, *content_shape) if k.startswith("noise")
                               else (half, nz), dtype) for k in DRAWS}


def bce_over_scales(outputs, target: float):
  """sum over scales of BCE(sigmoid(logits), target), each a mean over its elements."""
  return sum(jnp.mean(optax.sigmoid_binary_cross_entropy(o, jnp.full_like(o, target)))
             for o in outputs)


def make_train_step(config, dataset_size: int):
  """Returns the pure step `(state, batch, rng, draws=None, phase=None) -> (state, metrics)`.

  `rng` is the run's base key; the step uses `fold_in(rng, state.step)`.
  `draws` (tests) replaces the random numbers (`draw`; content-only steps read
  noise_A and noise_B). `phase` (static, `full_update(config, state.step,
  dataset_size)`) selects the update at compile time; without it the step
  uses `lax.cond` and reports zeros for the terms of the update it skips.
  """
  nets, m = build_models(config), config.model
  dtype = jnp.dtype(m.param_dtype)
  sched = learning_rate_schedule(config, dataset_size)
  opt = make_optimizer(config, 1.0)
  ms = m.mode_seeking

  def update(grads, opt_state, params, lr):
    updates, opt_state = opt.update(grads, opt_state, params)
    updates = jax.tree_util.tree_map(lambda u: u * lr.astype(u.dtype), updates)
    return optax.apply_updates(params, updates), opt_state

  def enc_c(p, domain, x, noise):
    return nets["enc_c"].apply({"params": p}, domain, x, noise, method="encode")

  def enc_a(p, domain, x):
    return nets["enc_a"].apply({"params": p}, domain, x, method="encode")

  def gen(p, domain, content, z):
    return nets["gen"].apply({"params": p}, domain, content, z, method="decode")

  def dis(p, name, x):
    return nets[name].apply({"params": p}, x)

  def content_d_loss(p, z_a, z_b):
    fake, real = dis(p, "disContent", z_a), dis(p, "disContent", z_b)
    return bce_over_scales([real], 1.0) + bce_over_scales([fake], 0.0)

  def content_d_update(params, opt_state, z_a, z_b, lr):
    loss, grads = jax.value_and_grad(content_d_loss)(
        params["disContent"], jax.lax.stop_gradient(z_a), jax.lax.stop_gradient(z_b))
    grads = clip_grad_norm(grads, m.content_clip)
    new, st = update(grads, opt_state["disContent"], params["disContent"],
                     lr / m.content_lr_divisor)
    return {**params, "disContent": new}, {**opt_state, "disContent": st}, loss, grads

  def forward(th, real, d):
    """Step 1 of the module docstring: th = {"enc_c", "enc_a", "gen"} -> every output."""
    o = {}
    for dom in DOMAINS:
      o[f"z_content_{dom}"] = enc_c(th["enc_c"], dom, real[dom], d[f"noise_{dom}"])
      mu, logvar = enc_a(th["enc_a"], dom, real[dom])
      o[f"mu_{dom}"], o[f"logvar_{dom}"] = mu, logvar
      o[f"z_attr_{dom}"] = d[f"eps_{dom}"] * jnp.exp(0.5 * logvar) + mu
    for dom in DOMAINS:
      own, other = o[f"z_content_{dom}"], o[f"z_content_{OTHER[dom]}"]
      contents = [other, own, other] + ([other] if ms else [])
      attrs = [o[f"z_attr_{dom}"]] * 2 + [d["z_random"]] + ([d["z_random2"]] if ms else [])
      fakes = jnp.split(gen(th["gen"], dom, jnp.concatenate(contents),
                            jnp.concatenate(attrs)), len(contents))
      names = ("encoded", "self", "random", "random2")
      o.update({f"fake_{dom}_{n}": f for n, f in zip(names, fakes)})
    recon = {}
    for dom in DOMAINS:  # the translation into `dom` re-encoded by `dom`'s encoders
      fake = o[f"fake_{dom}_encoded"]
      z_c = enc_c(th["enc_c"], dom, fake, d[f"noise_recon_{dom}"])  # content of the other
      mu, logvar = enc_a(th["enc_a"], dom, fake)
      recon[f"content_{OTHER[dom]}"] = z_c
      recon[f"attr_{dom}"] = d[f"eps_recon_{dom}"] * jnp.exp(0.5 * logvar) + mu
    for dom in DOMAINS:
      o[f"fake_{dom}_recon"] = gen(th["gen"], dom, recon[f"content_{dom}"], recon[f"attr_{dom}"])
      o[f"mu2_{dom}"] = enc_a(th["enc_a"], dom, o[f"fake_{dom}_random"])[0]
    return o

  def image_d_loss(dp, real, fakes):
    terms = {}
    for dom in DOMAINS:
      terms[f"dis{dom}"] = (bce_over_scales(dis(dp[f"dis{dom}"], f"dis{dom}",
                                                fakes[f"fake_{dom}_encoded"]), 0.0)
                            + bce_over_scales(dis(dp[f"dis{dom}"], f"dis{dom}", real[dom]), 1.0))
      name2 = f"dis{dom}2"
      # The official code judges the random half once per fake; the value is the same.
      real2 = bce_over_scales(dis(dp[name2], name2, real[f"{dom}_random"]), 1.0)
      t = bce_over_scales(dis(dp[name2], name2, fakes[f"fake_{dom}_random"]), 0.0) + real2
      if ms:
        t = t + bce_over_scales(dis(dp[name2], name2, fakes[f"fake_{dom}_random2"]), 0.0) + real2
      terms[name2] = t
    return sum(terms.values()), terms

  def eg_loss(o, params, real, d):
    """L_EG (step 3), with the official names of its terms."""
    t = {}
    for dom in DOMAINS:
      low = dom.lower()
      t[f"gan_loss_{low}content"] = losses.content_adversarial_loss(
          dis(params["disContent"], "disContent", o[f"z_content_{dom}"]))
    for dom in DOMAINS:
      low = dom.lower()
      t[f"gan_loss_{low}"] = bce_over_scales(
          dis(params[f"dis{dom}"], f"dis{dom}", o[f"fake_{dom}_encoded"]), 1.0)
      t[f"kl_loss_za_{low}"] = m.lambda_kl_attr * losses.gaussian_kl_loss(
          o[f"mu_{dom}"], o[f"logvar_{dom}"])
      t[f"kl_loss_zc_{low}"] = m.lambda_kl_content * jnp.mean(jnp.square(o[f"z_content_{dom}"]))
      t[f"l1_recon_{dom}"] = m.lambda_cycle * losses.l1_loss(o[f"fake_{dom}_recon"], real[dom])
      t[f"l1_recon_{dom}{dom}"] = m.lambda_self * losses.l1_loss(o[f"fake_{dom}_self"],
                                                                 real[dom])
    total = sum(t.values())
    return total, {**t, "G_loss": total}

  def alone_loss(o, params, real, d):
    """L_alone (step 4)."""
    t = {}
    for dom in DOMAINS:
      low, name2 = dom.lower(), f"dis{dom}2"
      gan2 = bce_over_scales(dis(params[name2], name2, o[f"fake_{dom}_random"]), 1.0)
      if ms:
        gan2 = gan2 + bce_over_scales(dis(params[name2], name2, o[f"fake_{dom}_random2"]), 1.0)
      t[f"gan2_loss_{low}"] = gan2
      t[f"l1_recon_z_{low}"] = m.lambda_latent * losses.l1_loss(o[f"mu2_{dom}"], d["z_random"])
    if ms:
      for src, dst in (("A", "B"), ("B", "A")):
        t[f"lz_{src}{dst}"] = losses.mode_seeking_loss(
            o[f"fake_{dst}_random"], o[f"fake_{dst}_random2"], d["z_random"], d["z_random2"])
    return sum(t.values()), t

  def full(state, params, opt_state, real, d, lr):
    th = {k: params[k] for k in ("enc_c", "enc_a", "gen")}
    o, pullback = jax.vjp(lambda th: forward(th, real, d), th)
    fakes = jax.lax.stop_gradient(o)
    # 2. Discriminators.
    dp = {k: params[k] for k in IMAGE_DS}
    (_, d_terms), d_grads = jax.value_and_grad(image_d_loss, has_aux=True)(dp, real, fakes)
    dp, dis_state = update(d_grads, opt_state["dis"], dp, lr)
    params, opt_state = {**params, **dp}, {**opt_state, "dis": dis_state}
    params, opt_state, dc_loss, dc_grads = content_d_update(
        params, opt_state, fakes["z_content_A"], fakes["z_content_B"], lr)
    # 3. and 4.: both losses against the updated discriminators, both pulled back through
    # the one forward pass of step 1.
    (_, eg_terms), d_eg = jax.value_and_grad(eg_loss, has_aux=True)(o, params, real, d)
    (_, al_terms), d_al = jax.value_and_grad(alone_loss, has_aux=True)(o, params, real, d)
    (g1,), (g2,) = pullback(d_eg), pullback(d_al)
    ecg = {"enc_c": th["enc_c"], "gen": th["gen"]}
    ecg, st = update({"enc_c": g1["enc_c"], "gen": g1["gen"]}, opt_state["enc_c_gen"], ecg, lr)
    enc_a_p, st_a = update(g1["enc_a"], opt_state["enc_a"], th["enc_a"], lr)
    ecg, st = update({"enc_c": g2["enc_c"], "gen": g2["gen"]}, st, ecg, lr)
    params = {**params, **ecg, "enc_a": enc_a_p}
    opt_state = {**opt_state, "enc_c_gen": st, "enc_a": st_a}
    metrics = {**d_terms, "disContent": dc_loss, **eg_terms, **al_terms,
               **norm_metrics({"EG": g1, "G_alone": g2, "D": d_grads, "D_content": dc_grads},
                              {"EG": {**ecg, "enc_a": enc_a_p}, "D": dp})}
    return params, opt_state, metrics

  def content_only(state, params, opt_state, real, d, lr):
    z_a = enc_c(params["enc_c"], "A", real["A"], d["noise_A"])
    z_b = enc_c(params["enc_c"], "B", real["B"], d["noise_B"])
    params, opt_state, loss, grads = content_d_update(params, opt_state, z_a, z_b, lr)
    return params, opt_state, {"disContent": loss, "D_content_grad_norm": optax.tree.norm(grads)}

  def train_step(state: DRITState, batch, rng, draws=None, phase=None):
    n = batch["A"].shape[0]
    if n % 2:
      raise ValueError(f"DRIT++ needs an even batch, got {n}")
    half = n // 2
    real = {}
    for dom in DOMAINS:
      x = batch[dom].astype(dtype)
      real[dom], real[f"{dom}_random"] = x[:half], x[half:]
    side = batch["A"].shape[1] // 4
    if draws is None:
      draws = draw(jax.random.fold_in(rng, state.step), half, (side, side, 4 * m.ch), m.nz,
                   dtype)
    d = {k: v.astype(dtype) for k, v in draws.items()}
    lr = jnp.asarray(sched(state.step), dtype)
    args = (state, dict(state.params), dict(state.opt_state), real, d, lr)
    if phase is not None:
      params, opt_state, metrics = full(*args) if phase else content_only(*args)
    else:
      def as_full(out):
        params, opt_state, metrics = out
        zero = jnp.zeros((), jnp.promote_types(dtype, jnp.float32))
        return params, opt_state, {k: metrics.get(k, zero) for k in full_keys}

      full_keys = tuple(jax.eval_shape(lambda a: full(*a)[2], args).keys())
      is_full = full_update_traced(config, state.step, dataset_size)
      params, opt_state, metrics = jax.lax.cond(
          is_full, lambda a: as_full(full(*a)), lambda a: as_full(content_only(*a)), args)
    metrics = {**metrics, "lr": lr}
    return state.replace(step=state.step + 1, params=params, opt_state=opt_state), metrics

  return train_step


# ---------------------------------------------------------------- samples and translation
class Nets:
  """Evaluation-mode calls of the networks (no content noise)."""

  def __init__(self, config):
    self.nets = build_models(config)

  def content(self, params, domain, x):
    return self.nets["enc_c"].apply({"params": params["enc_c"]}, domain, x, None,
                                    method="encode")

  def attribute(self, params, domain, x):
    return self.nets["enc_a"].apply({"params": params["enc_a"]}, domain, x, method="encode")

  def decode(self, params, domain, content, z):
    return self.nets["gen"].apply({"params": params["gen"]}, domain, content, z,
                                  method="decode")


def make_sample_fn(config):
  """`(state, batch, rng) -> {name: images}`: per example, the official display columns in
  evaluation mode - real, translation with the other batch image's attribute (its mean),
  translation with a random attribute, self reconstruction, cycle reconstruction."""
  nets = Nets(config)
  nz = config.model.nz

  def sample(state: DRITState, batch, rng):
    p = state.params
    n = batch["A"].shape[0]
    z_random = jax.random.normal(rng, (n, nz), jnp.dtype(config.model.param_dtype))
    c = {d: nets.content(p, d, batch[d]) for d in DOMAINS}
    a = {d: nets.attribute(p, d, batch[d])[0] for d in DOMAINS}
    out = {}
    for src in DOMAINS:
      dst = OTHER[src]
      fake = nets.decode(p, dst, c[src], a[dst])
      # The cycle: the translation's content, re-encoded, with the source's own attribute.
      back = nets.decode(p, src, nets.content(p, dst, fake), a[src])
      out.update({f"real_{src}": batch[src], f"fake_{src}2{dst}": fake,
                  f"random_{src}2{dst}": nets.decode(p, dst, c[src], z_random),
                  f"self_{src}": nets.decode(p, src, c[src], a[src]), f"cycle_{src}": back})
    return out

  return sample


def sample_grids(config, images: dict) -> dict:
  del config
  rows = tuple((f"real_{s}", f"fake_{s}2{o}", f"random_{s}2{o}", f"self_{s}", f"cycle_{s}")
               for s, o in (("A", "B"), ("B", "A")))
  return {"samples": rows_grid(images, rows, ["A", "B"],
                               ["real", "other's attr", "random attr", "self", "cycle"])}


def translator(config, request):
  """The translation of `request.direction` on one image (`registry.Translator`), as the
  official test scripts (evaluation mode: no content noise): the input's content decoded with
  K target-domain attributes - those of `request.references` (sampled mu + sigma * eps as
  `test_forward_transfer`, eps from key `seed`), or `num_styles` codes ~ N(0, I) from key
  `seed` (`test_forward`); with interpolate K > 1, K codes evenly spaced from the first to
  the second (two references, or two random codes)."""
  nets = Nets(config)
  src, dst = ("A", "B") if request.direction == "AtoB" else ("B", "A")
  refs, count, k = style_request(request)
  dtype = jnp.dtype(config.model.param_dtype)
  noise = jax.random.normal(jax.random.key(request.seed), (count, config.model.nz), dtype)

  def codes(p):
    if refs:
      stats = [nets.attribute(p, dst, r) for r in refs]
      mu = jnp.concatenate([s[0] for s in stats])
      logvar = jnp.concatenate([s[1] for s in stats])
      c = mu + noise * jnp.exp(0.5 * logvar)
    else:
      c = noise
    return interpolate_codes(c, request.interpolate)

  @jax.jit
  def apply(p, x):
    content = nets.content(p, src, x)
    c = codes(p)
    return nets.decode(p, dst, jnp.repeat(content, c.shape[0], axis=0), c)

  return Translator(apply, lambda state: state.params, 3, 3, k, 4)


def torch_networks(config) -> list:
  """The official `<epoch:05d>.pth` / `last.pth` of `DRIT.save`: the state_dicts "disA",
  "disA2", "disB", "disB2", "disContent", "enc_c", "enc_a", "gen" (beside the optimizer
  states, which are not read) and the counts "ep" and "total_it" (written as 0 and the
  step: the official resume reads both)."""
  del config
  to_torch = lambda variables: variables_to_torch(variables)
  from_torch = lambda sd, like: {"params": variables_from_torch(sd, like["params"]),
                                 "batch_stats": {}}
  return [TorchNetwork(name, ("*.pth",), "{step:05d}.pth", None,
                       "translate" if name in ("enc_c", "enc_a", "gen") else "optional",
                       entry=name, to_torch=to_torch, from_torch=from_torch,
                       file_values=lambda step: {"ep": 0, "total_it": step})
          for name in ("disA", "disA2", "disB", "disB2", "disContent", "enc_c", "enc_a", "gen")]


SPEC = ModelSpec(
    name="drit", data_kind=DataKind.TWO_DOMAIN, validate_config=validate_config,
    make_examples=make_examples, image_shapes=image_shapes, create_state=create_state,
    make_train_step=make_train_step, make_sample_fn=make_sample_fn, sample_grids=sample_grids,
    translator=translator, directions=("AtoB", "BtoA"), multimodal=True,
    input_multiple=lambda config: 4, step_phase=full_update,
    translate_options=frozenset({"direction", "seed", "num_styles", "references",
                                 "interpolate"}),
    translate_example="--direction=AtoB --num_styles=4", torch_networks=torch_networks)
