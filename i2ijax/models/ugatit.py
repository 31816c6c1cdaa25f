"""U-GAT-IT (Kim et al., ICLR 2020): networks of znxlwm/UGATIT-pytorch `networks.py`.

`ResnetGenerator`: reflect-padded conv 7x7 -> two stride-2 convs (instance
norm, ReLU, no conv biases) -> `n_blocks` residual blocks -> the class
activation map (CAM): global average- and max-pooled features each give one
logit through a bias-free linear layer whose weights then re-weight the
feature map channels; both re-weighted maps are concatenated, fused by a 1x1
conv + ReLU; the channel sum is the attention heatmap -> an MLP (on the
flattened map, or on its global average in `light` mode) gives gamma and
beta -> `n_blocks` residual blocks with AdaILN -> two nearest x2 upsamplings
(conv 3x3, ILN, ReLU) -> conv 7x7 -> tanh. Returns (image, CAM logits
[N, 2], heatmap [N, H/4, W/4, 1]).

`Discriminator`: `n_layers - 2` reflect-padded 4x4 stride-2 convs and one
stride-1 conv (LeakyReLU 0.2, every conv with a bias), all spectral-normed,
then the same CAM (the logits from spectral-normed linear layers, the
re-weighting by their raw weights, as `parameters()` yields them), a 1x1 conv
+ LeakyReLU and a spectral-normed 4x4 conv to one channel. The official
global D has n_layers 7, the local one 5.

AdaILN and ILN normalise by PyTorch's `torch.var`, the unbiased variance.
Layer names follow the official module names (`DownBlock_1` is
`DownBlock.1`), so `variables_from_torch` maps a state_dict key by its
spelling.
"""

from typing import Any

import flax.linen as nn
from flax.traverse_util import flatten_dict
import jax
import jax.numpy as jnp
import numpy as np

from i2ijax.models.layers import (Conv, SpectralConv2d, SpectralDense, at_least_float32,
                                  instance_normalize, leaky_relu, reflect_pad, upsample_nearest)
from i2ijax.metrics.torch_weights import flax_to_torch_array, indexed_prefix, torch_to_flax_array

Dtype = Any
EPS = 1e-5


def _normalize_over(x, axes):
  """(x - mean) / sqrt(var + eps) over `axes`, with PyTorch's `torch.var` (unbiased)."""
  n = int(np.prod([x.shape[a] for a in axes]))
  mean = jnp.mean(x, axis=axes, keepdims=True)
  var = jnp.sum(jnp.square(x - mean), axis=axes, keepdims=True) / (n - 1)
  return (x - mean) * jax.lax.rsqrt(var + EPS)


def instance_layer_normalize(x, rho):
  """rho * IN(x) + (1 - rho) * LN(x) on NHWC, per channel rho [C] (Kim et al. 2020, eq. 2).

  IN normalises over H, W per sample and channel, LN over H, W, C per
  sample; both with the unbiased variance and eps 1e-5, as the official
  `adaILN`/`ILN`. Computed in float32 at least.
  """
  xw = at_least_float32(x)
  r = at_least_float32(rho)
  return r * _normalize_over(xw, (1, 2)) + (1 - r) * _normalize_over(xw, (1, 2, 3))


class AdaILN(nn.Module):
  """`adaILN`: `instance_layer_normalize(x, rho) * gamma + beta`, gamma/beta [N, C] from the MLP;
  rho (param [C]) starts at 0.9."""

  param_dtype: Dtype = jnp.float32

  @nn.compact
  def __call__(self, x, gamma, beta):
    rho = self.param("rho", nn.initializers.constant(0.9), (x.shape[-1],), self.param_dtype)
    y = instance_layer_normalize(x, rho) * at_least_float32(gamma)[:, None, None] + at_least_float32(beta)[:, None, None]
    return y.astype(x.dtype)


class ILN(nn.Module):
  """`ILN`: `instance_layer_normalize(x, rho) * gamma + beta` with learned rho (0), gamma (1),
  beta (0), each [C]."""

  param_dtype: Dtype = jnp.float32

  @nn.compact
  def __call__(self, x):
    c = x.shape[-1]
    rho = self.param("rho", nn.initializers.zeros, (c,), self.param_dtype)
    gamma = self.param("gamma", nn.initializers.ones, (c,), self.param_dtype)
    beta = self.param("beta", nn.initializers.zeros, (c,), self.param_dtype)
    return (instance_layer_normalize(x, rho) * at_least_float32(gamma) + at_least_float32(beta)).astype(x.dtype)


def _instance_norm(x):
  """`nn.InstanceNorm2d` (no affine), back in the input's dtype."""
  return instance_normalize(x, EPS).astype(x.dtype)


class ResnetBlock(nn.Module):
  """pad, conv 3x3, IN, ReLU, pad, conv 3x3, IN, plus the input (`conv_block.1`, `.5`)."""

  dim: int
  dtype: Dtype = None
  param_dtype: Dtype = jnp.float32

  @nn.compact
  def __call__(self, x):
    conv = lambda i: Conv(self.dim, 3, padding=1, pad_mode="reflect", use_bias=False,
                          dtype=self.dtype, param_dtype=self.param_dtype, name=f"conv_block_{i}")
    y = nn.relu(_instance_norm(conv(1)(x)))
    return x + _instance_norm(conv(5)(y))


class ResnetAdaILNBlock(nn.Module):
  """pad, conv1, AdaILN, ReLU, pad, conv2, AdaILN, plus the input."""

  dim: int
  dtype: Dtype = None
  param_dtype: Dtype = jnp.float32

  @nn.compact
  def __call__(self, x, gamma, beta):
    conv = lambda name: Conv(self.dim, 3, padding=1, pad_mode="reflect", use_bias=False,
                             dtype=self.dtype, param_dtype=self.param_dtype, name=name)
    y = nn.relu(AdaILN(self.param_dtype, name="norm1")(conv("conv1")(x), gamma, beta))
    return x + AdaILN(self.param_dtype, name="norm2")(conv("conv2")(y), gamma, beta)


def nchw_flatten(x):
  """[N, H, W, C] -> [N, C * H * W] in PyTorch's `x.view(N, -1)` order of an NCHW tensor."""
  return jnp.transpose(x, (0, 3, 1, 2)).reshape(x.shape[0], -1)


class ResnetGenerator(nn.Module):
  """The official `ResnetGenerator(input_nc, output_nc, ngf, n_blocks, img_size, light)`.

  `__call__(x)` with x [N, img_size, img_size, input_nc] in [-1, 1] returns
  (image [N, H, W, output_nc], cam_logit [N, 2] (average, max), heatmap
  [N, H / 4, W / 4, 1]). The full MLP reads the flattened feature map, so the
  input side must be `img_size`; `light` pools it first and takes any side
  divisible by 4.
  """

  output_nc: int = 3
  ngf: int = 64
  n_blocks: int = 4
  img_size: int = 256
  light: bool = False
  dtype: Dtype = None
  param_dtype: Dtype = jnp.float32

  @nn.compact
  def __call__(self, x):
    dt = dict(dtype=self.dtype, param_dtype=self.param_dtype)
    ngf, dim = self.ngf, self.ngf * 4
    if not self.light and x.shape[1:3] != (self.img_size, self.img_size):
      raise ValueError(f"the full U-GAT-IT generator takes {self.img_size}x{self.img_size} "
                       f"inputs (its MLP reads the flattened feature map), got {x.shape[1:3]}")
    h = Conv(ngf, 7, padding=3, pad_mode="reflect", use_bias=False, name="DownBlock_1", **dt)(x)
    h = nn.relu(_instance_norm(h))
    for i, index in enumerate((5, 9)):
      h = Conv(ngf * 2 ** (i + 1), 3, stride=2, padding=1, pad_mode="reflect", use_bias=False,
               name=f"DownBlock_{index}", **dt)(h)
      h = nn.relu(_instance_norm(h))
    for i in range(self.n_blocks):
      h = ResnetBlock(dim, name=f"DownBlock_{12 + i}", **dt)(h)

    h, cam_logit, heatmap = class_activation_map(h, dim, nn.relu, False, False, dt)

    pooled = jnp.mean(h, axis=(1, 2)) if self.light else nchw_flatten(h)
    mlp = pooled
    for index in (0, 2):
      mlp = nn.relu(nn.Dense(dim, use_bias=False, name=f"FC_{index}", **dt)(mlp))
    gamma = nn.Dense(dim, use_bias=False, name="gamma", **dt)(mlp)
    beta = nn.Dense(dim, use_bias=False, name="beta", **dt)(mlp)

    for i in range(self.n_blocks):
      h = ResnetAdaILNBlock(dim, name=f"UpBlock1_{i + 1}", **dt)(h, gamma, beta)
    for i, (conv_index, norm_index) in enumerate(((2, 3), (7, 8))):
      h = upsample_nearest(h)
      h = Conv(dim // 2 ** (i + 1), 3, padding=1, pad_mode="reflect", use_bias=False,
               name=f"UpBlock2_{conv_index}", **dt)(h)
      h = nn.relu(ILN(self.param_dtype, name=f"UpBlock2_{norm_index}")(h))
    h = Conv(self.output_nc, 7, padding=3, pad_mode="reflect", use_bias=False,
             name="UpBlock2_11", **dt)(h)
    return jnp.tanh(at_least_float32(h)), at_least_float32(cam_logit), at_least_float32(heatmap)


def class_activation_map(x, dim: int, activation, spectral: bool, update: bool, dt: dict):
  """The CAM block both networks share, on features x [N, H, W, dim]; call it inside a
  compact method (its layers belong to the caller: `gap_fc`, `gmp_fc`, `conv1x1`).

  gap_logit = gap_fc(avg_pool(x)), gmp_logit = gmp_fc(max_pool(x)) (bias-free
  linear to one logit); the maps x * w_gap and x * w_gmp (the linear layers'
  raw weights per channel) concatenated -> conv1x1 (2 dim -> dim, bias) ->
  `activation`; heatmap = its channel sum. `spectral`: both linear layers
  spectral-normed (the discriminator). Returns (features, logits [N, 2],
  heatmap [N, H, W, 1]).
  """
  logits, maps = [], []
  for name, pool in (("gap_fc", jnp.mean), ("gmp_fc", jnp.max)):
    pooled = pool(x, axis=(1, 2))
    if spectral:
      logit, w = SpectralDense(1, use_bias=False, name=name, **dt)(pooled, update=update)
    else:
      fc = nn.Dense(1, use_bias=False, name=name, **dt)
      logit = fc(pooled)
      w = fc.variables["params"]["kernel"]
    logits.append(logit)
    maps.append(x * w[:, 0].astype(x.dtype))
  h = activation(Conv(dim, 1, name="conv1x1", **dt)(jnp.concatenate(maps, axis=-1)))
  return h, jnp.concatenate(logits, axis=-1), jnp.sum(h, axis=-1, keepdims=True)


class Discriminator(nn.Module):
  """The official `Discriminator(input_nc, ndf, n_layers)` (7: global, 5: local).

  `__call__(x, update=...)` returns (patch logits [N, h, w, 1], cam_logit
  [N, 2], heatmap [N, h', w', 1]); `update` runs each spectral norm's power
  iteration (PyTorch's training mode).
  """

  ndf: int = 64
  n_layers: int = 7
  dtype: Dtype = None
  param_dtype: Dtype = jnp.float32

  @nn.compact
  def __call__(self, x, *, update: bool = True):
    dt = dict(dtype=self.dtype, param_dtype=self.param_dtype)
    lrelu = lambda h: leaky_relu(h, 0.2)
    if self.n_layers < 3:
      raise ValueError(f"n_layers must be >= 3, got {self.n_layers}")
    h = x
    channels = [self.ndf * 2 ** i for i in range(self.n_layers - 2)] + [self.ndf * 2 ** (self.n_layers - 2)]
    for i, c in enumerate(channels):
      stride = 1 if i == len(channels) - 1 else 2
      h = SpectralConv2d(c, 4, stride=stride, name=f"model_{3 * i + 1}", **dt)(
          reflect_pad(h, 1), update=update)
      h = lrelu(h)
    h, cam_logit, heatmap = class_activation_map(h, channels[-1], lrelu, True, update, dt)
    out = SpectralConv2d(1, 4, use_bias=False, name="conv", **dt)(reflect_pad(h, 1), update=update)
    return at_least_float32(out), at_least_float32(cam_logit), at_least_float32(heatmap)


# ---------------------------------------------------------------- official weights
def flax_path(torch_key: str) -> tuple[tuple[str, ...], str]:
  """An official state_dict key -> (our module path, official leaf).

  A numeric part joins the name before it (`DownBlock.12.conv_block.1.weight`
  -> (("DownBlock_12", "conv_block_1", "conv"), "weight")); our `Conv`
  modules hold their parameters in an inner "conv".
  """
  parts = torch_key.split(".")
  leaf = parts.pop()
  path = []
  for p in parts:
    if p.isdigit():
      path[-1] = f"{path[-1]}_{p}"
    else:
      path.append(p)
  return tuple(path), leaf


# Modules of ours that are `layers.Conv` (parameters one level deeper, under "conv").
def _is_conv(path: tuple, value: np.ndarray, leaf: str) -> bool:
  return leaf in ("weight", "bias") and (value.ndim == 4 or path[-1] == "conv1x1")


def variables_from_torch(state_dict: dict) -> dict:
  """An official `ResnetGenerator` or `Discriminator` state_dict (numpy arrays) ->
  {"params": ..., "batch_stats": ...} of ours.

  Conv2d [out, in, kh, kw] -> [kh, kw, in, out]; Linear [out, in] -> [in,
  out]; rho/gamma/beta [1, C, 1, 1] -> [C]; spectral norm's `weight_orig` ->
  "kernel", `weight_u`/`weight_v` -> batch_stats "u"/"v".
  """
  params, stats = {}, {}
  for key, value in state_dict.items():
    path, leaf = flax_path(key)
    value = np.asarray(value)
    spectral = leaf in ("weight_orig", "weight_u", "weight_v")
    if not spectral and _is_conv(path, value, leaf):
      path = path + ("conv",)
    if leaf in ("weight_u", "weight_v"):
      tree, name = stats, leaf[-1]
    else:
      tree = params
      if leaf in ("weight", "weight_orig"):
        name, value = "kernel", torch_to_flax_array("weight", value)
      elif leaf in ("rho", "gamma", "beta"):
        name, value = leaf, value.reshape(-1)
      else:
        name = leaf
    node = tree
    for p in path:
      node = node.setdefault(p, {})
    node[name] = value
  return {"params": params, "batch_stats": stats}


def torch_prefix(module_path: tuple) -> str:
  """Our module path -> the official module prefix (the inverse of `flax_path`): a
  numeric suffix `_N` is the index `.N`, except in the official attribute names
  `UpBlock1_<i>`."""
  return indexed_prefix(module_path, keep=lambda name: name.startswith("UpBlock1_"))


def variables_to_torch(variables: dict) -> dict:
  """{"params", "batch_stats"} of ours -> the official state_dict (numpy), the inverse of
  `variables_from_torch`: a spectral-normed layer (one with batch_stats u, v) gives
  `weight_orig`, `weight_u`, `weight_v`; rho/gamma/beta become [1, C, 1, 1]."""
  stats = flatten_dict(dict(variables.get("batch_stats", {})))
  spectral = {path[:-1] for path in stats}
  out = {}
  for path, value in flatten_dict(dict(variables["params"])).items():
    module, leaf = path[:-1], path[-1]
    value = np.asarray(value)
    if module and module[-1] == "conv" and len(module) > 1 and module not in spectral:
      module = module[:-1]  # our Conv's inner "conv"
    prefix = torch_prefix(module)
    if leaf == "kernel":
      name = "weight_orig" if path[:-1] in spectral else "weight"
      out[f"{prefix}.{name}"] = flax_to_torch_array("kernel", value)
      if path[:-1] in spectral:
        out[f"{prefix}.weight_u"] = np.asarray(stats[path[:-1] + ("u",)])
        out[f"{prefix}.weight_v"] = np.asarray(stats[path[:-1] + ("v",)])
    elif leaf in ("rho", "gamma", "beta"):
      out[f"{prefix}.{leaf}"] = value.reshape(1, -1, 1, 1)
    else:
      out[f"{prefix}.{leaf}"] = value
  return out

