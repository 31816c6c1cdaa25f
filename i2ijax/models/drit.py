"""DRIT++ (Lee et al., ECCV 2018 / IJCV 2020): networks of HsinYingLee/DRIT `src/networks.py`.

The defaults of the official `train.py` (`--concat 1`, `--dis_scale 3`,
`--dis_norm None`, no spectral norm):

`ContentEncoders` (`E_content`): per domain, a reflect-padded 7x7 conv
(LeakyReLU 0.01, no norm), two 3x3 stride-2 convs (instance norm, ReLU) and
three residual blocks (3x3 convs, instance norm), then one residual block
shared by both domains; in training, N(0, I) noise is added to the content
map (`GaussianNoiseLayer`). The content is [N, H/4, W/4, 256].

`AttributeEncoders` (`E_attr_concat`): per domain, a 4x4 stride-2 conv, three
`BasicBlock`s (LeakyReLU 0.2 -> conv 3x3 -> LeakyReLU 0.2 -> conv 3x3 -> 2x2
average pool, plus a pooled 1x1 shortcut; widths 128, 192, 256), LeakyReLU
0.2, a global average and two linear heads: the mean and the log-variance of
the attribute code [N, nz].

`Generators` (`G_concat`): one residual block shared by both domains, then per
domain the attribute code tiled over the map and concatenated before each
stage: three residual blocks (256 + nz channels), two 3x3 stride-2 transposed
convs with `LayerNorm` and ReLU, a 1x1 transposed conv and tanh.

`ContentDiscriminator` (`Dis_content`): three 7x7 stride-2 convs and a 4x4
conv (LeakyReLU 0.01), then a 1x1 conv to one logit per position (one in all
at crop 216, content 54 x 54). The official layers ask for instance norm,
but `LeakyReLUConv2d` tests the string literal 'norm' instead of its
argument, so no discriminator has any: neither here.

The image discriminators are MUNIT's `MsImageDis` (3 scales, 4 layers, no
norm, reflect padding) with LeakyReLU 0.01 (`image_discriminator`).

Parameters are named after the official modules (`convA.3.model.5.weight` is
`convA_3/model_5/kernel`), so `variables_from_torch` maps a state_dict by
the spelling of its keys. Images are NHWC in [-1, 1].
"""

from typing import Any

import flax.linen as nn
from flax.traverse_util import flatten_dict
import jax
import jax.numpy as jnp
import numpy as np

from i2ijax.metrics.torch_weights import flax_to_torch_array, indexed_prefix, torch_to_flax_array
from i2ijax.models.layers import (Conv2d, ConvTranspose, at_least_float32, instance_normalize,
                                  leaky_relu, reflect_pad)
from i2ijax.models.munit import MsImageDis

Dtype = Any
TORCH_LRELU = 0.01  # nn.LeakyReLU() default slope, used by LeakyReLUConv2d
ATTR_LRELU = 0.2  # get_non_linearity('lrelu'), used by the attribute encoder
CONTENT_DIM = 256


def _in(x):
  return instance_normalize(x).astype(x.dtype)


class PadConv(nn.Module):
  """Reflect pad -> conv (`model_1`) -> activation: `LeakyReLUConv2d` (LeakyReLU 0.01, never
  a norm: the official quirk) or, with `instance_norm`, `ReLUINSConv2d` (IN, then ReLU)."""

  features: int
  kernel: int
  stride: int = 1
  padding: int = 0
  instance_norm: bool = False
  dtype: Dtype = None
  param_dtype: Dtype = jnp.float32

  @nn.compact
  def __call__(self, x):
    x = Conv2d(self.features, self.kernel, self.stride, dtype=self.dtype,
               param_dtype=self.param_dtype, name="model_1")(reflect_pad(x, self.padding))
    return nn.relu(_in(x)) if self.instance_norm else leaky_relu(x, TORCH_LRELU)


class INSResBlock(nn.Module):
  """x + [pad, conv 3x3 (`model_1`), IN, ReLU, pad, conv 3x3 (`model_5`), IN](x)."""

  dtype: Dtype = None
  param_dtype: Dtype = jnp.float32

  @nn.compact
  def __call__(self, x):
    c = x.shape[-1]
    conv = lambda name: Conv2d(c, 3, 1, dtype=self.dtype, param_dtype=self.param_dtype, name=name)
    y = nn.relu(_in(conv("model_1")(reflect_pad(x, 1))))
    y = _in(conv("model_5")(reflect_pad(y, 1)))
    return x + y


class LayerNorm(nn.Module):
  """DRIT's `LayerNorm` (`F.layer_norm` over C, H, W; biased variance, eps 1e-5) with a
  per-channel `scale` (1) and `bias` (0), the official [C, 1, 1] weight and bias."""

  param_dtype: Dtype = jnp.float32

  @nn.compact
  def __call__(self, x):
    c = x.shape[-1]
    scale = self.param("scale", nn.initializers.ones, (c,), self.param_dtype)
    bias = self.param("bias", nn.initializers.zeros, (c,), self.param_dtype)
    xw = at_least_float32(x)
    mean = jnp.mean(xw, axis=(1, 2, 3), keepdims=True)
    var = jnp.mean(jnp.square(xw - mean), axis=(1, 2, 3), keepdims=True)
    y = (xw - mean) * jax.lax.rsqrt(var + 1e-5) * at_least_float32(scale) + at_least_float32(bias)
    return y.astype(x.dtype)


class ReLUINSConvTranspose2d(nn.Module):
  """Transposed conv 3x3 stride 2 (`model_0`) -> `LayerNorm` (`model_1`) -> ReLU: x2 the side."""

  features: int
  dtype: Dtype = None
  param_dtype: Dtype = jnp.float32

  @nn.compact
  def __call__(self, x):
    x = ConvTranspose(self.features, 3, 2, 1, 1, dtype=self.dtype, param_dtype=self.param_dtype,
                      name="model_0")(x)
    return nn.relu(LayerNorm(self.param_dtype, name="model_1")(x))


class BasicBlock(nn.Module):
  """The attribute encoder's block: [LReLU, conv 3x3 (`conv_2`), LReLU, conv 3x3 (`conv_4_1`),
  avg-pool 2] + [avg-pool 2, conv 1x1 (`shortcut_1`)]; LeakyReLU 0.2, reflect padding."""

  features: int
  dtype: Dtype = None
  param_dtype: Dtype = jnp.float32

  @nn.compact
  def __call__(self, x):
    dt = dict(dtype=self.dtype, param_dtype=self.param_dtype)
    pool = lambda h: nn.avg_pool(h, (2, 2), strides=(2, 2))
    y = leaky_relu(x, ATTR_LRELU)
    y = Conv2d(x.shape[-1], 3, 1, name="conv_2", **dt)(reflect_pad(y, 1))
    y = leaky_relu(y, ATTR_LRELU)
    y = pool(Conv2d(self.features, 3, 1, name="conv_4_1", **dt)(reflect_pad(y, 1)))
    return y + Conv2d(self.features, 1, 1, name="shortcut_1", **dt)(pool(x))


class ContentEncoders(nn.Module):
  """`E_content`: `encode(domain, x, noise)` -> content [N, H/4, W/4, 256] of domain "A"/"B".

  `noise` (the content's shape, or None in evaluation) is added after the
  shared block (`conv_share_0`): the official `GaussianNoiseLayer` draws it
  N(0, I) in training mode. `__call__(xa, xb)` runs both (to initialise).
  `ch` (official 64): the first conv's width; the content has 4 ch channels.
  """

  ch: int = 64
  dtype: Dtype = None
  param_dtype: Dtype = jnp.float32

  def setup(self):
    dt = dict(dtype=self.dtype, param_dtype=self.param_dtype)
    self.convs = {
        d: [PadConv(self.ch, 7, 1, 3, name=f"conv{d}_0", **dt),
            PadConv(2 * self.ch, 3, 2, 1, True, name=f"conv{d}_1", **dt),
            PadConv(4 * self.ch, 3, 2, 1, True, name=f"conv{d}_2", **dt)]
        + [INSResBlock(name=f"conv{d}_{i}", **dt) for i in (3, 4, 5)]
        for d in ("A", "B")}
    self.conv_share_0 = INSResBlock(**dt)

  def encode(self, domain, x, noise=None):
    for layer in self.convs[domain]:
      x = layer(x)
    x = self.conv_share_0(x)
    return x if noise is None else x + noise.astype(x.dtype)

  def __call__(self, xa, xb):
    return self.encode("A", xa), self.encode("B", xb)


class AttributeEncoders(nn.Module):
  """`E_attr_concat`: `encode(domain, x)` -> (mean, log-variance), each [N, nz]; widths
  ch, 2 ch, 3 ch, 4 ch (official ndf 64)."""

  ch: int = 64
  nz: int = 8
  dtype: Dtype = None
  param_dtype: Dtype = jnp.float32

  def setup(self):
    dt = dict(dtype=self.dtype, param_dtype=self.param_dtype)
    self.nets = {
        d: ([Conv2d(self.ch, 4, 2, name=f"conv_{d}_1", **dt)]
            + [BasicBlock(k * self.ch, name=f"conv_{d}_{k}", **dt) for k in (2, 3, 4)],
            nn.Dense(self.nz, name=f"fc_{d}_0", **dt), nn.Dense(self.nz, name=f"fcVar_{d}_0", **dt))
        for d in ("A", "B")}

  def encode(self, domain, x):
    convs, fc, fc_var = self.nets[domain]
    x = convs[0](reflect_pad(x, 1))
    for block in convs[1:]:
      x = block(x)
    h = jnp.mean(leaky_relu(x, ATTR_LRELU), axis=(1, 2))
    return at_least_float32(fc(h)), at_least_float32(fc_var(h))

  def __call__(self, xa, xb):
    return self.encode("A", xa), self.encode("B", xb)


def _tile(x, z):
  """Concatenate the code z [N, nz] to x [N, H, W, C] at every position."""
  z = jnp.broadcast_to(z.astype(x.dtype)[:, None, None, :], (*x.shape[:3], z.shape[-1]))
  return jnp.concatenate([x, z], axis=-1)


class Generators(nn.Module):
  """`G_concat`: `decode(domain, content, z)` -> image [N, 4h, 4w, 3] of domain "A"/"B";
  `content_dim` (official 256) channels in."""

  content_dim: int = CONTENT_DIM
  nz: int = 8
  out_channels: int = 3
  dtype: Dtype = None
  param_dtype: Dtype = jnp.float32

  def setup(self):
    dt = dict(dtype=self.dtype, param_dtype=self.param_dtype)
    self.dec_share_0 = INSResBlock(**dt)
    c1 = self.content_dim + self.nz
    c2 = (c1 + self.nz) // 2
    c3 = (c2 + self.nz) // 2
    self.decs = {
        d: ([INSResBlock(name=f"dec{d}1_{i}", **dt) for i in range(3)],
            ReLUINSConvTranspose2d(c2, name=f"dec{d}2_0", **dt),
            ReLUINSConvTranspose2d(c3, name=f"dec{d}3_0", **dt),
            ConvTranspose(self.out_channels, 1, 1, 0, 0, name=f"dec{d}4_0", **dt))
        for d in ("A", "B")}

  def decode(self, domain, content, z):
    blocks, up1, up2, out = self.decs[domain]
    x = _tile(self.dec_share_0(content), z)
    for block in blocks:
      x = block(x)
    x = up2(_tile(up1(_tile(x, z)), z))
    return at_least_float32(jnp.tanh(out(_tile(x, z))))

  def __call__(self, content_a, content_b, za, zb):
    return self.decode("A", content_a, za), self.decode("B", content_b, zb)


class ContentDiscriminator(nn.Module):
  """`Dis_content`: content [N, h, w, dim] -> logits [N * h' * w'] (one per sample at h = 54):
  `layers` (official 3) 7x7 stride-2 convs, a 4x4 conv, a 1x1 conv."""

  dim: int = CONTENT_DIM
  layers: int = 3
  dtype: Dtype = None
  param_dtype: Dtype = jnp.float32

  @nn.compact
  def __call__(self, x):
    dt = dict(dtype=self.dtype, param_dtype=self.param_dtype)
    for i in range(self.layers):
      x = PadConv(self.dim, 7, 2, 1, name=f"model_{i}", **dt)(x)
    x = PadConv(self.dim, 4, 1, 0, name=f"model_{self.layers}", **dt)(x)
    x = Conv2d(1, 1, 1, name=f"model_{self.layers + 1}", **dt)(x)
    return at_least_float32(x).reshape(-1)


def image_discriminator(n_scales: int = 3, n_layers: int = 4, ch: int = 64, dtype=None,
                        param_dtype=jnp.float32) -> MsImageDis:
  """`MultiScaleDis(input_dim, n_scale, norm='None', sn=False)`: MUNIT's `MsImageDis` with
  `ch` (official 64) base channels, no norm, reflect padding and LeakyReLU 0.01."""
  return MsImageDis(ch, n_layers, n_scales, "none", "lrelu", "reflect", lrelu_slope=TORCH_LRELU,
                    dtype=dtype, param_dtype=param_dtype)


# ---------------------------------------------------------------- official weights
def flax_path(torch_key: str) -> tuple[tuple[str, ...], str]:
  """An official key -> (our module path, official leaf): a numeric part joins the name
  before it (`convA.3.model.5.weight` -> (("convA_3", "model_5"), "weight")); the image
  discriminators' `Diss.K.J.model.1` is MUNIT's `cnns_K/layers_J/Conv_0/conv` and
  `Diss.K.4` its `cnns_K/layers_4`."""
  parts = torch_key.split(".")
  leaf = parts.pop()
  if parts[0] == "Diss":
    k, j = parts[1], parts[2]
    inner = ("Conv_0", "conv") if len(parts) > 3 else ()
    return (f"cnns_{k}", f"layers_{j}") + inner, leaf
  path = []
  for p in parts:
    if p.isdigit():
      path[-1] = f"{path[-1]}_{p}"
    else:
      path.append(p)
  return tuple(path), leaf


def variables_from_torch(state_dict: dict, template) -> dict:
  """One official network's state_dict (numpy arrays) -> our params, shaped as `template`
  (our params of that network, arrays or ShapeDtypeStructs).

  Conv2d [out, in, kh, kw] and ConvTranspose2d [in, out, kh, kw] weights ->
  [kh, kw, in, out] / [kh, kw, out, in] (both `transpose(2, 3, 1, 0)`); Linear
  [out, in] -> [in, out]; LayerNorm [C, 1, 1] -> [C]. ValueError names any key
  without a place in `template`, and any parameter no key fills.
  """
  shapes = {path: tuple(v.shape) for path, v in flatten_dict(dict(template)).items()}
  params, filled = {}, set()
  for key, value in state_dict.items():
    path, leaf = flax_path(key)
    value = np.asarray(value)
    if leaf == "weight" and value.ndim in (2, 4):
      name, value = "kernel", torch_to_flax_array("weight", value)
    elif leaf == "weight":
      name, value = "scale", value.reshape(-1)
    else:
      name, value = leaf, value.reshape(-1)  # biases; LayerNorm's [C, 1, 1]
    full = next((p for p in (path + (name,), path + ("conv", name)) if p in shapes), None)
    if full is None or shapes[full] != value.shape:
      raise ValueError(f"official key {key!r} {value.shape} has no place in the network "
                       f"(looked for {'/'.join(path + (name,))})")
    node = params
    for p in full[:-1]:
      node = node.setdefault(p, {})
    node[full[-1]] = value
    filled.add(full)
  missing = sorted("/".join(p) for p in shapes if p not in filled)
  if missing:
    raise ValueError(f"the state_dict fills no value for {missing[:5]} ({len(missing)} in all)")
  return params


def torch_prefix(module_path: tuple) -> str:
  """Our module path -> the official module prefix (the inverse of `flax_path`; a trailing
  "conv" is our convolution's inner module)."""
  path = tuple(module_path)
  if path[0].startswith("cnns_"):
    k, j = path[0][len("cnns_"):], path[1][len("layers_"):]
    return f"Diss.{k}.{j}.model.1" if path[2:] == ("Conv_0", "conv") else f"Diss.{k}.{j}"
  if path[-1] == "conv":
    path = path[:-1]
  return indexed_prefix(path)  # "conv_4_1" is "conv.4.1"; "conv_A_2" is "conv_A.2"


def variables_to_torch(variables: dict) -> dict:
  """Our params of one network -> its official state_dict (numpy), the inverse of
  `variables_from_torch`: kernels transposed back, the layer norms' weight and bias as
  [C, 1, 1]."""
  leaves = dict(flatten_dict(dict(variables["params"])))
  norms = {path[:-1] for path in leaves if path[-1] == "scale"}
  out = {}
  for path, value in leaves.items():
    module, leaf = path[:-1], path[-1]
    value = np.asarray(value)
    prefix = torch_prefix(module)
    if leaf == "kernel":
      out[f"{prefix}.weight"] = flax_to_torch_array("kernel", value)
    elif module in norms:
      out[f"{prefix}.{'weight' if leaf == 'scale' else leaf}"] = value.reshape(-1, 1, 1)
    else:
      out[f"{prefix}.{leaf}"] = value
  return out
