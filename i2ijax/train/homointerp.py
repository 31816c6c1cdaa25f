"""HomoInterpGAN (Chen et al. 2019): state, one pure train step, sampling grids, translator.

Follows `optimizer/optim_homoInterp.py` of yingcong/HomoInterpGAN
(`optimize_parameters`). Networks (i2ijax.models.homointerp): encoder E (VGG19
to relu5_1, fine-tuned; `model.encoder_stages` < 3 stops it at relu4_1 or
relu3_1 for small images, with a decoder that upsamples correspondingly
less), interpolator T, decoder Dec, feature discriminator
D, knowledge-guidance transform KG, plus a frozen VGG19 (the teacher of the
knowledge guidance and the perceptual network), which holds the same weights
as E's initialisation (the official code loads one VGG19 file into all three).
A batch holds images x [N, H, W, 3] in [-1, 1] and their attributes
[N, K], the groups' attributes side by side; the networks see x in the
ImageNet-normalised space (`to_vgg_space`), where every loss is computed.

Iteration t (0-based), with its key folded from the step:

0. draws: strengths v ~ U[0, 1) [N, B] (B = groups + 1 residual branch), a
   permutation p of the batch (the references), alpha ~ U[0, 1) [N, 1, 1, 1];
   F = E(x), F_p = F[p], F_i = T(F, F_p, v); soft targets
   a_i = a + v_g (a[p] - a) per attribute of group g;
1. Dec step: L_dec = MSE(V(Dec(F)), V(x)) + MSE(Dec(F), x), V the frozen
   VGG to relu3_1 (the official perceptual loss);
2. D step: L_D = 100 GP + mean D_real(F_i) - mean D_real(F)
   + BCE(D_attr(F_i), a), GP = E[(||grad sum D_real(F_hat)|| - 1)^2] at
   F_hat = alpha F + (1 - alpha) F_i. The released code trains the attribute
   heads on the *interpolated* features with the *source* labels (the
   default, `model.d_cls_features = "interpolated"`); the paper's classifier
   of real features (`"real"`: BCE(D_attr(F), a)) is the named switch;
3. KG step: L_KG = MSE(KG(F), VGG19_frozen(x)_relu5_1) (the teacher stops where E
   does);
4. when t % n_discrim == 0, E and T against the updated Dec, D and KG:
   L_ET = -mean D_real(F_i) + BCE(D_attr(F_i), a_i)
          + MSE(T(F, F_p, 1), F_p) (F, F_p detached) + MSE(Dec(F), x)
          + MSE(V(Dec(F)), V(x)) + MSE(KG(F), VGG19_frozen(x)_relu5_1).

BCE is the summed binary cross-entropy over all attributes averaged over the
batch (`losses.binary_attribute_loss`; the official per-group sum). Adam
1e-4 for every network, beta1 0.5 for E, T and D and PyTorch's default 0.9
for Dec and KG (beta2 0.999). Dec's BatchNorm runs in training mode: its
running statistics are updated by the Dec step and by step 4.
"""

import os

import flax.struct
import jax
import jax.numpy as jnp
import numpy as np
import optax

from i2ijax import losses
from i2ijax.data.attributes import name_value_pairs
from i2ijax.metrics.torch_weights import (check_state_dict, flax_variables_from_torch,
                                          load_torch_state_dict, torch_from_flax_variables,
                                          torch_to_flax_array)
from i2ijax.models.homointerp import (Decoder, FeatureDiscriminator, Interpolator,
                                      KnowledgeTransform, Vgg19, VGG19_CONVS, VGG19_STAGES,
                                      decoder_plan,
                                      VGG19_STAGE_CHANNELS, VGG19_STAGE_STRIDES,
                                      VGG19_TORCHVISION_INDEX, from_vgg_space, to_vgg_space)
from i2ijax.models.layers import torch_default_params
from i2ijax.registry import DataKind, ModelSpec, TorchNetwork, Translator, block_grid
from i2ijax.train.common import (adam, norm_metrics, precision, validate_batch_and_precision,
                                 validate_rgb_data)

D_CLS_FEATURES = ("interpolated", "real")
NETWORKS = ("E", "T", "Dec", "D", "KG")


@flax.struct.dataclass
class HomoInterpState:
  step: jax.Array
  params: dict  # {"E", "T", "Dec", "D", "KG"}
  batch_stats: dict  # {"Dec": BatchNorm running statistics}
  opt_state: dict  # one Adam state per network
  vgg: dict  # the frozen VGG19 (knowledge-guidance teacher, perceptual loss)


# ---------------------------------------------------------------- configuration
def attribute_groups(config) -> list[list[tuple[str, bool]]]:
  """config.model.attrs in the official syntax ("A@B,C": groups split by ",", the
  attributes of a group by "@", "#" negating an attribute) -> per group a list of
  (name, negated)."""
  groups = []
  for part in str(config.model.attrs).split(","):
    members = [m.strip() for m in part.split("@")]
    if not part.strip() or not all(members):
      raise ValueError(f"config.model.attrs={config.model.attrs!r}: every group (split by ',') "
                       "must name attributes split by '@', e.g. 'Black_Hair@Blond_Hair,Young'")
    groups.append([(m[1:], True) if m.startswith("#") else (m, False) for m in members])
  return groups


def group_sizes(config) -> list[int]:
  return [len(g) for g in attribute_groups(config)]


def source_attributes(config) -> list[str]:
  """The distinct attribute names the data source must provide, in first-use order."""
  names = []
  for group in attribute_groups(config):
    for name, _ in group:
      if name not in names:
        names.append(name)
  return names


def num_branches(config) -> int:
  """One interpolator branch per attribute group plus one residual branch."""
  return len(attribute_groups(config)) + 1


def encoder_stages(config) -> int:
  """config.model.encoder_stages (3, the official relu5_1, in configs written before the key)."""
  return config.model.get("encoder_stages", 3)


def feature_side(config) -> int:
  """The encoder feature's side: the image side over the stride of its last VGG stage."""
  return config.data.crop_size // VGG19_STAGE_STRIDES[encoder_stages(config) - 1]


def feature_channels(config) -> int:
  return config.model.vgg_width * VGG19_STAGE_CHANNELS[encoder_stages(config) - 1]


def validate_config(config) -> None:
  """Raises ValueError naming the config key of any value the model cannot use."""
  m, d, o = config.model, config.data, config.optimizer
  attribute_groups(config)
  for key in ("vgg_width", "d_conv_dim", "n_discrim"):
    if m[key] < 1:
      raise ValueError(f"config.model.{key}={m[key]!r} must be >= 1")
  if m.d_downsamples < 0:
    raise ValueError(f"config.model.d_downsamples={m.d_downsamples!r} must be >= 0")
  stages = encoder_stages(config)
  if stages not in (1, 2, 3):
    raise ValueError(f"config.model.encoder_stages={stages!r} must be 1 (relu3_1), "
                     "2 (relu4_1) or 3 (relu5_1, the official encoder)")
  stride = VGG19_STAGE_STRIDES[stages - 1]
  side = stride * 2 ** (m.d_downsamples + 1)
  if d.crop_size != side:
    layer = ("relu3_1", "relu4_1", "relu5_1")[stages - 1]
    raise ValueError(f"config.data.crop_size={d.crop_size}: the feature discriminator with "
                     f"config.model.d_downsamples={m.d_downsamples} takes {side} px images "
                     f"(a {side // stride} x {side // stride} {layer} feature reduced to 1 x 1; "
                     f"config.model.encoder_stages={stages})")
  if m.d_cls_features not in D_CLS_FEATURES:
    raise ValueError(f"config.model.d_cls_features={m.d_cls_features!r} is not one of "
                     f"{list(D_CLS_FEATURES)}")
  if m.lambda_gp < 0:
    raise ValueError(f"config.model.lambda_gp={m.lambda_gp!r} must be >= 0")
  for key in ("lr", "beta1", "beta1_dec", "beta2"):
    if not 0 <= o[key] < (1 if key != "lr" else np.inf):
      raise ValueError(f"config.optimizer.{key}={o[key]!r} is out of range")
  validate_batch_and_precision(config)
  if config.batch_size < 2:
    raise ValueError(f"config.batch_size={config.batch_size} must be >= 2: the references are "
                     "the batch's images permuted, and the decoder's BatchNorm needs a batch")
  validate_rgb_data(config, "HomoInterpGAN")


def build_models(config) -> dict:
  validate_config(config)
  m, dt = config.model, precision(config)
  c, stages = feature_channels(config), encoder_stages(config)
  return {"E": Vgg19(m.vgg_width, stages, **dt),
          "T": Interpolator(num_branches(config), c, **dt),
          "Dec": Decoder(m.vgg_width, stages + 1, **dt),
          "D": FeatureDiscriminator(tuple(group_sizes(config)), m.d_conv_dim, m.d_downsamples,
                                    **dt),
          "KG": KnowledgeTransform(c, **dt),
          "V": Vgg19(m.vgg_width, stages, **dt)}


def make_optimizers(config) -> dict:
  """torch.optim.Adam(lr) per network: betas (beta1, beta2) for E, T and D, PyTorch's
  default (beta1_dec, beta2) for Dec and KG, as the official `_define_optim`."""
  o = config.optimizer
  return {n: adam(o.lr, o.beta1_dec if n in ("Dec", "KG") else o.beta1, o.beta2)
          for n in NETWORKS}


# ---------------------------------------------------------------- VGG weights
def load_vgg19(path: str, width: int, dtype, stages: int = 3) -> dict:
  """Vgg19(width, stages) params from a VGG19 weights file: torchvision's `vgg19`
  state_dict (keys features.<i>.weight / .bias), the official `vgg19g` file
  (features_<s>.conv<k>_<j>.*), or an .npz with either key set. Read without torch."""
  if not path or not os.path.exists(path):
    raise FileNotFoundError(f"VGG19 weights {path!r} not found (config.model.vgg_path)")
  sd = load_torch_state_dict(path)
  stage_of = {layer[0]: s + 1 for s, stage in enumerate(VGG19_STAGES)
              for layer in stage if layer != "pool"}
  convs = [layer[0] for stage in VGG19_STAGES[:stages] for layer in stage if layer != "pool"]
  params = {}
  for name in convs:
    candidates = (f"features.{VGG19_TORCHVISION_INDEX[name]}", f"features_{stage_of[name]}.{name}",
                  name)
    prefix = next((c for c in candidates if f"{c}.weight" in sd and f"{c}.bias" in sd), None)
    if prefix is None:
      raise ValueError(f"{path}: no weights for VGG19 {name} (looked for "
                       f"{', '.join(c + '.weight' for c in candidates)})")
    w = np.asarray(sd[f"{prefix}.weight"])
    params[name] = {"kernel": jnp.asarray(torch_to_flax_array("weight", w), dtype),
                    "bias": jnp.asarray(np.asarray(sd[f"{prefix}.bias"]), dtype)}
  expected = jax.eval_shape(lambda: Vgg19(width, stages).init(
      jax.random.key(0), jnp.zeros((1, 16, 16, 3))))["params"]
  for name in convs:
    if params[name]["kernel"].shape != expected[name]["kernel"].shape:
      raise ValueError(f"{path}: {name} has kernel shape {params[name]['kernel'].shape} (HWIO), "
                       f"config.model.vgg_width={width} needs {expected[name]['kernel'].shape}")
  return params


def decoder_torch_prefixes(width: int, upsamplings: int = 4) -> dict:
  """Flax module path of each decoder conv and BatchNorm -> the official module path
  (`decoder.model` is one nn.Sequential: conv, BatchNorm2d, ReLU per layer, Upsample)."""
  out, index, k = {}, 0, 0
  for item in decoder_plan(width, upsamplings):
    if item == "up":
      index += 1
      continue
    out[(f"Conv2d_{k}",)] = f"model.{index}"
    out[(f"Norm_{k}", "BatchNorm_0")] = f"model.{index + 1}"
    index, k = index + 3, k + 1
  out[(f"Conv2d_{k}",)] = f"model.{index}"
  return out


def load_decoder(path: str, config, dtype) -> tuple[dict, dict]:
  """(params, batch_stats) of Dec from an official decoder state_dict (keys model.<i>.*,
  as the authors' pretrained `homo-decoder-8a84d0ce.pth` that the official run.py starts
  from, or a training checkpoint's, with or without DataParallel's `module.`), read
  without torch."""
  if not path or not os.path.exists(path):
    raise FileNotFoundError(f"decoder weights {path!r} not found (config.model.decoder_path)")
  sd = {k.removeprefix("module."): v for k, v in load_torch_state_dict(path).items()}
  width, ups = config.model.vgg_width, encoder_stages(config) + 1
  prefixes = decoder_torch_prefixes(width, ups)
  f = jnp.zeros((1, 2, 2, feature_channels(config)))
  shapes = jax.eval_shape(lambda: Decoder(width, ups).init(jax.random.key(0), f))
  zeros = jax.tree.map(lambda a: np.zeros(a.shape, np.float32), shapes)
  expected = {k: v.shape for k, v in torch_from_flax_variables(zeros, prefixes.get).items()}
  bookkeeping = lambda key: key.endswith("num_batches_tracked")
  check_state_dict(sd, expected, f"{path} (config.model.decoder_path, vgg_width={width})",
                   ignore=bookkeeping)
  modules = {v: k for k, v in prefixes.items()}
  variables = flax_variables_from_torch(sd, modules.__getitem__, skip=bookkeeping)

  def cast(tree):  # keeps the file's (creation) order of the layers
    return ({k: cast(v) for k, v in tree.items()} if isinstance(tree, dict)
            else jnp.asarray(tree, dtype))
  return cast(variables["params"]), cast(variables["batch_stats"])


# ---------------------------------------------------------------- state
def create_state(config, key, image_shapes, dataset_size: int) -> HomoInterpState:
  """Fresh networks with PyTorch's default initialisation, E from the VGG19 file of
  config.model.vgg_path (else He-normal, `Vgg19`), their Adam states, and the frozen
  VGG19 (a copy of E's initial weights)."""
  del dataset_size
  nets = build_models(config)
  dtype = jnp.dtype(config.model.param_dtype)
  x = jnp.zeros((2, *image_shapes["x"]), dtype)
  side, c = feature_side(config), feature_channels(config)
  f = jnp.zeros((2, side, side, c), dtype)
  keys = jax.random.split(key, 2 * len(NETWORKS))
  variables = {
      "E": nets["E"].init(keys[0], x),
      "T": nets["T"].init(keys[1], f, f, jnp.zeros((2, num_branches(config)), dtype)),
      "Dec": nets["Dec"].init(keys[2], f),
      "D": nets["D"].init(keys[3], f),
      "KG": nets["KG"].init(keys[4], f),
  }
  params = {n: torch_default_params(variables[n]["params"], keys[5 + i])
            for i, n in enumerate(NETWORKS) if n != "E"}
  params["E"] = (load_vgg19(config.model.vgg_path, config.model.vgg_width, dtype,
                            encoder_stages(config))
                 if config.model.vgg_path else variables["E"]["params"])
  dec_stats = variables["Dec"]["batch_stats"]
  if config.model.get("decoder_path"):
    params["Dec"], dec_stats = load_decoder(config.model.decoder_path, config, dtype)
  opts = make_optimizers(config)
  return HomoInterpState(step=jnp.zeros((), jnp.int32), params=params,
                         batch_stats={"Dec": dec_stats},
                         opt_state={n: opts[n].init(params[n]) for n in NETWORKS},
                         vgg=jax.tree.map(jnp.copy, params["E"]))


# ---------------------------------------------------------------- losses
def perceptual_loss(vgg, image, target):
  """The official `perceptural_loss`: MSE(V(image), V(target)) with V the frozen VGG19 to
  relu3_1; no gradient through the target. image, target [N, H, W, 3] in the
  ImageNet-normalised space."""
  v1 = Vgg19(stages=1, width=vgg["conv1_1"]["kernel"].shape[-1])
  feats, = v1.apply({"params": vgg}, jnp.concatenate([image, target]))  # one call for both
  f_image, f_target = jnp.split(feats, 2)
  return losses.mse_loss(f_image, jax.lax.stop_gradient(f_target))


def strengths_per_attribute(config, v):
  """v [N, B] (branch strengths) -> [N, K]: each attribute takes its group's strength."""
  index = [g for g, size in enumerate(group_sizes(config)) for _ in range(size)]
  return v[:, jnp.asarray(index)]


def draw(config, key, n: int, dtype) -> dict:
  """The step's random numbers, named as in the official optimizer:
  {"v": [N, B] U[0, 1), "perm": int [N], "alpha": [N, 1, 1, 1] U[0, 1)}."""
  kv, kp, ka = jax.random.split(key, 3)
  return {"v": jax.random.uniform(kv, (n, num_branches(config)), dtype),
          "perm": jax.random.permutation(kp, n),
          "alpha": jax.random.uniform(ka, (n, 1, 1, 1), dtype)}


def encoder_updates(config, step: int, dataset_size: int | None = None) -> bool:
  """Whether E and T are updated in iteration `step` (0-based): step % n_discrim == 0,
  the official `global_step % n_discrim` (`ModelSpec.step_phase`)."""
  return int(step) % config.model.n_discrim == 0


def make_train_step(config, dataset_size: int):
  """Returns the pure step `(state, batch, rng, draws=None, phase=None) -> (state, metrics)`.

  batch: {"x": [N, H, W, 3] in [-1, 1], "label": [N, K]}. `rng` is the run's
  base key; the step uses `fold_in(rng, state.step)`. `draws` (tests)
  replaces the random numbers (`draw`). `phase` (static,
  `encoder_updates(config, state.step)`) selects step 4 at compile time
  (iterations without it report no E/T metrics); without it the step uses
  `lax.cond` and reports zeros for them.
  """
  del dataset_size
  nets, m = build_models(config), config.model
  E, T, Dec, D, KG, V = (nets[k] for k in ("E", "T", "Dec", "D", "KG", "V"))
  dtype = jnp.dtype(m.param_dtype)
  opts = make_optimizers(config)
  n_branch = num_branches(config)

  def update(name, params, opt_state, grads):
    updates, opt_state = opts[name].update(grads, opt_state, params)
    return optax.apply_updates(params, updates), opt_state

  def decode(p, stats, f):
    y, upd = Dec.apply({"params": p, "batch_stats": stats}, f, train=True, mutable=["batch_stats"])
    return y, upd["batch_stats"]

  def attr_logits(d_params, f):
    real, attrs = D.apply({"params": d_params}, f)
    return real, jnp.concatenate(attrs, axis=-1)

  def dec_loss(p, stats, vgg, feat, x):
    out, stats = decode(p, stats, feat)
    per = perceptual_loss(vgg, out, x)
    mse = losses.mse_loss(out, x)
    return per + mse, ({"dec_per": per, "dec_mse": mse}, stats)

  def d_loss(p, feat, feat_interp, alpha, labels):
    real_score, real_attr = attr_logits(p, feat)
    fake_score, fake_attr = attr_logits(p, feat_interp)
    f_hat = losses.interpolate_samples(feat, feat_interp, alpha)
    gp = m.lambda_gp * losses.unit_gradient_penalty(lambda f: D.apply({"params": p}, f)[0], f_hat)
    gan = jnp.mean(fake_score) - jnp.mean(real_score)
    cls_logits = fake_attr if m.d_cls_features == "interpolated" else real_attr
    cls = losses.binary_attribute_loss(cls_logits, labels)
    return gp + gan + cls, {"discrim_gp": gp, "discrim_gan": gan, "discrim_cls": cls}

  def kg_loss(p, feat, teacher):
    return losses.mse_loss(KG.apply({"params": p}, feat), teacher)

  def enc_int_loss(pet, params, stats, vgg, x, teacher, v, perm, targets):
    feat = E.apply({"params": pet["E"]}, x)[-1]
    feat_perm = feat[perm]
    feat_interp = T.apply({"params": pet["T"]}, feat, feat_perm, v)
    score, attrs = attr_logits(params["D"], feat_interp)
    gan = -jnp.mean(score)
    cls = losses.binary_attribute_loss(attrs, jax.lax.stop_gradient(targets))
    fd, fpd = jax.lax.stop_gradient(feat), jax.lax.stop_gradient(feat_perm)
    all_ = losses.mse_loss(T.apply({"params": pet["T"]}, fd, fpd, jnp.ones_like(v)), fpd)
    out, stats = decode(params["Dec"], stats, feat)
    mse = losses.mse_loss(out, x)
    per = perceptual_loss(vgg, out, x)
    kg = losses.mse_loss(KG.apply({"params": params["KG"]}, feat), teacher)
    total = gan + cls + all_ + mse + per + kg
    return total, ({"enc_int_gan": gan, "enc_int_cls": cls, "enc_int_all": all_,
                    "enc_int_mse": mse, "enc_int_per": per, "enc_int_KG": kg}, stats)

  def train_step(state: HomoInterpState, batch, rng, draws=None, phase=None):
    x = to_vgg_space(batch["x"].astype(dtype))
    labels = batch["label"].astype(dtype)
    n = x.shape[0]
    if draws is None:
      draws = draw(config, jax.random.fold_in(rng, state.step), n, dtype)
    elif set(draws) != {"v", "perm", "alpha"}:
      raise ValueError("draws: the homointerp step draws {'v', 'perm', 'alpha'}")
    v, perm = draws["v"].astype(dtype), draws["perm"]
    if v.shape != (n, n_branch):
      raise ValueError(f"draws['v'] must be [{n}, {n_branch}], got {v.shape}")
    targets = losses.interpolated_attribute_targets(labels, labels[perm],
                                                    strengths_per_attribute(config, v))
    params, opt_state = dict(state.params), dict(state.opt_state)
    feat = E.apply({"params": params["E"]}, x)[-1]
    feat_interp = T.apply({"params": params["T"]}, feat, feat[perm], v)
    feat, feat_interp = jax.lax.stop_gradient(feat), jax.lax.stop_gradient(feat_interp)
    teacher = V.apply({"params": state.vgg}, x)[-1]
    metrics = {}

    # 1. Decoder.
    (dec_total, (terms, stats)), grads = jax.value_and_grad(dec_loss, has_aux=True)(
        params["Dec"], state.batch_stats["Dec"], state.vgg, feat, x)
    params["Dec"], opt_state["Dec"] = update("Dec", params["Dec"], opt_state["Dec"], grads)
    metrics.update({"dec": dec_total, **terms})
    all_grads = {"Dec": grads}

    # 2. Feature discriminator.
    (d_total, terms), grads = jax.value_and_grad(d_loss, has_aux=True)(
        params["D"], feat, feat_interp, draws["alpha"].astype(dtype), labels)
    params["D"], opt_state["D"] = update("D", params["D"], opt_state["D"], grads)
    metrics.update({"discrim": d_total, **terms})
    all_grads["D"] = grads

    # 3. Knowledge-guidance transform.
    kg_total, grads = jax.value_and_grad(kg_loss)(params["KG"], feat, teacher)
    params["KG"], opt_state["KG"] = update("KG", params["KG"], opt_state["KG"], grads)
    metrics["KGTransform"] = kg_total
    all_grads["KG"] = grads

    # 4. Encoder and interpolator, every n_discrim iterations.
    def et_step(args):
      pet, opts_et, stats = args
      (total, (terms, stats)), g = jax.value_and_grad(enc_int_loss, has_aux=True)(
          pet, params, stats, state.vgg, x, teacher, v, perm, targets)
      new_e, oe = update("E", pet["E"], opts_et["E"], g["E"])
      new_t, ot = update("T", pet["T"], opts_et["T"], g["T"])
      return ({"E": new_e, "T": new_t}, {"E": oe, "T": ot}, stats), {
          "enc_int": total, **terms, "E_grad_norm": optax.tree.norm(g["E"]),
          "T_grad_norm": optax.tree.norm(g["T"])}

    def no_et_step(args):
      zero = jnp.zeros((), jnp.promote_types(dtype, jnp.float32))
      names = ("enc_int", "enc_int_gan", "enc_int_cls", "enc_int_all", "enc_int_mse",
               "enc_int_per", "enc_int_KG", "E_grad_norm", "T_grad_norm")
      return args, {k: zero for k in names}

    args = ({"E": params["E"], "T": params["T"]}, {"E": opt_state["E"], "T": opt_state["T"]},
            stats)
    if phase is not None:  # static; iterations without the E/T update report no E/T terms
      args, et_metrics = et_step(args) if phase else (args, {})
    else:
      args, et_metrics = jax.lax.cond(state.step % m.n_discrim == 0, et_step, no_et_step, args)
    pet, opts_et, stats = args
    params["E"], params["T"] = pet["E"], pet["T"]
    opt_state["E"], opt_state["T"] = opts_et["E"], opts_et["T"]
    metrics.update(et_metrics)
    metrics.update(norm_metrics(all_grads, {k: params[k] for k in ("E", "T", "Dec", "D")}))
    new_state = state.replace(step=state.step + 1, params=params, opt_state=opt_state,
                              batch_stats={"Dec": stats})
    return new_state, metrics

  return train_step


# ---------------------------------------------------------------- sampling and translation
def interpolate_images(nets, params, dec_stats, x, ref, v):
  """Dec(T(E(x), E(ref), v)) with the decoder's running statistics (the official test's
  eval mode): x, ref [N, H, W, 3] in [-1, 1], v [N, B] -> [N, H, W, 3] on the [-1, 1]
  scale, clipped."""
  xv, rv = to_vgg_space(x), to_vgg_space(ref)
  f1 = nets["E"].apply({"params": params["E"]}, xv)[-1]
  f2 = nets["E"].apply({"params": params["E"]}, rv)[-1]
  f = nets["T"].apply({"params": params["T"]}, f1, f2, v.astype(f1.dtype))
  y = nets["Dec"].apply({"params": params["Dec"], "batch_stats": dec_stats}, f, train=False)
  return jnp.clip(from_vgg_space(y), -1.0, 1.0)


def strip_strengths(config, steps: int) -> np.ndarray:
  """[B + 1, steps, B]: for each branch b the strengths 0 .. 1 of branch b alone (the
  official `interp_test` rows), then every branch together (its last row)."""
  b = num_branches(config)
  ts = np.linspace(0.0, 1.0, steps)
  out = np.zeros((b + 1, steps, b), np.float32)
  for i in range(b):
    out[i, :, i] = ts
  out[b] = ts[:, None]
  return out


def branch_names(config) -> list[str]:
  return ["@".join(("#" if neg else "") + n for n, neg in g)
          for g in attribute_groups(config)] + ["residual"]


def make_sample_fn(config):
  """`(state, batch, rng) -> {"strips": [N, B + 1, 5, H, W, 3]}`: for each source image
  (reference: the next image of the batch), the source, the outputs at strengths 0,
  0.5, 1 of each branch alone and of all branches, then the reference, as the
  official `interp_test` sample map."""
  nets = build_models(config)
  grid = strip_strengths(config, 3)

  def sample(state: HomoInterpState, batch, rng):
    del rng
    x = batch["x"]
    n = x.shape[0]
    ref = jnp.roll(x, -1, axis=0)
    rows, s, b = grid.shape
    v = jnp.broadcast_to(jnp.asarray(grid, x.dtype), (n, rows, s, b)).reshape(-1, b)
    xs = jnp.repeat(x, rows * s, axis=0)
    rs = jnp.repeat(ref, rows * s, axis=0)
    out = interpolate_images(nets, state.params, state.batch_stats["Dec"], xs, rs, v)
    out = out.reshape(n, rows, s, *x.shape[1:])
    src = jnp.broadcast_to(x[:, None, None], (n, rows, 1, *x.shape[1:]))
    refs = jnp.broadcast_to(ref[:, None, None], (n, rows, 1, *x.shape[1:]))
    return {"strips": jnp.concatenate([src, out, refs], axis=2)}

  return sample


def sample_grids(config, images: dict) -> dict:
  """{"strips": one row per (source, branch): source, strengths 0 / 0.5 / 1, reference}."""
  block = np.asarray(images["strips"])
  n, rows = block.shape[:2]
  names = branch_names(config) + ["all"]
  labels = [f"#{i} {names[r]}" for i in range(n) for r in range(rows)]
  return {"strips": block_grid(block.reshape(n * rows, *block.shape[2:]), labels,
                               ["source", "v=0", "v=0.5", "v=1", "reference"])}


def image_shapes(config) -> dict:
  size = config.data.crop_size
  return {"x": (size, size, 3)}


def make_examples(config, split: str = "train", seed: int | None = None):
  """(example function, dataset size, image shapes): images with the attributes of
  config.model.attrs, group by group ("#" attributes negated)."""
  from i2ijax.data.attributes import attribute_source
  from i2ijax.data.pipeline import MultiLabelExamples, make_transform
  names = source_attributes(config)
  source = attribute_source(config.data, split, names)
  columns, negate = [], []
  for group in attribute_groups(config):
    for name, neg in group:
      columns.append(source.names.index(name))
      negate.append(neg)
  columns, negate = np.asarray(columns), np.asarray(negate)
  data = config.data
  if split != "train":
    data = data.copy_and_resolve_references()
    data.flip = False
  examples = MultiLabelExamples(source, transform=make_transform(data),
                                seed=config.seed if seed is None else seed)

  def example(g: int) -> dict:
    out = examples(g)
    label = out["label"][columns]
    out["label"] = np.where(negate, 1.0 - label, label).astype(np.float32)
    return out

  return example, examples.size, image_shapes(config)


def parse_strengths(config, text: str) -> np.ndarray:
  """"GROUP=V,..." (GROUP a group of config.model.attrs as written, e.g. "Black_Hair@Blond_Hair",
  any one of its attributes, or "residual") -> strengths [B]; unnamed branches 0."""
  names = branch_names(config)
  groups = attribute_groups(config)
  v = np.zeros((len(names),), np.float32)
  for key, value in name_value_pairs(text, "--strengths", f"GROUP=VALUE, e.g. {names[0]}=0.5"):
    index = names.index(key) if key in names else next(
        (g for g, members in enumerate(groups) if key in [n for n, _ in members]), None)
    if index is None:
      raise ValueError(f"--strengths: unknown group {key!r}; the branches: {names}")
    try:
      v[index] = float(value)
    except ValueError:
      raise ValueError(f"--strengths {key}={value!r}: the value must be a number") from None
  return v


def translator(config, request):
  """Interpolates each input towards `request.references[0]`: with `request.strengths`
  one output at those branch strengths, otherwise a strip per branch (and one of every
  branch together) of `request.interpolate` (default 5) strengths from 0 to 1."""
  if len(request.references) > 1:
    raise ValueError(f"homointerp translates towards one reference image, got "
                     f"{len(request.references)} (--reference)")
  nets = build_models(config)
  size = config.data.crop_size
  ref = None
  if request.references:
    ref = jnp.asarray(request.references[0], jnp.float32)
    ref = jax.image.resize(ref, (size, size, ref.shape[-1]), "bilinear")[None]
  if request.strengths:
    grid = parse_strengths(config, request.strengths)[None]
  else:
    grid = strip_strengths(config, request.interpolate or 5).reshape(-1, num_branches(config))

  def apply(p, x):
    if ref is None:
      raise ValueError("homointerp translates towards a reference image: give --reference=IMAGE")
    k = grid.shape[0]
    xs = jnp.repeat(x, k, axis=0)
    rs = jnp.broadcast_to(ref.astype(x.dtype), xs.shape)
    return interpolate_images(nets, p, p["batch_stats"], xs, rs, jnp.asarray(grid, x.dtype))

  params = lambda state: {**state.params, "batch_stats": state.batch_stats["Dec"]}
  return Translator(jax.jit(apply), params, 3, 3, grid.shape[0], size=size)


# ---------------------------------------------------------------- evaluation
EVAL_STRENGTHS = (0.0, 0.25, 0.5, 0.75, 1.0)


def evaluate_interpolation(config, state, split: str = "test", strengths=EVAL_STRENGTHS) -> dict:
  """The interpolation tasks of the embedded attribute photos (`ModelSpec.evaluate`).

  Each held-out image i (split `split`) is moved towards the reference
  image i + 1 (cyclically; pairs with equal labels, which have nothing to
  interpolate, are left out) with strength v on every attribute branch (the
  residual branch at 0, so the content stays the source's), for each v of
  `strengths`: task "v=<v>". The truth is the source's clean crop rendered
  with the interpolated labels a_i + v (a_ref - a_i) (`EmbeddedAttributes.truth`,
  continuous strengths). Scores: PSNR/SSIM (uint8) of the outputs ("model"),
  of the source image ("baseline_input") and of the pixel blend
  round((1 - v) source + v reference) ("baseline_blend") against the truth,
  and their means over the strengths v > 0 ("mean"; at v = 0 the truth is the
  source itself, whose PSNR is infinite). The decoder normalises with
  its running statistics (the official test's eval mode).
  """
  from i2ijax.data.attributes import EmbeddedAttributes, attribute_source
  from i2ijax.data.images import to_uint8
  from i2ijax.evaluate.scoring import score
  source = attribute_source(config.data, split, source_attributes(config))
  if not isinstance(source, EmbeddedAttributes):
    raise ValueError(f"homointerp is scored against the true interpolation, which only the "
                     f"embedded attribute photos have (config.data.source="
                     f"{config.data.source!r}); train on data.source='embedded'")
  nets = build_models(config)
  n = len(source)
  images = np.stack([source.load(i) for i in range(n)])
  labels = np.stack([source.label(i) for i in range(n)])
  refs = np.roll(np.arange(n), -1)
  keep = np.flatnonzero(np.any(labels != labels[refs], axis=1))
  images_all = images
  images, refs = images[keep], refs[keep]
  n = len(keep)
  x = jnp.asarray(images, jnp.float32) / 127.5 - 1.0
  x_ref = jnp.asarray(images_all[refs], jnp.float32) / 127.5 - 1.0
  run = jax.jit(lambda p, stats, a, b, v: interpolate_images(nets, p, stats, a, b, v))
  tasks = {}
  for v in strengths:
    branches = np.full((n, num_branches(config)), v, np.float32)
    branches[:, -1] = 0.0  # the residual branch: the content stays the source's
    out = to_uint8(np.asarray(run(state.params, state.batch_stats["Dec"], x, x_ref,
                                  jnp.asarray(branches))))
    truths = [source.truth(int(i), labels[i] + v * (labels[r] - labels[i]))
              for i, r in zip(keep, refs)]
    blend = [to_uint8(((1 - v) * images[k].astype(np.float64) + v * images_all[r]) / 127.5 - 1)
             for k, r in enumerate(refs)]
    pick = lambda r: {"psnr": r["psnr"], "ssim": r["ssim"]}
    tasks[f"v={v:g}"] = {"images": n, "outputs_per_image": 1,
                         "model": pick(score(list(out), truths)),
                         "baseline_input": pick(score(list(images), truths)),
                         "baseline_blend": pick(score(blend, truths))}
  moved = [t for v, t in zip(strengths, tasks.values()) if v > 0]
  mean = {key: {m: float(np.mean([t[key][m] for t in moved])) for m in ("psnr", "ssim")}
          for key in ("model", "baseline_input", "baseline_blend")}
  return {"images": n, "tasks": tasks, "mean": mean}


def torch_networks(config) -> list:
  """The official `<net>-<label>.pth` files of `optim_homoInterp.save(label)` (encoder,
  interp_net, decoder, discrim, KGTransform), the state_dicts of DataParallel wrappers
  ("module." keys; the discriminator's without), as the official `run.py` builds them. The frozen VGG19
  teacher is not among them: it comes from config.model.vgg_path, as in training."""
  m = config.model
  if encoder_stages(config) != 3:
    raise ValueError(f"config.model.encoder_stages={m.encoder_stages} has no official checkpoint "
                     f"layout (the official encoder ends at relu5_1: 3)")
  stages = ("features_1", "features_2", "features_3")
  encoder, stage = {}, 0
  for layer in VGG19_CONVS:
    encoder[(layer,)] = f"model.{stages[stage]}.{layer}"
    stage += layer in ("conv3_1", "conv4_1")  # the last conv of features_1 and features_2
  groups = len(attribute_groups(config))
  interp = {(f"branch_{i}", f"Conv2d_{j}"): f"branch.{i}.model.{2 * j}"
            for i in range(groups + 1) for j in range(3)}
  discrim = {}
  for k in range(8):
    discrim[(f"Conv2d_{k}",)] = f"model.{3 * k}"
    discrim[(f"InstanceNorm_{k}",)] = f"model.{3 * k + 1}"
  discrim[("if_real",)] = "ifReal"
  discrim.update({(f"attr_{i}",): f"attr_branches.{i}" for i in range(groups)})
  decoder = decoder_torch_prefixes(m.vgg_width, encoder_stages(config) + 1)
  files = (("E", "encoder", encoder, "translate", "module."),
           ("T", "interp_net", interp, "translate", "module."),
           ("Dec", "decoder", decoder, "translate", "module."),
           ("D", "discrim", discrim, "optional", ""),
           ("KG", "KGTransform", {("Conv2d_0",): ""}, "optional", "module."))
  return [TorchNetwork(name, (f"{stem}-*.pth",), stem + "-{step}.pth", layers, role,
                       key_prefix=prefix)
          for name, stem, layers, role, prefix in files]


SPEC = ModelSpec(
    name="homointerp", data_kind=DataKind.MULTI_LABEL, validate_config=validate_config,
    make_examples=make_examples, image_shapes=image_shapes, create_state=create_state,
    make_train_step=make_train_step, make_sample_fn=make_sample_fn, sample_grids=sample_grids,
    translator=translator, translate_options=frozenset({"references", "strengths", "interpolate"}),
    directions=(), multimodal=False, translate_example="--reference=IMAGE --strengths=<GROUP>=0.5",
    step_phase=encoder_updates, evaluate=evaluate_interpolation,
    init_files=("model.vgg_path", "model.decoder_path"), torch_networks=torch_networks)
