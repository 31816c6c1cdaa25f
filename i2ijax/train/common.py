"""Pieces every model's train step shares: applying a module, optimizers, schedules."""

from typing import Callable

import jax
import jax.numpy as jnp
import optax


def apply_module(module, params, stats, x, *, train: bool, key=None):
  """Runs `module` on `x`; returns (output, updated batch statistics).

  `stats` is the module's `batch_stats` collection ({} when it has none). In
  training mode BatchNorm uses the batch statistics and its running averages
  are updated, as PyTorch's train mode does; `key` feeds dropout.
  """
  variables = {"params": params}
  if stats:
    variables["batch_stats"] = stats
  rngs = {"dropout": key} if key is not None else None
  if stats and train:
    y, updates = module.apply(variables, x, train=True, mutable=["batch_stats"], rngs=rngs)
    return y, updates["batch_stats"]
  return module.apply(variables, x, train=train, rngs=rngs), stats


def apply_many(module, params, stats, xs, key, *, fuse: bool, dropout: bool, train: bool = True):
  """Applies `module` to each array of `xs`; returns (outputs, updated stats).

  With `fuse` (per-sample norms: instance or none) the calls are batched into
  one; otherwise (batch norm) they run one after another in order, each
  updating the running statistics, as separate PyTorch calls do. `dropout`
  gives each call its own dropout key.
  """
  keys = list(jax.random.split(key, len(xs))) if dropout else [None] * len(xs)
  if fuse and len(xs) > 1:
    y, stats = apply_module(module, params, stats, jnp.concatenate(xs), train=train, key=keys[0])
    return jnp.split(y, len(xs)), stats
  ys = []
  for x, k in zip(xs, keys):
    y, stats = apply_module(module, params, stats, x, train=train, key=k)
    ys.append(y)
  return ys, stats


def init_module(module, key, x):
  """(params, batch_stats) of `module` initialised on an input like `x`."""
  variables = module.init({"params": key, "dropout": key}, x, train=True)
  return variables["params"], variables.get("batch_stats", {})


def validate_gan_config(config, non_negative=()) -> None:
  """Checks the keys every GAN config shares; ValueError names the bad key.

  config.model.netG / netD / norm / gan_mode must be known names, the keys in
  `non_negative` (under config.model) must be >= 0, config.batch_size >= 1,
  and config.data must be a valid preprocessing setting.
  """
  from i2ijax import losses
  from i2ijax.data.pipeline import validate_data_config
  from i2ijax.models.layers import NORMS
  from i2ijax.models.resnet import DISCRIMINATOR_NAMES, GENERATORS
  m = config.model
  choices = {"netG": sorted(GENERATORS), "netD": sorted(DISCRIMINATOR_NAMES),
             "norm": list(NORMS), "gan_mode": sorted(losses.ADVERSARIAL)}
  for key, valid in choices.items():
    if m[key] not in valid:
      raise ValueError(f"config.model.{key}={m[key]!r} is not one of {valid}")
  for key in non_negative:
    if m[key] < 0:
      raise ValueError(f"config.model.{key}={m[key]!r} must be >= 0")
  validate_batch_and_precision(config)
  validate_data_config(config.data)


COMPUTE_DTYPES = ("float32", "bfloat16")
PARAM_DTYPES = ("float32", "float64")


def validate_batch_and_precision(config) -> None:
  """config.batch_size >= 1 and known config.model.dtype / param_dtype; ValueError names the key."""
  m = config.model
  if config.batch_size < 1:
    raise ValueError(f"config.batch_size={config.batch_size!r} must be >= 1")
  for key, valid in (("dtype", COMPUTE_DTYPES), ("param_dtype", PARAM_DTYPES)):
    if m.get(key, "float32") not in valid:
      raise ValueError(f"config.model.{key}={m[key]!r} is not one of {list(valid)}")


def validate_rgb_data(config, model: str) -> None:
  """config.data must give RGB images in and out (input_nc = output_nc = 3) and be a valid
  preprocessing setting; ValueError names the keys."""
  from i2ijax.data.pipeline import validate_data_config
  d = config.data
  if d.input_nc != 3 or d.output_nc != 3:
    raise ValueError(f"{model} translates RGB images: config.data.input_nc and "
                     f"config.data.output_nc must be 3")
  validate_data_config(d)


def precision(config) -> dict:
  """Module dtype keywords from config.model: {"dtype": compute, "param_dtype": storage}.

  `model.dtype = "bfloat16"` is mixed precision: convolutions and activations
  in bfloat16, while parameters, optimizer state and image pools stay in
  `model.param_dtype` (float32), norm statistics are reduced in float32, and
  the networks return float32, so every loss is computed in float32.
  """
  m = config.model
  dtype = m.get("dtype", "float32")  # (configs saved before the key existed)
  return {"dtype": None if dtype == "float32" else jnp.dtype(dtype),
          "param_dtype": jnp.dtype(m.param_dtype)}


def norm_metrics(grads: dict, params: dict) -> dict:
  """{"<name>_grad_norm", "<name>_param_norm"}: global L2 norms of each player's gradients
  and (updated) parameters, e.g. grads = {"G": ..., "D": ...}.

  Logged with the losses; a NaN/Inf in any of them stops the run (train loop).
  """
  out = {f"{k}_grad_norm": optax.tree.norm(v) for k, v in grads.items()}
  out.update({f"{k}_param_norm": optax.tree.norm(v) for k, v in params.items()})
  return out


def linear_decay_schedule(base_lr: float, steps_per_epoch: float, n_epochs: int,
                          n_epochs_decay: int, epoch_count: int = 1) -> Callable:
  """The official `--lr_policy linear`, as a function of the optimizer step.

  The scheduler steps at the end of each epoch, so during the epoch with
  zero-based index k the rate is
    base_lr * (1 - max(0, k + epoch_count - n_epochs) / (n_epochs_decay + 1)):
  constant for the first `n_epochs` epochs, then falling linearly towards
  (never reaching) zero over `n_epochs_decay` epochs; a run longer than
  n_epochs + n_epochs_decay continues at rate 0.
  """
  if steps_per_epoch <= 0:
    raise ValueError(f"steps_per_epoch must be positive, got {steps_per_epoch}")

  def schedule(count):
    k = jnp.floor(count / steps_per_epoch)
    frac = jnp.maximum(0.0, k + epoch_count - n_epochs) / float(n_epochs_decay + 1)
    return base_lr * jnp.maximum(0.0, 1.0 - frac)  # 0 past the end, never negative

  return schedule


def adam(learning_rate, b1: float, b2: float, weight_decay: float = 0.0,
         eps: float = 1e-8) -> optax.GradientTransformation:
  """`torch.optim.Adam`: L2 weight decay *coupled* (added to the gradient), not AdamW."""
  parts = []
  if weight_decay:
    parts.append(optax.add_decayed_weights(weight_decay))
  parts.append(optax.scale_by_adam(b1=b1, b2=b2, eps=eps))
  parts.append(optax.scale_by_learning_rate(learning_rate))
  return optax.chain(*parts)


def steps_per_epoch(config, dataset_size: int) -> float:
  """Optimizer steps in one epoch of `dataset_size` examples (CycleGAN: max(|A|, |B|))."""
  return dataset_size / config.batch_size


LR_POLICIES = ("linear", "step", "constant")


def learning_rate_schedule(config, dataset_size: int) -> Callable:
  """The learning rate of config.optimizer as a function of the optimizer step.

  lr_policy "linear" (the default; pytorch-CycleGAN-and-pix2pix): constant for
  n_epochs epochs, then linear decay over n_epochs_decay (`linear_decay_schedule`);
  "step" (MUNIT/UNIT's StepLR, stepped before each iteration): lr * gamma **
  ((t + 1) // step_size) during iteration t; "constant": lr.
  The rate comes out in config.model.param_dtype (float64 runs get float64 rates).
  """
  o = config.optimizer
  policy = o.get("lr_policy", "linear")
  dtype = jnp.dtype(config.model.get("param_dtype", "float32"))
  if policy == "linear":
    schedule = linear_decay_schedule(o.lr, steps_per_epoch(config, dataset_size), o.n_epochs,
                                     o.n_epochs_decay, o.epoch_count)
  elif policy == "step":
    schedule = lambda count: o.lr * o.gamma ** jnp.floor((count + 1) // o.step_size)
  elif policy == "constant":
    schedule = lambda count: o.lr
  else:
    raise ValueError(f"config.optimizer.lr_policy={policy!r} is not one of {list(LR_POLICIES)}")
  return lambda count: jnp.asarray(schedule(count), dtype)


OPTIMIZERS = ("adam", "rmsprop_tf1")


def make_optimizer(config, learning_rate) -> optax.GradientTransformation:
  """The optimizer of every model, at `learning_rate` (a float or a schedule of the step):
  config.optimizer.name "adam" (the default): `torch.optim.Adam` with config.optimizer's
  betas and coupled weight decay (`adam`); "rmsprop_tf1": TF1's RMSPropOptimizer with
  config.optimizer.decay and eps (`tf1_rmsprop`)."""
  o = config.optimizer
  name = o.get("name", "adam")
  if name == "adam":
    return adam(learning_rate, o.beta1, o.beta2, o.get("weight_decay", 0.0))
  if name == "rmsprop_tf1":
    return tf1_rmsprop(learning_rate, o.decay, o.eps)
  raise ValueError(f"config.optimizer.name={name!r} is not one of {list(OPTIMIZERS)}")


def tf1_rmsprop(learning_rate, decay: float = 0.9, eps: float = 1e-10) -> optax.GradientTransformation:
  """TF1's `tf.train.RMSPropOptimizer(learning_rate, decay, momentum=0, epsilon=eps)`.

  Per parameter: ms <- decay ms + (1 - decay) g^2, with ms starting at ONE (TF1's
  `_create_slots` initialises the "rms" slot with ones; Keras/TF2 and optax start at 0),
  then w <- w - lr g / sqrt(ms + eps), eps inside the root (1e-10 by default). That is
  `optax.rmsprop(lr, decay, eps, initial_scale=1.0, eps_in_sqrt=True)`; with ms starting at
  1 the first steps are about lr * g, not lr * sign(g) / sqrt(1 - decay).
  """
  return optax.rmsprop(learning_rate, decay=decay, eps=eps, initial_scale=1.0, eps_in_sqrt=True)


def clip_weights(params, clip_value: float):
  """WGAN weight clipping (Arjovsky et al. 2017, Alg. 1): every leaf of `params` clipped to
  [-clip_value, clip_value] (`tf.clip_by_value`, `p.data.clamp_`)."""
  return jax.tree_util.tree_map(lambda w: jnp.clip(w, -clip_value, clip_value), params)


def network_translator(config, request, net, name: str, in_channels: int, out_channels: int,
                       multiple: int):
  """A `registry.Translator` running network `name` (params and batch_stats of the state) once.

  Eval mode (running averages, no dropout) unless `request.train_mode`:
  then each image's batch statistics and dropout (key from config.seed).
  """
  from i2ijax.registry import Translator
  train = request.train_mode
  key = jax.random.key(config.seed) if train and config.model.get("use_dropout") else None
  apply = jax.jit(lambda p, x: apply_module(net, p["params"], p["batch_stats"], x, train=train,
                                            key=key)[0])
  params = lambda state: {"params": state.params[name], "batch_stats": state.batch_stats[name]}
  return Translator(apply, params, in_channels, out_channels, 1, multiple)


def clip_grad_norm(grads, max_norm: float):
  """`torch.nn.utils.clip_grad_norm_(params, max_norm)`: every gradient times
  min(1, max_norm / (total 2-norm + 1e-6)), the norm taken over all leaves together."""
  norm = optax.tree.norm(grads)
  coef = jnp.minimum(1.0, max_norm / (norm + 1e-6))
  return jax.tree_util.tree_map(lambda g: g * coef.astype(g.dtype), grads)


def style_request(request) -> tuple:
  """(references, count, outputs) of a multimodal translate request (`registry.TranslateRequest`):
  the reference images as [1, H, W, C] arrays, how many codes to encode or draw (one per
  reference, else `num_styles`; two to interpolate between) and the number of outputs.
  ValueError when interpolating with other than zero or two references."""
  refs = tuple(jnp.asarray(r)[None] for r in request.references)
  interpolate = request.interpolate
  if interpolate > 1 and len(refs) not in (0, 2):
    raise ValueError(f"style interpolation needs two references, got {len(refs)}")
  count = 2 if interpolate > 1 else (len(refs) or request.num_styles)
  return refs, count, interpolate if interpolate > 1 else count


def interpolate_codes(codes, interpolate: int):
  """With interpolate K > 1, K codes evenly spaced from codes[0] to codes[1]; else `codes`."""
  if interpolate <= 1:
    return codes
  t = jnp.linspace(0.0, 1.0, interpolate, dtype=codes.dtype)[:, None]
  return (1 - t) * codes[0] + t * codes[1]


def junyanz_torch_networks(config, generators: dict, discriminators: dict) -> list:
  """The `ModelSpec.torch_networks` of the pytorch-CycleGAN-and-pix2pix models:
  {network: official file ending} of the generators (`config.model.netG`) and
  discriminators (`config.model.netD`), whose state_dicts are `define_G` / `define_D`'s."""
  from i2ijax.models.resnet import discriminator_torch_layers, generator_torch_layers
  from i2ijax.registry import TorchNetwork
  m = config.model
  if m.get("upsample", "transpose") != "transpose":
    raise ValueError(f"config.model.upsample={m.upsample!r} has no official checkpoint layout "
                     f"(the official generators upsample with 'transpose')")
  g = generator_torch_layers(m.netG, m.use_dropout)
  d = discriminator_torch_layers(m.netD, m.n_layers_D)
  return ([TorchNetwork(name, ("*" + ending,), "{step}" + ending, g, "translate")
           for name, ending in generators.items()]
          + [TorchNetwork(name, ("*" + ending,), "{step}" + ending, d)
             for name, ending in discriminators.items()])


CYCLE_SAMPLE_ROWS = (("real_A", "fake_B", "rec_A"), ("real_B", "fake_A", "rec_B"))


def cycle_samples(g, batch, rng, generators=("G_A", "G_B")) -> dict:
  """The two-domain sample images: real_A | fake_B | rec_A and real_B | fake_A | rec_B.
  `g(name, x, key)` applies generator `name`; `generators` = (A -> B, B -> A) names."""
  ab, ba = generators
  k = jax.random.split(rng, 4)
  fake_b, fake_a = g(ab, batch["A"], k[0]), g(ba, batch["B"], k[1])
  return {"real_A": batch["A"], "fake_B": fake_b, "rec_A": g(ba, fake_b, k[2]),
          "real_B": batch["B"], "fake_A": fake_a, "rec_B": g(ab, fake_a, k[3])}


def cycle_sample_grids(images: dict, third: str = "reconstructed") -> dict:
  """One grid of `cycle_samples`: A -> B -> A lines, then B -> A -> B lines (real |
  translated | `third`)."""
  from i2ijax.registry import rows_grid
  return {"samples": rows_grid(images, CYCLE_SAMPLE_ROWS, ["A", "B"],
                               ["real", "translated", third])}
