"""StarGAN (Choi et al. 2018): state, one pure train step, sampling grids, translator.

Follows `solver.py` of yunjey/stargan (`Solver.train`). Networks: generator
G(x, c) and discriminator D(x) -> (source patch logits, class logits)
(i2ijax.models.stargan). A batch holds images x [N, H, W, 3] in [-1, 1] and
their labels [N, K] (0/1 attributes; one-hot for single-label data such as
RaFD). Iteration t (0-based), with its key folded from the step:

1. target labels: the batch's labels permuted (the official
   `label_org[torch.randperm(N)]`);
2. D step: x_fake = G(x, c_trg) (no gradient to G),
   L_D = -mean D_src(x) + mean D_src(x_fake) + lambda_cls L_cls(D_cls(x), c_org)
         + lambda_gp mean_n (||grad D_src(x_hat_n)||_2 - 1)^2,
   x_hat = a x + (1 - a) x_fake, a ~ U[0, 1) per sample;
3. G step, when (t + 1) % n_critic == 0, against the updated D:
   L_G = -mean D_src(G(x, c_trg)) + lambda_rec |x - G(G(x, c_trg), c_org)|_1
         + lambda_cls L_cls(D_cls(G(x, c_trg)), c_trg).

L_cls is the summed binary cross-entropy over attributes averaged over the
batch for multi-label data and the softmax cross-entropy for single-label
data (`losses.domain_classification_loss`). Adam (beta 0.5, 0.999, no weight
decay) for each network; G's optimizer steps only on its iterations, and
both learning rates follow `learning_rate_at` of the iteration.

Instance norms keep running statistics (PyTorch's track_running_stats): the
official code never switches to eval mode, so every G forward normalises
with the sample's own statistics and updates the running averages: once in
the D step and twice in the G step (the translation, then the
reconstruction), in that order, as here. The running averages are kept in
`batch_stats["G"]` (and checkpoints) but, as in the official test, never
used to translate.
"""

from typing import NamedTuple

import flax.struct
import jax
import jax.numpy as jnp
import numpy as np
import optax

from i2ijax import losses
from i2ijax.data.attributes import attribute_values, parse_attrs, single_changes
from i2ijax.models.layers import torch_default_params
from i2ijax.models.stargan import (Discriminator, Generator, discriminator_torch_layers,
                                   generator_torch_layers)
from i2ijax.registry import DataKind, ModelSpec, TorchNetwork, Translator, block_grid
from i2ijax.train.common import (adam, norm_metrics, precision, validate_batch_and_precision,
                                 validate_rgb_data)

LR_POLICIES = ("official", "linear")


@flax.struct.dataclass
class StarGANState:
  step: jax.Array
  params: dict  # {"G", "D"}
  batch_stats: dict  # {"G": instance-norm running statistics, "D": {}}
  opt_state: dict  # {"G", "D"}: one Adam state each


# ---------------------------------------------------------------- configuration
def attribute_names(config) -> list[str]:
  """config.model.attrs as a list (a comma-separated string or a sequence of names)."""
  return parse_attrs(config.model.attrs)


def attribute_groups(config) -> list[list[int]]:
  """config.model.groups ("A,B;C,D": mutually exclusive attributes, e.g. hair colours) as
  lists of attribute indices."""
  names = attribute_names(config)
  groups = []
  for part in (config.model.get("groups", "") or "").split(";"):
    members = [m.strip() for m in part.split(",") if m.strip()]
    if not members:
      continue
    unknown = [m for m in members if m not in names]
    if unknown:
      raise ValueError(f"config.model.groups names {unknown}, which are not in "
                       f"config.model.attrs {names}")
    groups.append([names.index(m) for m in members])
  return groups


def validate_config(config) -> None:
  """Raises ValueError naming the config key of any value the model cannot use."""
  m, d = config.model, config.data
  names = attribute_names(config)
  if len(names) < 1 or len(set(names)) != len(names):
    raise ValueError(f"config.model.attrs={m.attrs!r} must name distinct attributes")
  attribute_groups(config)
  size = d.crop_size
  if size < 2**m.d_repeat_num or size % 2**m.d_repeat_num:
    raise ValueError(f"config.data.crop_size={size} (the image size) must be a multiple of "
                     f"2**config.model.d_repeat_num = {2**m.d_repeat_num}")
  for key in ("g_conv_dim", "d_conv_dim", "d_repeat_num", "n_critic"):
    if m[key] < 1:
      raise ValueError(f"config.model.{key}={m[key]!r} must be >= 1")
  for key in ("g_repeat_num", "lambda_cls", "lambda_rec", "lambda_gp"):
    if m[key] < 0:
      raise ValueError(f"config.model.{key}={m[key]!r} must be >= 0")
  o = config.optimizer
  if o.lr_policy not in LR_POLICIES:
    raise ValueError(f"config.optimizer.lr_policy={o.lr_policy!r} is not one of "
                     f"{list(LR_POLICIES)}")
  for key in ("lr_update_step", "num_iters_decay"):
    if o[key] < 1:
      raise ValueError(f"config.optimizer.{key}={o[key]!r} must be >= 1")
  c2 = m.get("c2_dim", 0)
  if c2 < 0 or c2 == 1:
    raise ValueError(f"config.model.c2_dim={c2!r} must be 0 (one dataset) or the number of "
                     f"classes (>= 2) of the second dataset of joint training")
  if c2:
    names2 = second_class_names(config)
    if len(names2) != c2 or len(set(names2)) != c2:
      raise ValueError(f"config.model.attrs2={m.get('attrs2', '')!r} must name config.model."
                       f"c2_dim={c2} distinct classes (or be empty)")
    if "data2" not in config:
      raise ValueError("config.model.c2_dim > 0 (joint training) needs config.data2, the second "
                       "dataset's keys (source, path, ...)")
    for key in config.data2:
      if key in ("crop_size", "load_size") or key not in d:
        raise ValueError(f"config.data2.{key}: the second dataset may replace the keys of "
                         f"config.data other than crop_size and load_size (both datasets "
                         f"share the image size)")
  validate_batch_and_precision(config)
  validate_rgb_data(config, "StarGAN")


def second_class_names(config) -> list[str]:
  """The class names of joint training's second dataset: config.model.attrs2, or
  class0, class1, ... when it is empty."""
  names = parse_attrs(config.model.get("attrs2", ""))
  return names or [f"class{k}" for k in range(config.model.get("c2_dim", 0))]


def second_data_config(config):
  """The data config of joint training's second dataset: config.data with config.data2's
  keys over it."""
  d = config.data.copy_and_resolve_references()
  for key, value in config.data2.items():
    d[key] = value
  return d


def build_models(config) -> dict:
  validate_config(config)
  m = config.model
  c_dim = len(attribute_names(config)) + m.get("c2_dim", 0)
  dt = precision(config)
  return {"G": Generator(m.g_conv_dim, condition_dim(config), m.g_repeat_num, **dt),
          "D": Discriminator(config.data.crop_size, m.d_conv_dim, c_dim, m.d_repeat_num, **dt)}


# ---------------------------------------------------------------- schedule and optimizers
def learning_rate_at(config, lr: float, iteration):
  """The learning rate of iteration `iteration` (0-based), in config.model.param_dtype.

  After each iteration i with (i + 1) % lr_update_step == 0 and i + 1 >
  num_train_steps - num_iters_decay the official solver subtracts
  lr / num_iters_decay ("official", the default: after 200,000 iterations
  with the defaults the rate has only fallen to 0.999 lr, since it is
  lowered 100 times by lr / 100,000). "linear" subtracts lr * lr_update_step
  / num_iters_decay instead, reaching 0 at the end of the decay: the linear
  decay the paper describes.
  """
  o = config.optimizer
  dtype = jnp.dtype(config.model.param_dtype)
  t = jnp.asarray(iteration, jnp.int32)
  start = config.num_train_steps - o.num_iters_decay  # decays follow iterations i + 1 > start
  # The first decay follows the first iteration i + 1 > start that is a multiple of lr_update_step.
  first = max(o.lr_update_step, (start // o.lr_update_step + 1) * o.lr_update_step)
  done = jnp.where(t >= first, (t - first) // o.lr_update_step + 1, 0)  # decays before t
  per = 1.0 / o.num_iters_decay
  if o.lr_policy == "linear":
    per *= o.lr_update_step
  return jnp.asarray(lr, dtype) * jnp.maximum(0.0, 1.0 - done.astype(dtype) * per)


def make_optimizers(config) -> dict:
  """torch.optim.Adam(lr, (beta1, beta2)) for G and D; the rate follows `learning_rate_at`
  of the iteration: D steps every iteration, G at iterations k n_critic - 1 (once per
  dataset in joint training)."""
  o, n = config.optimizer, config.model.n_critic
  per = len(datasets(config))  # joint training steps each optimizer once per dataset
  return {"D": adam(lambda count: learning_rate_at(config, o.d_lr, count // per), o.beta1,
                    o.beta2),
          "G": adam(lambda count: learning_rate_at(config, o.g_lr, count // per * n + n - 1),
                    o.beta1, o.beta2)}


def create_state(config, key, image_shapes, dataset_size: int) -> StarGANState:
  """Fresh networks with PyTorch's default initialisation, and their Adam states."""
  del dataset_size
  models = build_models(config)
  dtype = jnp.dtype(config.model.param_dtype)
  x = jnp.zeros((1, *image_shapes["x"]), dtype)
  c = jnp.zeros((1, condition_dim(config)), dtype)
  kg, kd, rg, rd = jax.random.split(key, 4)
  g_vars = models["G"].init(kg, x, c)
  d_vars = models["D"].init(kd, x)
  params = {"G": torch_default_params(g_vars["params"], rg),
            "D": torch_default_params(d_vars["params"], rd)}
  opts = make_optimizers(config)
  return StarGANState(step=jnp.zeros((), jnp.int32), params=params,
                      batch_stats={"G": g_vars["batch_stats"], "D": {}},
                      opt_state={n: opts[n].init(params[n]) for n in ("G", "D")})


# ---------------------------------------------------------------- losses
def apply_generator(G, params, stats, x, c):
  """G(x, c) in training mode: (images, running statistics after this forward)."""
  y, updates = G.apply({"params": params, "batch_stats": stats}, x, c, train=True,
                       mutable=["batch_stats"])
  return y, updates["batch_stats"]


def discriminator_loss(d_params, D, x_real, x_fake, alpha, label_org, hp, classification):
  """L_D of StarGAN (Choi et al. 2018, eqs. 1, 2 and 6 with the WGAN-GP objective, eq. 8
  of the appendix): -E[D_src(x)] + E[D_src(G(x, c))] + lambda_cls L_cls^r
  + lambda_gp E[(||grad D_src(x_hat)||_2 - 1)^2].

  x_real, x_fake [N, H, W, 3] (x_fake detached), alpha [N, 1, 1, 1],
  label_org [N, K]; `classification(logits, labels)` is L_cls (`Dataset.classification`).
  Returns (L_D, {"loss_real", "loss_fake", "loss_cls", "loss_gp"}).
  """
  apply = lambda x: D.apply({"params": d_params}, x)
  real_src, real_cls = apply(x_real)
  fake_src, _ = apply(jax.lax.stop_gradient(x_fake))
  loss_real, loss_fake = losses.wgan_d_loss(real_src, fake_src)
  loss_cls = classification(real_cls, label_org)
  x_hat = losses.interpolate_samples(x_real, x_fake, alpha)
  loss_gp = losses.unit_gradient_penalty(lambda x: apply(x)[0], x_hat)
  total = loss_real + loss_fake + hp.lambda_cls * loss_cls + hp.lambda_gp * loss_gp
  return total, {"loss_real": loss_real, "loss_fake": loss_fake, "loss_cls": loss_cls,
                 "loss_gp": loss_gp}


def generator_loss(g_params, g_stats, G, D, d_params, x_real, c_org, c_trg, label_trg, hp,
                   classification):
  """L_G of StarGAN (Choi et al. 2018, eqs. 1, 3, 4, 7): -E[D_src(G(x, c))]
  + lambda_cls L_cls^f(D_cls(G(x, c)), c) + lambda_rec E[|x - G(G(x, c), c')|_1].

  c_org, c_trg: the generator's conditions [N, C] (with mask vectors in joint
  training); label_trg [N, K]: the target labels L_cls compares with.
  Returns (L_G, ({"loss_fake", "loss_rec", "loss_cls"}, running statistics
  after both forwards)).
  """
  x_fake, g_stats = apply_generator(G, g_params, g_stats, x_real, c_trg)
  fake_src, fake_cls = D.apply({"params": d_params}, x_fake)
  loss_fake = losses.wgan_g_loss(fake_src)
  loss_cls = classification(fake_cls, label_trg)
  x_rec, g_stats = apply_generator(G, g_params, g_stats, x_fake, c_org)
  loss_rec = losses.l1_loss(x_real, x_rec)
  total = loss_fake + hp.lambda_rec * loss_rec + hp.lambda_cls * loss_cls
  return total, ({"loss_fake": loss_fake, "loss_rec": loss_rec, "loss_cls": loss_cls}, g_stats)


class Dataset(NamedTuple):
  """One labelled dataset of a run: its batch keys, label size and loss.

  In joint training (`config.model.c2_dim` > 0, the official `--dataset Both`)
  the generator's condition is `losses.mask_vector_label` of the labels and
  only this dataset's slice of the class logits counts (`losses.dataset_logits`).
  """
  x_key: str
  label_key: str
  index: int
  single_label: bool
  label_dims: tuple  # () for a single dataset

  def condition(self, labels):
    if not self.label_dims:
      return labels
    return losses.mask_vector_label(labels, self.index, self.label_dims)

  def classification(self, logits, labels):
    if self.label_dims:
      logits = losses.dataset_logits(logits, self.index, self.label_dims)
    return losses.domain_classification_loss(logits, labels, self.single_label)


def datasets(config) -> list[Dataset]:
  """The datasets each iteration trains on, in the official order (CelebA, then RaFD)."""
  m = config.model
  if not m.get("c2_dim", 0):
    return [Dataset("x", "label", 0, bool(m.get("single_label", False)), ())]
  dims = (len(attribute_names(config)), m.c2_dim)
  return [Dataset("x", "label", 0, bool(m.get("single_label", False)), dims),
          Dataset("x2", "label2", 1, True, dims)]


def condition_dim(config) -> int:
  """Channels of the generator's condition: c_dim, or c_dim + c2_dim + 2 in joint training."""
  c2 = config.model.get("c2_dim", 0)
  return len(attribute_names(config)) + (c2 + 2 if c2 else 0)


# ---------------------------------------------------------------- train step
def generator_updates(config, step: int, dataset_size: int | None = None) -> bool:
  """Whether G is updated in iteration `step` (0-based): (step + 1) % n_critic == 0
  (`ModelSpec.step_phase`)."""
  return (int(step) + 1) % config.model.n_critic == 0


def make_train_step(config, dataset_size: int):
  """Returns the pure step `(state, batch, rng, draws=None) -> (state, metrics)`.

  batch: {"x": [N, H, W, 3], "label": [N, K]} (joint training adds "x2",
  "label2" of the second dataset). `rng` is the run's base key; the step uses
  `fold_in(rng, state.step)`, so a resumed run draws exactly what an
  uninterrupted one would. `draws` (tests) replaces the step's random
  numbers, named as in the official solver: {"perm": int [N] (rand_idx),
  "alpha": [N, 1, 1, 1]} (joint training: a list of them, one per dataset).
  `phase` (static, `generator_updates(config, state.step)`) picks the branch
  of step 3 at compile time, and iterations without a G update report no G
  metrics; without it the step picks the branch with `lax.cond` and reports
  zeros for them.
  """
  del dataset_size
  nets, hp = build_models(config), config.model
  G, D = nets["G"], nets["D"]
  dtype = jnp.dtype(hp.param_dtype)
  opts = make_optimizers(config)
  parts = datasets(config)

  def update(name, params, opt_state, grads):
    updates, opt_state = opts[name].update(grads, opt_state, params)
    return optax.apply_updates(params, updates), opt_state

  def one_dataset(part: Dataset, state, params, opt_state, g_stats, batch, draws, phase):
    x_real, label_org = batch[part.x_key].astype(dtype), batch[part.label_key].astype(dtype)
    label_trg = label_org[draws["perm"]]
    c_org, c_trg = part.condition(label_org), part.condition(label_trg)

    # D step.
    x_fake, g_stats = apply_generator(G, params["G"], g_stats, x_real, c_trg)
    (d_total, d_terms), d_grads = jax.value_and_grad(discriminator_loss, has_aux=True)(
        params["D"], D, x_real, jax.lax.stop_gradient(x_fake), draws["alpha"].astype(dtype),
        label_org, hp, part.classification)
    params["D"], opt_state["D"] = update("D", params["D"], opt_state["D"], d_grads)
    metrics = {"D_loss": d_total, **{f"D_{k}": v for k, v in d_terms.items()},
               **norm_metrics({"D": d_grads}, {"D": params["D"]})}

    # G step, every n_critic iterations, against the updated D.
    def g_step(args):
      g_params, g_opt, stats = args
      (total, (terms, stats)), grads = jax.value_and_grad(generator_loss, has_aux=True)(
          g_params, stats, G, D, params["D"], x_real, c_org, c_trg, label_trg, hp,
          part.classification)
      g_params, g_opt = update("G", g_params, g_opt, grads)
      return (g_params, g_opt, stats), {"G_loss": total, **{f"G_{k}": v for k, v in terms.items()},
                                        "G_grad_norm": optax.tree.norm(grads)}

    def no_g_step(args):
      zero = jnp.zeros((), jnp.promote_types(dtype, jnp.float32))
      return args, {k: zero for k in ("G_loss", "G_loss_fake", "G_loss_rec", "G_loss_cls",
                                      "G_grad_norm")}

    args = (params["G"], opt_state["G"], g_stats)
    if phase is not None:  # static: the loop compiles each branch (`generator_updates`)
      # Without a G update there are no G losses to report (the logged means skip the step).
      args, g_metrics = g_step(args) if phase else (args, {})
    else:
      args, g_metrics = jax.lax.cond((state.step + 1) % hp.n_critic == 0, g_step, no_g_step, args)
    params["G"], opt_state["G"], g_stats = args
    metrics.update(g_metrics)
    return params, opt_state, g_stats, metrics

  def train_step(state: StarGANState, batch, rng, draws=None, phase=None):
    if draws is None:
      key = jax.random.fold_in(rng, state.step)
      draws = []
      for part in parts:
        k_perm, k_alpha, key = jax.random.split(key, 3)
        n = batch[part.x_key].shape[0]
        draws.append({"perm": jax.random.permutation(k_perm, n),
                      "alpha": jax.random.uniform(k_alpha, (n, 1, 1, 1), dtype)})
    else:
      draws = list(draws) if isinstance(draws, (list, tuple)) else [draws]
      if len(draws) != len(parts) or any(set(d) != {"perm", "alpha"} for d in draws):
        raise ValueError(f"draws: the stargan step draws {{'perm', 'alpha'}} for each of its "
                         f"{len(parts)} dataset(s)")
    params, opt_state = dict(state.params), dict(state.opt_state)
    g_stats = state.batch_stats["G"]
    metrics = {}
    for part, d in zip(parts, draws):
      params, opt_state, g_stats, m = one_dataset(part, state, params, opt_state, g_stats,
                                                  batch, d, phase)
      prefix = "" if len(parts) == 1 else f"data{part.index}_"
      metrics.update({prefix + k: v for k, v in m.items()})
    metrics["G_param_norm"] = optax.tree.norm(params["G"])
    metrics["lr_D"] = learning_rate_at(config, config.optimizer.d_lr, state.step)
    metrics["lr_G"] = learning_rate_at(config, config.optimizer.g_lr, state.step)
    new_state = state.replace(step=state.step + 1, params=params, opt_state=opt_state,
                              batch_stats={"G": g_stats, "D": {}})
    return new_state, metrics

  return train_step


# ---------------------------------------------------------------- sampling
def change_conditions(config, labels):
  """The generator conditions of the official sample and test images for sources with the
  labels `labels` [N, K] (of the first dataset): [T, N, C], T = K single-attribute
  changes (`single_changes`), followed in joint training by the second dataset's
  c2_dim classes (each condition with its dataset's mask vector, as the
  official `train_multi` / `test_multi`)."""
  parts = datasets(config)
  targets = single_changes(labels, attribute_groups(config),
                           bool(config.model.get("single_label", False)))  # [K, N, K]
  k, n = targets.shape[:2]
  conds = parts[0].condition(targets.reshape(k * n, -1)).reshape(k, n, -1)
  if len(parts) > 1:
    c2 = config.model.c2_dim
    onehots = jnp.broadcast_to(jnp.eye(c2, dtype=targets.dtype)[:, None], (c2, n, c2))
    conds = jnp.concatenate([conds, parts[1].condition(onehots.reshape(c2 * n, c2))
                             .reshape(c2, n, -1)])
  return conds


def change_names(config) -> list[str]:
  """Names of the outputs of `change_conditions`: the attributes, then (joint training)
  the second dataset's classes."""
  names = attribute_names(config)
  return names + (second_class_names(config) if config.model.get("c2_dim", 0) else [])


def make_sample_fn(config):
  """`(state, batch, rng) -> {"changes": [N, 1 + T, H, W, 3]}`: each source image, then its
  translation for every single-attribute change (and, in joint training, into every
  class of the second dataset: `change_conditions`), as the official sample images.
  The running statistics are read, not updated."""
  G = build_models(config)["G"]

  def sample(state: StarGANState, batch, rng):
    del rng
    x, labels = batch["x"], batch["label"].astype(batch["x"].dtype)
    conds = change_conditions(config, labels)  # [T, N, C]
    t = conds.shape[0]
    xs = jnp.tile(x, (t, 1, 1, 1))
    fake = G.apply({"params": state.params["G"], "batch_stats": state.batch_stats["G"]},
                   xs, conds.reshape(-1, conds.shape[-1]), train=True,
                   mutable=["batch_stats"])[0]
    fake = jnp.moveaxis(fake.reshape(t, *x.shape), 0, 1)
    return {"changes": jnp.concatenate([x[:, None], fake], axis=1)}

  return sample


def sample_grids(config, images: dict) -> dict:
  """{"changes": one row per source: the source, then each single-attribute change (and
  each class of the second dataset in joint training)}."""
  block = images["changes"]
  cols = ["source"] + [f"change {name}" for name in change_names(config)]
  return {"changes": block_grid(block, [f"source #{i}" for i in range(block.shape[0])], cols)}


# ---------------------------------------------------------------- data and translation
def image_shapes(config) -> dict:
  size = config.data.crop_size
  return {"x": (size, size, 3), **({"x2": (size, size, 3)} if config.model.get("c2_dim", 0)
                                   else {})}


def make_examples(config, split: str = "train", seed: int | None = None):
  """(example function, dataset size, image shapes) of the attribute-labelled data.

  Joint training (config.model.c2_dim > 0) reads the second dataset from
  `second_data_config` beside the first, each with its own order
  (`pipeline.JointExamples`); an epoch is the first dataset's.
  """
  from i2ijax.data.attributes import attribute_source
  from i2ijax.data.pipeline import JointExamples, MultiLabelExamples, make_transform
  seed = config.seed if seed is None else seed

  def read(data, attrs, single_label, where, stream):
    source = attribute_source(data, split, attrs)
    if bool(single_label) != bool(source.single_label):
      raise ValueError(f"{where} but {source.name} is "
                       f"{'single' if source.single_label else 'multi'}-label data")
    if split != "train":  # the official test loader: no flip
      data = data.copy_and_resolve_references()
      data.flip = False
    return MultiLabelExamples(source, transform=make_transform(data), seed=seed, stream=stream)

  single = config.model.get("single_label", False)
  examples = read(config.data, config.model.attrs, single,
                  f"config.model.single_label={single}", 0)
  if config.model.get("c2_dim", 0):
    c2 = config.model.c2_dim
    second = read(second_data_config(config), None, True,
                  "joint training's second dataset (config.data2) must be single-label", 1)
    if len(second.names) != c2:
      raise ValueError(f"config.model.c2_dim={c2} but the second dataset "
                       f"{second.source.name} (config.data2) has {len(second.names)} classes: "
                       f"{second.names}")
    given = parse_attrs(config.model.get("attrs2", ""))
    if given and given != second.names:
      raise ValueError(f"config.model.attrs2={','.join(given)!r} but the second dataset "
                       f"{second.source.name} (config.data2) has the classes {second.names}")
    examples = JointExamples(examples, second)
  return examples, examples.size, image_shapes(config)


def target_values(config, attrs) -> dict:
  """{attribute index: value} of `attrs` over config.model.attrs (`attribute_values`)."""
  return attribute_values(attribute_names(config), attrs)

def translator(config, request):
  """Translates into the attributes of `request.attrs`, into one class, or into every
  single-attribute change.

  The source's own labels are `labels` when the caller knows them (the test
  split) or else the discriminator's classification of the input (attribute k
  on where its logit is positive; the arg-max class for single-label data; in
  joint training from the first dataset's logits). With `request.attrs`
  ({index: value} or "NAME=VALUE,...") those attributes are set and the others
  keep the source's: one output. `request.domain` selects class k: of a
  single-label dataset, or in joint training of the second dataset (the
  condition with its mask vector). Without either: the official test-time
  targets (`change_conditions`), one output each. The generator normalises
  with instance statistics, as the official test, which keeps train mode.
  """
  nets = build_models(config)
  G, D = nets["G"], nets["D"]
  parts = datasets(config)
  k_dim = len(attribute_names(config))
  c2 = config.model.get("c2_dim", 0)
  single = bool(config.model.get("single_label", False))
  fixed = target_values(config, request.attrs) if request.attrs else {}
  domain = None
  if request.domain is not None:
    if not (single or c2):
      raise ValueError(f"--domain is for single-label data or joint training; "
                       f"{config.model_name} with attributes {attribute_names(config)} takes "
                       f"--attrs")
    if fixed:
      raise ValueError("--domain and --attrs: give one of them")
    classes = c2 or k_dim
    if not 0 <= request.domain < classes:
      raise ValueError(f"domain {request.domain} is out of range: the model has {classes} "
                       f"classes{' in its second dataset' if c2 else ''}")
    if c2:
      domain = request.domain
    else:
      fixed = {k: float(k == request.domain) for k in range(k_dim)}
  idx = np.asarray(sorted(fixed), np.int32)
  vals = np.asarray([fixed[k] for k in sorted(fixed)], np.float32)
  outputs = 1 if (fixed or domain is not None) else k_dim + c2

  def apply(p, x, labels=None):
    if labels is None:
      logits = D.apply({"params": p["D"]}, x)[1]
      if parts[0].label_dims:
        logits = losses.dataset_logits(logits, 0, parts[0].label_dims)
      if single:
        labels = jax.nn.one_hot(jnp.argmax(logits, -1), k_dim, dtype=x.dtype)
      else:
        labels = (logits > 0).astype(x.dtype)
    labels = labels.astype(x.dtype)
    if domain is not None:
      onehot = jnp.zeros((x.shape[0], c2), x.dtype).at[:, domain].set(1)
      conds = parts[1].condition(onehot)
    elif fixed:
      conds = parts[0].condition(labels.at[:, idx].set(jnp.asarray(vals, x.dtype)))
    else:
      conds = change_conditions(config, labels)
      conds = conds.reshape(-1, conds.shape[-1])
    xs = jnp.repeat(x, conds.shape[0] // x.shape[0], axis=0)
    return G.apply({"params": p["G"], "batch_stats": p["batch_stats"]}, xs, conds, train=True,
                   mutable=["batch_stats"])[0]

  params = lambda state: {"G": state.params["G"], "D": state.params["D"],
                          "batch_stats": state.batch_stats["G"]}
  return Translator(jax.jit(apply), params, 3, 3, outputs, size=config.data.crop_size)


def torch_networks(config) -> list:
  """The official checkpoint files `<iteration>-G.ckpt` and `<iteration>-D.ckpt` (state_dicts
  of `model.Generator` / `model.Discriminator`, instance-norm running statistics included)."""
  m = config.model
  return [TorchNetwork("G", ("*-G.ckpt",), "{step}-G.ckpt", generator_torch_layers(m.g_repeat_num),
                       "translate"),
          TorchNetwork("D", ("*-D.ckpt",), "{step}-D.ckpt",
                       discriminator_torch_layers(m.d_repeat_num))]


SPEC = ModelSpec(
    name="stargan", data_kind=DataKind.MULTI_LABEL, validate_config=validate_config,
    make_examples=make_examples, image_shapes=image_shapes, create_state=create_state,
    make_train_step=make_train_step, make_sample_fn=make_sample_fn, sample_grids=sample_grids,
    translator=translator, translate_options=frozenset({"attrs", "domain"}),
    directions=(), multimodal=False, translate_example="--attrs=<NAME>=1",
    step_phase=generator_updates, torch_networks=torch_networks)
