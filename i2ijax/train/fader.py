"""Fader Networks (Lample et al., NIPS 2017): state, one pure train step, sampling grids,
translator.

Follows `src/training.py` and `train.py` of facebookresearch/FaderNetworks
(commit cdd9e50). Networks (i2ijax.models.fader): the autoencoder AE = (E,
Dec) with the attribute code y (2 one-hot channels per binary attribute)
entering every decoder layer, and the latent discriminator D_lat on E(x).
Each iteration t (0-based) of the official loop runs, in this order:

1. n_lat_dis latent-discriminator steps (`lat_dis_step`), each on a batch of
   its own (x', y'): z = E(x') with the autoencoder in eval mode (BatchNorm
   on its running averages, nothing updated, no gradient), D_lat in train
   mode (batch statistics, dropout 0.3),
     L_dis = sum_k CE(D_lat(z)_k, y'_k)                 (paper eq. 2),
   gradients clipped to global norm clip_grad_norm (5), Adam;
2. the autoencoder step (`autoencoder_step`) on another batch (x, y), the AE
   in train mode, the *updated* D_lat in eval mode (running averages, no
   dropout):
     L_ae = lambda_ae mean (Dec(E(x), y) - x)^2
            + lambda_lat(t) sum_k CE(D_lat(E(x))_k, 1 - y_k)   (paper eq. 3),
   the encoder pushed to make D_lat predict the *other* value of every
   attribute (the flipped labels), lambda_lat(t) = lambda_lat_dis min(t, s) / s
   with s = lambda_schedule (the official `get_lambda`: 0 at the first
   iteration), gradients clipped to norm 5, Adam.

Both Adams are torch.optim.Adam at 2e-4 with betas (0.5, 0.999) (the
official `get_optimizer` defaults beta1 to 0.5). Each step's batch is read
from the batch's own keys: {"x", "label"} for the autoencoder and, with
n_lat_dis >= 1, {"x_lat", "label_lat"} [N, n_lat_dis, ...] for the
discriminator steps (independent streams of the same data, as the official
`data.train_batch` draws a fresh batch for every step).
"""

import flax.struct
import jax
import jax.numpy as jnp
import numpy as np
import optax

from i2ijax import losses
from i2ijax.data.attributes import attribute_values, parse_attrs, single_changes
from i2ijax.models.fader import AutoEncoder, LatentDiscriminator, attribute_code
from i2ijax.models.layers import torch_default_params
from i2ijax.registry import DataKind, ModelSpec, Translator, block_grid
from i2ijax.train.common import (adam, clip_grad_norm, norm_metrics, precision,
                                 validate_batch_and_precision, validate_rgb_data)


@flax.struct.dataclass
class FaderState:
  step: jax.Array
  params: dict  # {"ae": {"encoder", "decoder"}, "lat_dis"}
  batch_stats: dict  # {"ae", "lat_dis"}: BatchNorm running averages
  opt_state: dict  # {"ae", "lat_dis"}: one Adam state each


# ---------------------------------------------------------------- configuration
def attribute_names(config) -> list[str]:
  """config.model.attrs as a list (a comma-separated string or a sequence of names)."""
  return parse_attrs(config.model.attrs)


def n_attr(config) -> int:
  """Channels of the attribute code: 2 per binary attribute."""
  return 2 * len(attribute_names(config))


def validate_config(config) -> None:
  """Raises ValueError naming the config key of any value the model cannot use."""
  m, d = config.model, config.data
  names = attribute_names(config)
  if len(names) < 1 or len(set(names)) != len(names):
    raise ValueError(f"config.model.attrs={m.attrs!r} must name distinct attributes")
  size = d.crop_size
  if size < 2 or size & (size - 1):
    raise ValueError(f"config.data.crop_size={size} (img_sz) must be a power of 2")
  depth = size.bit_length() - 1
  if not 1 <= m.n_layers <= depth:
    raise ValueError(f"config.model.n_layers={m.n_layers} must be in [1, log2(crop_size) = "
                     f"{depth}]")
  for key in ("init_fm", "max_fm", "hid_dim"):
    if m[key] < 1:
      raise ValueError(f"config.model.{key}={m[key]!r} must be >= 1")
  if m.init_fm > m.max_fm:
    raise ValueError(f"config.model.init_fm={m.init_fm} must be <= config.model.max_fm="
                     f"{m.max_fm}")
  if not 0.0 <= m.lat_dis_dropout < 1.0:
    raise ValueError(f"config.model.lat_dis_dropout={m.lat_dis_dropout!r} must be in [0, 1)")
  for key in ("n_lat_dis", "lambda_ae", "lambda_lat_dis", "lambda_schedule", "clip_grad_norm"):
    if m[key] < 0:
      raise ValueError(f"config.model.{key}={m[key]!r} must be >= 0")
  if m.lambda_lat_dis > 0 and m.n_lat_dis < 1:
    raise ValueError("config.model.lambda_lat_dis > 0 needs config.model.n_lat_dis >= 1 (a "
                     "trained latent discriminator), as the official code asserts")
  for key in ("ae_lr", "dis_lr"):
    if config.optimizer[key] <= 0:
      raise ValueError(f"config.optimizer.{key}={config.optimizer[key]!r} must be > 0")
  validate_batch_and_precision(config)
  validate_rgb_data(config, "Fader Networks")


def build_models(config) -> dict:
  validate_config(config)
  m = config.model
  dt = precision(config)
  return {"ae": AutoEncoder(3, m.init_fm, m.max_fm, m.n_layers, n_attr(config), **dt),
          "lat_dis": LatentDiscriminator(config.data.crop_size, m.init_fm, m.max_fm, m.n_layers,
                                         m.hid_dim, n_attr(config), m.lat_dis_dropout, **dt)}


def make_optimizers(config) -> dict:
  """torch.optim.Adam(lr, (beta1, beta2)) for the autoencoder and the latent discriminator
  (the official "adam,lr=0.0002" for both, beta1 0.5 by default), constant rates."""
  o = config.optimizer
  return {"ae": adam(o.ae_lr, o.beta1, o.beta2), "lat_dis": adam(o.dis_lr, o.beta1, o.beta2)}


def create_state(config, key, image_shapes, dataset_size: int) -> FaderState:
  """Fresh networks with PyTorch's default initialisation, and their Adam states."""
  del dataset_size
  nets = build_models(config)
  dtype = jnp.dtype(config.model.param_dtype)
  x = jnp.zeros((2, *image_shapes["x"]), dtype)
  code = jnp.zeros((2, n_attr(config)), dtype)
  k_ae, k_dis, r_ae, r_dis = jax.random.split(key, 4)
  ae_vars = nets["ae"].init(k_ae, x, code, train=False)
  z = jax.eval_shape(lambda: nets["ae"].apply(ae_vars, x, train=False,
                                              method=AutoEncoder.encode))
  dis_vars = nets["lat_dis"].init(k_dis, jnp.zeros(z.shape, dtype), train=False)
  params = {"ae": torch_default_params(ae_vars["params"], r_ae),
            "lat_dis": torch_default_params(dis_vars["params"], r_dis)}
  opts = make_optimizers(config)
  return FaderState(step=jnp.zeros((), jnp.int32), params=params,
                    batch_stats={"ae": ae_vars["batch_stats"], "lat_dis": dis_vars["batch_stats"]},
                    opt_state={n: opts[n].init(params[n]) for n in ("ae", "lat_dis")})


# ---------------------------------------------------------------- losses
def lambda_lat_at(config, step):
  """lambda_lat of iteration `step` (0-based): `losses.linear_ramp` of
  config.model.lambda_lat_dis over config.model.lambda_schedule iterations, in
  config.model.param_dtype."""
  m = config.model
  dtype = jnp.dtype(m.param_dtype)
  return jnp.asarray(losses.linear_ramp(m.lambda_lat_dis, jnp.asarray(step).astype(dtype),
                                        int(m.lambda_schedule)), dtype)


def encode_eval(AE, ae_params, ae_stats, x):
  """E(x) with the autoencoder in eval mode (running averages), without gradient: the
  latents the official `lat_dis_step` classifies."""
  z = AE.apply({"params": ae_params, "batch_stats": ae_stats}, x, train=False,
               method=AutoEncoder.encode)
  return jax.lax.stop_gradient(z)


def latent_discriminator_loss(d_params, d_stats, D, z, labels, masks=None, key=None):
  """L_dis of Fader Networks (Lample et al. 2017, eq. 2): sum over attributes of the
  cross-entropy of D_lat's prediction from the latent z [N, s, s, C] with the true
  labels [N, K] (`losses.pairwise_attribute_loss`). D_lat in train mode: batch statistics
  (running averages updated) and dropout (keep `masks`, or drawn from `key`).
  Returns (L_dis, running statistics after the forward)."""
  rngs = {"dropout": key} if key is not None else None
  logits, upd = D.apply({"params": d_params, "batch_stats": d_stats}, z, train=True,
                        masks=masks, mutable=["batch_stats"], rngs=rngs)
  return losses.pairwise_attribute_loss(logits, labels), upd["batch_stats"]


def autoencoder_loss(ae_params, ae_stats, AE, D, d_vars, x, labels, lambda_ae, lambda_lat):
  """L_ae of Fader Networks (Lample et al. 2017, eq. 3): lambda_ae E[(Dec(E(x), y) - x)^2]
  + lambda_lat sum_k CE(D_lat(E(x))_k, 1 - y_k).

  x [N, S, S, 3] in [-1, 1], labels y [N, K] of 0/1; the autoencoder in train mode
  (batch statistics, running averages updated), D_lat (`d_vars`, its params and
  batch_stats) in eval mode: running averages, no dropout. The latent term is the
  encoder's adversarial loss: the flipped labels (`pairwise_attribute_loss(flip=True)`).
  Returns (L_ae, ({"rec_loss", "lat_loss"}, the autoencoder's running statistics)).
  """
  code = attribute_code(labels, x.dtype)
  (z, rec), upd = AE.apply({"params": ae_params, "batch_stats": ae_stats}, x, code, train=True,
                           mutable=["batch_stats"])
  rec_loss = losses.mse_loss(rec, x)
  preds = D.apply(d_vars, z, train=False)
  lat_loss = losses.pairwise_attribute_loss(preds, labels, flip=True)
  total = lambda_ae * rec_loss + lambda_lat * lat_loss
  return total, ({"rec_loss": rec_loss, "lat_loss": lat_loss}, upd["batch_stats"])


# ---------------------------------------------------------------- train step
def make_train_step(config, dataset_size: int):
  """Returns the pure step `(state, batch, rng, draws=None) -> (state, metrics)`.

  batch: {"x" [N, S, S, 3], "label" [N, K]} of the autoencoder step and, when
  n_lat_dis >= 1, {"x_lat" [N, n_lat_dis, S, S, 3], "label_lat" [N, n_lat_dis, K]}
  of the discriminator steps (j-th step: [:, j]). `rng` is the run's base key;
  the step uses `fold_in(rng, state.step)`. `draws` (tests) replaces the
  dropout draws: {"lat_masks": per discriminator step, a list of 0/1 keep masks,
  one per conv layer of D_lat, shaped as its output [N, h, w, C]}.
  """
  del dataset_size
  nets, m = build_models(config), config.model
  AE, D = nets["ae"], nets["lat_dis"]
  dtype = jnp.dtype(m.param_dtype)
  opts = make_optimizers(config)
  clip = float(m.clip_grad_norm)

  def update(name, params, opt_state, grads):
    if clip:
      grads = clip_grad_norm(grads, clip)
    updates, opt_state = opts[name].update(grads, opt_state, params)
    return optax.apply_updates(params, updates), opt_state

  def train_step(state: FaderState, batch, rng, draws=None):
    key = jax.random.fold_in(rng, state.step)
    params, stats, opt_state = dict(state.params), dict(state.batch_stats), dict(state.opt_state)
    metrics = {}

    # 1. Latent discriminator steps, each on its own batch, E in eval mode.
    dis_grads = None
    for j in range(m.n_lat_dis):
      key, k_drop = jax.random.split(key)
      x_j = batch["x_lat"][:, j].astype(dtype)
      y_j = batch["label_lat"][:, j].astype(dtype)
      z = encode_eval(AE, params["ae"], stats["ae"], x_j)
      masks = None if draws is None else draws["lat_masks"][j]
      (dis_loss, stats["lat_dis"]), dis_grads = jax.value_and_grad(
          latent_discriminator_loss, has_aux=True)(params["lat_dis"], stats["lat_dis"], D, z, y_j,
                                                   masks, None if masks is not None else k_drop)
      params["lat_dis"], opt_state["lat_dis"] = update("lat_dis", params["lat_dis"],
                                                       opt_state["lat_dis"], dis_grads)
      metrics["lat_dis_loss"] = dis_loss  # the last step's

    # 2. Autoencoder step against the updated D_lat (eval mode).
    lam = lambda_lat_at(config, state.step)
    x, y = batch["x"].astype(dtype), batch["label"].astype(dtype)
    d_vars = {"params": params["lat_dis"], "batch_stats": stats["lat_dis"]}
    (ae_total, (terms, stats["ae"])), ae_grads = jax.value_and_grad(autoencoder_loss, has_aux=True)(
        params["ae"], stats["ae"], AE, D, d_vars, x, y, m.lambda_ae, lam)
    params["ae"], opt_state["ae"] = update("ae", params["ae"], opt_state["ae"], ae_grads)
    metrics.update({"ae_loss": ae_total, **terms, "lambda_lat": lam})
    grads = {"ae": ae_grads, **({"lat_dis": dis_grads} if dis_grads is not None else {})}
    metrics.update(norm_metrics(grads, {k: params[k] for k in grads}))
    new_state = state.replace(step=state.step + 1, params=params, batch_stats=stats,
                              opt_state=opt_state)
    return new_state, metrics

  return train_step


# ---------------------------------------------------------------- sampling
def decode_eval(AE, ae_params, ae_stats, x, values):
  """Dec(E(x), code(values)) with the autoencoder in eval mode (the official
  `interpolate.py`): x [N, S, S, 3], values [N, K] in [0, 1] -> [N, S, S, 3]."""
  v = {"params": ae_params, "batch_stats": ae_stats}
  z = AE.apply(v, x, train=False, method=AutoEncoder.encode)
  return AE.apply(v, z, attribute_code(values, x.dtype), train=False, method=AutoEncoder.decode)


def make_sample_fn(config):
  """`(state, batch, rng) -> {"changes": [N, 2 + K, S, S, 3]}`: each source, its
  reconstruction with its own labels, then each attribute flipped alone (eval mode)."""
  AE = build_models(config)["ae"]

  def sample(state: FaderState, batch, rng):
    del rng
    x, labels = batch["x"], batch["label"].astype(batch["x"].dtype)
    targets = jnp.concatenate([labels[None], single_changes(labels, [], False)])  # [1 + K, N, K]
    t = targets.shape[0]
    out = decode_eval(AE, state.params["ae"], state.batch_stats["ae"], jnp.tile(x, (t, 1, 1, 1)),
                      targets.reshape(t * x.shape[0], -1))
    out = jnp.moveaxis(out.reshape(t, *x.shape), 0, 1)
    return {"changes": jnp.concatenate([x[:, None], out], axis=1)}

  return sample


def sample_grids(config, images: dict) -> dict:
  """{"changes": one row per source: the source, its reconstruction, each attribute
  flipped}."""
  block = images["changes"]
  cols = ["source", "reconstruction"] + [f"flip {n}" for n in attribute_names(config)]
  return {"changes": block_grid(block, [f"source #{i}" for i in range(block.shape[0])], cols)}


# ---------------------------------------------------------------- data and translation
def image_shapes(config) -> dict:
  size = config.data.crop_size
  return {"x": (size, size, 3)}


class LatentBatchExamples:
  """The autoencoder's examples with the discriminator steps' beside them: example g is
  `main(g)` ({"x", "label"}) plus "x_lat" [n, H, W, 3] and "label_lat" [n, K], example g
  of each of the n independent streams `extra` (`MultiLabelExamples` of the same data)."""

  def __init__(self, main, extra):
    self.main, self.extra = main, list(extra)
    self.size = main.size

  def __call__(self, g: int) -> dict:
    out = self.main(g)
    if self.extra:
      parts = [e(g) for e in self.extra]
      out["x_lat"] = np.stack([p["x"] for p in parts])
      out["label_lat"] = np.stack([p["label"] for p in parts])
    return out


def make_examples(config, split: str = "train", seed: int | None = None):
  """(example function, dataset size, image shapes) of the attribute-labelled data
  (`data.attributes.attribute_source`: CelebA, TFDS, the embedded attribute photos), one
  stream for the autoencoder and n_lat_dis more for the discriminator steps
  (`LatentBatchExamples`). The test split is not flipped."""
  from i2ijax.data.attributes import attribute_source
  from i2ijax.data.pipeline import MultiLabelExamples, make_transform
  seed = config.seed if seed is None else seed
  data = config.data
  source = attribute_source(data, split, config.model.attrs)
  if source.single_label:
    raise ValueError(f"{source.name} is single-label data; Fader Networks take binary "
                     f"attributes (config.data.source)")
  if split != "train":
    data = data.copy_and_resolve_references()
    data.flip = False
  transform = make_transform(data)
  streams = [MultiLabelExamples(source, transform=transform, seed=seed, stream=s)
             for s in range(1 + config.model.n_lat_dis)]
  examples = LatentBatchExamples(streams[0], streams[1:])
  return examples, examples.size, image_shapes(config)


def target_values(config, attrs) -> dict:
  """{attribute index: fader value} of `attrs` over config.model.attrs (`attribute_values`)."""
  return attribute_values(attribute_names(config), attrs)

def translator(config, request):
  """Decodes E(x) with the attribute values of `request.attrs` (sliders in [0, 1]: value
  v is the code (1 - v, v), the official interpolation), the others keeping the source's;
  without attrs, every single-attribute flip (one output each).

  The source's own labels are `labels` when the caller knows them (the test
  split); otherwise D_lat's reading of E(x) (attribute k on where its "on"
  logit is the larger), which a well-trained encoder makes unreliable by
  design, so give every attribute in --attrs where the labels are unknown.
  Eval mode throughout (running averages), as the official `interpolate.py`.
  """
  nets = build_models(config)
  AE, D = nets["ae"], nets["lat_dis"]
  k_dim = len(attribute_names(config))
  fixed = target_values(config, request.attrs) if request.attrs else {}
  idx = np.asarray(sorted(fixed), np.int32)
  vals = np.asarray([fixed[k] for k in sorted(fixed)], np.float32)
  outputs = 1 if fixed else k_dim

  def apply(p, x, labels=None):
    v = {"params": p["ae"], "batch_stats": p["ae_stats"]}
    z = AE.apply(v, x, train=False, method=AutoEncoder.encode)
    if labels is None:
      logits = D.apply({"params": p["lat_dis"], "batch_stats": p["lat_stats"]}, z, train=False)
      pairs = logits.reshape(x.shape[0], k_dim, 2)
      labels = (pairs[..., 1] > pairs[..., 0]).astype(x.dtype)
    labels = labels.astype(x.dtype)
    if fixed:
      targets = labels.at[:, idx].set(jnp.asarray(vals, x.dtype))
    else:
      targets = single_changes(labels, [], False).reshape(-1, k_dim)
    zs = jnp.repeat(z, targets.shape[0] // x.shape[0], axis=0)
    return AE.apply(v, zs, attribute_code(targets, x.dtype), train=False,
                    method=AutoEncoder.decode)

  params = lambda state: {"ae": state.params["ae"], "ae_stats": state.batch_stats["ae"],
                          "lat_dis": state.params["lat_dis"],
                          "lat_stats": state.batch_stats["lat_dis"]}
  return Translator(jax.jit(apply), params, 3, 3, outputs, size=config.data.crop_size)


SPEC = ModelSpec(
    name="fader", data_kind=DataKind.MULTI_LABEL, validate_config=validate_config,
    make_examples=make_examples, image_shapes=image_shapes, create_state=create_state,
    make_train_step=make_train_step, make_sample_fn=make_sample_fn, sample_grids=sample_grids,
    translator=translator, translate_options=frozenset({"attrs"}), directions=(),
    multimodal=False, translate_example="--attrs=<NAME>=1")
