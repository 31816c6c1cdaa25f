"""MUNIT (Huang et al. 2018) and UNIT (Liu et al. 2017) networks.

Mirrors `networks.py` of NVlabs/MUNIT (commit a82e222; mingyuliutw/UNIT uses
the same file): `Conv2dBlock`, `ResBlock(s)`, `ContentEncoder`,
`StyleEncoder`, `Decoder`, `MLP`, `AdaINGen`, `VAEGen`, `MsImageDis`, the
custom `LayerNorm` and `AdaptiveInstanceNorm2d`, with the same widths, layer
order and parameter counts. Submodules are named after the official
`nn.Sequential` indices (`model_3`, `cnns_0/layers_4`, ...), so an official
state_dict maps key by key (`variables_from_torch`). Images are NHWC in
[-1, 1]; style codes are [N, style_dim] (the official [N, style_dim, 1, 1]).

Every conv pads explicitly (reflect by default) and then runs unpadded.
Generators are Kaiming-normal initialised (fan_in, gain sqrt(2), untruncated;
the official `init: kaiming`) with zero biases; discriminators N(0, 0.02)
with zero biases (`weights_init('gaussian')`); LayerNorm gamma ~ U[0, 1),
beta = 0.
"""

from typing import Any

import flax.linen as nn
from flax.traverse_util import flatten_dict
import jax.numpy as jnp
import numpy as np

from i2ijax.metrics.torch_weights import indexed_prefix, natural_order, torch_to_flax_array
from i2ijax.models.layers import (Conv, Conv2d, at_least_float32, instance_normalize,
                                  kaiming_normal, leaky_relu, normal_init, upsample_nearest)
# The perceptual term's VGG16 lives in i2ijax.perceptual; its names stay importable from here.

Dtype = Any
NORMS = ("none", "in", "ln", "adain")
ACTIVATIONS = ("relu", "lrelu", "tanh", "none")


def activation(name: str, x, lrelu_slope: float = 0.2):
  if name == "relu":
    return nn.relu(x)
  if name == "lrelu":
    return leaky_relu(x, lrelu_slope)
  if name == "tanh":
    return jnp.tanh(x)
  if name == "none":
    return x
  raise ValueError(f"activation must be one of {ACTIVATIONS}, got {name!r}")


def adain(x, weight, bias, eps: float = 1e-5):
  """AdaIN: instance-normalised x [N, H, W, C] times weight [N, C] plus bias [N, C].

  The official `AdaptiveInstanceNorm2d` (batch norm in training mode over a
  [1, N * C, H, W] view): the MLP's outputs are used as they are, no 1 + weight.
  """
  y = instance_normalize(x, eps) * weight[:, None, None, :] + bias[:, None, None, :]
  return y.astype(x.dtype)


class LayerNorm(nn.Module):
  """MUNIT's `LayerNorm`: per sample over (H, W, C), *unbiased* std, (x - mean) / (std + eps).

  Then gamma [C] * x + beta [C]; gamma ~ U[0, 1) and beta = 0 at init.
  """

  eps: float = 1e-5
  param_dtype: Dtype = jnp.float32

  @nn.compact
  def __call__(self, x):
    c = x.shape[-1]
    gamma = self.param("gamma", nn.initializers.uniform(1.0), (c,), self.param_dtype)
    beta = self.param("beta", nn.initializers.zeros, (c,), self.param_dtype)
    x32 = at_least_float32(x)
    n = x32[0].size
    mean = jnp.mean(x32, axis=(1, 2, 3), keepdims=True)
    std = jnp.sqrt(jnp.sum(jnp.square(x32 - mean), axis=(1, 2, 3), keepdims=True) / (n - 1))
    y = (x32 - mean) / (std + self.eps) * gamma + beta
    return y.astype(x.dtype)


class ConvBlock(nn.Module):
  """`Conv2dBlock`: pad (reflect | zero) -> conv (with bias) -> [norm] -> [activation].

  norm: none | in (InstanceNorm2d, no affine) | ln (`LayerNorm`) | adain (the
  call's `adain_params` = (weight, bias), each [N, features]).
  """

  features: int
  kernel: int
  stride: int = 1
  padding: int = 0
  norm: str = "none"
  act: str = "relu"
  pad_type: str = "reflect"
  init: str = "kaiming"  # kaiming (generators) | gaussian (discriminators)
  dtype: Dtype = None
  param_dtype: Dtype = jnp.float32
  lrelu_slope: float = 0.2  # 0.01 (torch's default) in DRIT++

  @nn.compact
  def __call__(self, x, adain_params=None):
    if self.norm not in NORMS:
      raise ValueError(f"norm must be one of {NORMS}, got {self.norm!r}")
    kernel_init = kaiming_normal() if self.init == "kaiming" else normal_init(0.02)
    pad_mode = {"reflect": "reflect", "zero": "zero"}[self.pad_type]
    x = Conv(self.features, self.kernel, self.stride, self.padding, pad_mode,
             kernel_init=kernel_init, dtype=self.dtype, param_dtype=self.param_dtype)(x)
    if self.norm == "in":
      x = instance_normalize(x).astype(x.dtype)
    elif self.norm == "ln":
      x = LayerNorm(param_dtype=self.param_dtype, name="norm")(x)
    elif self.norm == "adain":
      x = adain(x, *adain_params)
    return activation(self.act, x, self.lrelu_slope)


class ResBlock(nn.Module):
  """x + [ConvBlock3(norm, act) -> ConvBlock3(norm, none)](x)."""

  dim: int
  norm: str = "in"
  act: str = "relu"
  pad_type: str = "reflect"
  dtype: Dtype = None
  param_dtype: Dtype = jnp.float32

  @nn.compact
  def __call__(self, x, adain_params=None):
    kw = dict(norm=self.norm, pad_type=self.pad_type, dtype=self.dtype,
              param_dtype=self.param_dtype)
    a = adain_params or (None, None)
    y = ConvBlock(self.dim, 3, 1, 1, act=self.act, name="model_0", **kw)(x, a[0])
    y = ConvBlock(self.dim, 3, 1, 1, act="none", name="model_1", **kw)(y, a[1])
    return x + y


class ResBlocks(nn.Module):
  """`num_blocks` ResBlocks; with norm 'adain', `adain_params` holds 2 (weight, bias) per block."""

  num_blocks: int
  dim: int
  norm: str = "in"
  act: str = "relu"
  pad_type: str = "reflect"
  dtype: Dtype = None
  param_dtype: Dtype = jnp.float32

  @nn.compact
  def __call__(self, x, adain_params=None):
    for i in range(self.num_blocks):
      a = adain_params[2 * i:2 * i + 2] if adain_params is not None else None
      x = ResBlock(self.dim, self.norm, self.act, self.pad_type, self.dtype, self.param_dtype,
                   name=f"model_{i}")(x, a)
    return x


class ContentEncoder(nn.Module):
  """conv7 (dim) -> n_downsample x conv4 s2 (doubling) -> n_res ResBlocks, all with IN.

  [N, H, W, C] -> content [N, H / 2^n, W / 2^n, dim * 2^n] (float32).
  """

  n_downsample: int = 2
  n_res: int = 4
  dim: int = 64
  norm: str = "in"
  act: str = "relu"
  pad_type: str = "reflect"
  dtype: Dtype = None
  param_dtype: Dtype = jnp.float32

  @nn.compact
  def __call__(self, x):
    kw = dict(norm=self.norm, act=self.act, pad_type=self.pad_type, dtype=self.dtype,
              param_dtype=self.param_dtype)
    x = ConvBlock(self.dim, 7, 1, 3, name="model_0", **kw)(x)
    dim = self.dim
    for i in range(self.n_downsample):
      x = ConvBlock(2 * dim, 4, 2, 1, name=f"model_{i + 1}", **kw)(x)
      dim *= 2
    if self.n_res:
      x = ResBlocks(self.n_res, dim, name=f"model_{self.n_downsample + 1}", **kw)(x)
    return at_least_float32(x)


class StyleEncoder(nn.Module):
  """conv7 -> 2 x conv4 s2 (doubling) -> (n_downsample - 2) x conv4 s2 -> global mean -> 1x1 conv.

  No norm. [N, H, W, C] -> style [N, style_dim] (float32).
  """

  n_downsample: int = 4
  dim: int = 64
  style_dim: int = 8
  norm: str = "none"
  act: str = "relu"
  pad_type: str = "reflect"
  dtype: Dtype = None
  param_dtype: Dtype = jnp.float32

  @nn.compact
  def __call__(self, x):
    kw = dict(norm=self.norm, act=self.act, pad_type=self.pad_type, dtype=self.dtype,
              param_dtype=self.param_dtype)
    x = ConvBlock(self.dim, 7, 1, 3, name="model_0", **kw)(x)
    dim, i = self.dim, 1
    for _ in range(2):
      x = ConvBlock(2 * dim, 4, 2, 1, name=f"model_{i}", **kw)(x)
      dim, i = 2 * dim, i + 1
    for _ in range(self.n_downsample - 2):
      x = ConvBlock(dim, 4, 2, 1, name=f"model_{i}", **kw)(x)
      i += 1
    x = jnp.mean(at_least_float32(x), axis=(1, 2))  # AdaptiveAvgPool2d(1), index i
    s = nn.Dense(self.style_dim, kernel_init=kaiming_normal(), dtype=self.dtype,
                 param_dtype=self.param_dtype, name=f"model_{i + 1}")(x)
    return at_least_float32(s)


class Decoder(nn.Module):
  """n_res ResBlocks (AdaIN or IN) -> n_upsample x [nearest x2, conv5 (halving), LayerNorm, act]
  -> conv7 -> tanh. content [N, h, w, dim] -> image [N, h 2^n, w 2^n, output_dim] (float32)."""

  n_upsample: int = 2
  n_res: int = 4
  dim: int = 256
  output_dim: int = 3
  res_norm: str = "adain"
  act: str = "relu"
  pad_type: str = "reflect"
  dtype: Dtype = None
  param_dtype: Dtype = jnp.float32

  @nn.compact
  def __call__(self, x, adain_params=None):
    kw = dict(act=self.act, pad_type=self.pad_type, dtype=self.dtype, param_dtype=self.param_dtype)
    if self.dtype is not None:
      x = x.astype(self.dtype)
    if self.n_res:
      x = ResBlocks(self.n_res, self.dim, self.res_norm, name="model_0", **kw)(x, adain_params)
    dim = self.dim
    for i in range(self.n_upsample):
      x = upsample_nearest(x)  # nn.Upsample(scale_factor=2), index 2i + 1
      x = ConvBlock(dim // 2, 5, 1, 2, norm="ln", name=f"model_{2 * i + 2}", **kw)(x)
      dim //= 2
    x = ConvBlock(self.output_dim, 7, 1, 3, norm="none",
                  name=f"model_{2 * self.n_upsample + 1}",
                  **{**kw, "act": "tanh"})(x)
    return at_least_float32(x)


class MLP(nn.Module):
  """Linear(in, dim) -> act -> (n_blk - 2) x [Linear(dim, dim) -> act] -> Linear(dim, out)."""

  output_dim: int
  dim: int = 256
  n_blk: int = 3
  act: str = "relu"
  dtype: Dtype = None
  param_dtype: Dtype = jnp.float32

  @nn.compact
  def __call__(self, x):
    for i in range(self.n_blk):
      last = i == self.n_blk - 1
      x = nn.Dense(self.output_dim if last else self.dim, kernel_init=kaiming_normal(),
                   dtype=self.dtype, param_dtype=self.param_dtype, name=f"model_{i}")(x)
      x = x if last else activation(self.act, x)
    return at_least_float32(x)


def num_adain_params(n_res: int, dim: int) -> int:
  """Values the MLP produces: (weight, bias) of 2 AdaIN layers per residual block."""
  return n_res * 2 * 2 * dim


def split_adain_params(params, n_res: int, dim: int) -> list:
  """MLP output [N, P] -> [(weight, bias)] per AdaIN layer in module order.

  The official `assign_adain_params` reads, per layer, the bias (its "mean")
  first and then the weight (its "std"), `dim` values each.
  """
  out = []
  for k in range(2 * n_res):
    chunk = params[:, 2 * dim * k:2 * dim * (k + 1)]
    out.append((chunk[:, dim:], chunk[:, :dim]))
  return out


class AdaINGen(nn.Module):
  """MUNIT's auto-encoder for one domain: style encoder, content encoder, MLP, AdaIN decoder.

  encode(x) -> (content [N, H/4, W/4, 4 dim], style [N, style_dim]);
  decode(content, style) -> image [N, H, W, input_dim] in [-1, 1].
  Image sides must be multiples of 2^n_downsample.
  """

  input_dim: int = 3
  dim: int = 64
  style_dim: int = 8
  n_downsample: int = 2
  n_res: int = 4
  mlp_dim: int = 256
  act: str = "relu"
  pad_type: str = "reflect"
  dtype: Dtype = None
  param_dtype: Dtype = jnp.float32

  def setup(self):
    kw = dict(act=self.act, pad_type=self.pad_type, dtype=self.dtype,
              param_dtype=self.param_dtype)
    self.enc_style = StyleEncoder(4, self.dim, self.style_dim, norm="none", **kw)
    self.enc_content = ContentEncoder(self.n_downsample, self.n_res, self.dim, "in", **kw)
    self.dec = Decoder(self.n_downsample, self.n_res, self.content_dim, self.input_dim,
                       res_norm="adain", **kw)
    self.mlp = MLP(num_adain_params(self.n_res, self.content_dim), self.mlp_dim, 3,
                   act=self.act, dtype=self.dtype, param_dtype=self.param_dtype)

  @property
  def content_dim(self) -> int:
    return self.dim * 2**self.n_downsample

  def encode(self, x):
    return self.enc_content(x), self.enc_style(x)

  def decode(self, content, style):
    adain_params = split_adain_params(self.mlp(style), self.n_res, self.content_dim)
    return self.dec(content, adain_params)

  def __call__(self, x):
    """Within-domain reconstruction decode(encode(x))."""
    return self.decode(*self.encode(x))


class VAEGen(nn.Module):
  """UNIT's auto-encoder for one domain: content encoder (IN) and decoder with IN residual blocks.

  encode(x) -> the latent mean h [N, H/4, W/4, 4 dim]; the official model
  samples h + N(0, I) for training (unit variance) and decodes h at test time.
  `shared_enc` / `shared_dec`: residual blocks shared by both domains (the
  paper's high-level weight sharing), run after this encoder / before this
  decoder; None (the official code) shares nothing.
  """

  input_dim: int = 3
  dim: int = 64
  n_downsample: int = 2
  n_res: int = 4
  act: str = "relu"
  pad_type: str = "reflect"
  shared_enc: Any = None
  shared_dec: Any = None
  dtype: Dtype = None
  param_dtype: Dtype = jnp.float32

  def setup(self):
    kw = dict(act=self.act, pad_type=self.pad_type, dtype=self.dtype,
              param_dtype=self.param_dtype)
    n_own = self.n_res - (self.shared_enc.num_blocks if self.shared_enc is not None else 0)
    self.enc = ContentEncoder(self.n_downsample, n_own, self.dim, "in", **kw)
    self.dec = Decoder(self.n_downsample, n_own, self.dim * 2**self.n_downsample,
                       self.input_dim, res_norm="in", **kw)

  def encode(self, x):
    h = self.enc(x)
    return h if self.shared_enc is None else at_least_float32(self.shared_enc(h))

  def decode(self, h):
    if self.shared_dec is not None:
      h = self.shared_dec(h.astype(self.dtype) if self.dtype is not None else h)
    return self.dec(h)

  def __call__(self, x):
    return self.decode(self.encode(x))


class PatchDis(nn.Module):
  """One scale of `MsImageDis`: conv4 s2 (dim) -> (n_layer - 1) x conv4 s2 (doubling) -> 1x1 conv."""

  dim: int = 64
  n_layer: int = 4
  norm: str = "none"
  act: str = "lrelu"
  pad_type: str = "reflect"
  dtype: Dtype = None
  param_dtype: Dtype = jnp.float32
  lrelu_slope: float = 0.2

  @nn.compact
  def __call__(self, x):
    kw = dict(act=self.act, pad_type=self.pad_type, init="gaussian", dtype=self.dtype,
              param_dtype=self.param_dtype, lrelu_slope=self.lrelu_slope)
    x = ConvBlock(self.dim, 4, 2, 1, norm="none", name="layers_0", **kw)(x)
    dim = self.dim
    for i in range(self.n_layer - 1):
      x = ConvBlock(dim * 2, 4, 2, 1, norm=self.norm, name=f"layers_{i + 1}", **kw)(x)
      dim *= 2
    x = Conv2d(1, 1, kernel_init=normal_init(0.02), dtype=self.dtype,
               param_dtype=self.param_dtype, name=f"layers_{self.n_layer}")(x)
    return at_least_float32(x)


def downsample_3x3(x):
  """`nn.AvgPool2d(3, stride=2, padding=1, count_include_pad=False)` on NHWC."""
  return nn.avg_pool(x, (3, 3), strides=(2, 2), padding=((1, 1), (1, 1)), count_include_pad=False)


class MsImageDis(nn.Module):
  """Multi-scale discriminator: `num_scales` PatchDis on x, x/2, x/4, ... (3x3 average pooling).

  [N, H, W, C] -> list of logit maps [N, h_k, w_k, 1], finest first.
  """

  dim: int = 64
  n_layer: int = 4
  num_scales: int = 3
  norm: str = "none"
  act: str = "lrelu"
  pad_type: str = "reflect"
  dtype: Dtype = None
  param_dtype: Dtype = jnp.float32
  lrelu_slope: float = 0.2

  @nn.compact
  def __call__(self, x):
    outputs = []
    for k in range(self.num_scales):
      outputs.append(PatchDis(self.dim, self.n_layer, self.norm, self.act, self.pad_type,
                              self.dtype, self.param_dtype, self.lrelu_slope,
                              name=f"cnns_{k}")(x))
      x = downsample_3x3(x)
    return outputs


class Generators(nn.Module):
  """Both domains' generators as one module (one parameter tree, one optimizer).

  kind 'munit': gen_a, gen_b = AdaINGen; kind 'unit': VAEGen, with
  `shared_blocks` > 0 residual blocks shared between domains at the end of
  the encoders (`shared_enc`) and the start of the decoders (`shared_dec`).
  encode(domain, x) and decode(domain, ...) run gen_{domain}.
  """

  kind: str = "munit"
  input_dim_a: int = 3
  input_dim_b: int = 3
  dim: int = 64
  style_dim: int = 8
  n_downsample: int = 2
  n_res: int = 4
  mlp_dim: int = 256
  act: str = "relu"
  pad_type: str = "reflect"
  shared_blocks: int = 0
  dtype: Dtype = None
  param_dtype: Dtype = jnp.float32

  def setup(self):
    kw = dict(dim=self.dim, n_downsample=self.n_downsample, n_res=self.n_res, act=self.act,
              pad_type=self.pad_type, dtype=self.dtype, param_dtype=self.param_dtype)
    if self.kind == "munit":
      self.gen_a = AdaINGen(self.input_dim_a, style_dim=self.style_dim, mlp_dim=self.mlp_dim, **kw)
      self.gen_b = AdaINGen(self.input_dim_b, style_dim=self.style_dim, mlp_dim=self.mlp_dim, **kw)
      return
    if self.kind != "unit":
      raise ValueError(f"kind must be 'munit' or 'unit', got {self.kind!r}")
    shared = {}
    if self.shared_blocks:
      width = self.dim * 2**self.n_downsample
      rk = dict(act=self.act, pad_type=self.pad_type, dtype=self.dtype,
                param_dtype=self.param_dtype)
      self.shared_enc = ResBlocks(self.shared_blocks, width, "in", **rk)
      self.shared_dec = ResBlocks(self.shared_blocks, width, "in", **rk)
      shared = dict(shared_enc=self.shared_enc, shared_dec=self.shared_dec)
    self.gen_a = VAEGen(self.input_dim_a, **kw, **shared)
    self.gen_b = VAEGen(self.input_dim_b, **kw, **shared)

  def encode(self, domain: str, x):
    return (self.gen_a if domain == "a" else self.gen_b).encode(x)

  def decode(self, domain: str, *codes):
    return (self.gen_a if domain == "a" else self.gen_b).decode(*codes)

  def __call__(self, xa, xb):
    """Both within-domain reconstructions (used to create the parameters)."""
    return self.gen_a(xa), self.gen_b(xb)


class Discriminators(nn.Module):
  """dis_a and dis_b (`MsImageDis`) as one module; __call__(domain, x) -> logit maps."""

  dim: int = 64
  n_layer: int = 4
  num_scales: int = 3
  norm: str = "none"
  act: str = "lrelu"
  pad_type: str = "reflect"
  dtype: Dtype = None
  param_dtype: Dtype = jnp.float32

  def setup(self):
    kw = dict(dim=self.dim, n_layer=self.n_layer, num_scales=self.num_scales, norm=self.norm,
              act=self.act, pad_type=self.pad_type, dtype=self.dtype,
              param_dtype=self.param_dtype)
    self.dis_a = MsImageDis(**kw)
    self.dis_b = MsImageDis(**kw)

  def __call__(self, domain: str, x):
    return (self.dis_a if domain == "a" else self.dis_b)(x)

  def both(self, xa, xb):
    return self.dis_a(xa), self.dis_b(xb)


# ---------------------------------------------------------------- official weights
def flax_path(torch_key: str) -> tuple[tuple[str, ...], str]:
  """An official state_dict key -> (our module path, official leaf name).

  `name.N` becomes `name_N`; a bare index (inside `cnns.K`) becomes `layers_N`;
  Conv2dBlock's `.conv` gains our inner `conv`; e.g.
  'enc_content.model.3.model.0.model.1.conv.weight' ->
  (('enc_content', 'model_3', 'model_0', 'model_1', 'Conv_0', 'conv'), 'weight').
  """
  parts = torch_key.split(".")
  leaf = parts.pop()
  path = []
  for p in parts:
    if p.isdigit():
      if path and not path[-1][-1].isdigit():
        path[-1] = f"{path[-1]}_{p}"
      else:
        path.append(f"layers_{p}")
    else:
      path.append(p)
  if path and path[-1] == "conv":
    path[-1:] = ["Conv_0", "conv"]
  return tuple(path), leaf


def variables_from_torch(state_dict: dict, prefix: str = "") -> dict:
  """Official MUNIT/UNIT tensors (numpy, e.g. `torch.load('gen_*.pt')['a']`) -> our params.

  Conv2d [out, in, kh, kw] -> [kh, kw, in, out]; Linear (and the style
  encoder's final 1x1 conv, a Dense here) [out, in] -> [in, out]; the
  LayerNorm's gamma/beta and biases as they are. Buffers (`running_mean`/
  `running_var` of the AdaIN layers) are skipped. `prefix` is prepended to
  every path, '/'-separated (e.g. 'gen_a').
  """
  params = {}
  for key, value in state_dict.items():
    if key.endswith(("running_mean", "running_var", "num_batches_tracked")):
      continue
    path, leaf = flax_path(key)
    w = np.asarray(value)
    if leaf == "weight" and w.ndim == 4 and path[0] == "enc_style" and path[-1] != "conv":
      w = w[:, :, 0, 0]  # the style encoder's final 1x1 conv is a Dense here
    w = torch_to_flax_array(leaf, w)
    leaf = "kernel" if leaf == "weight" else leaf
    if path[-1] == "fc":  # LinearBlock.fc -> our Dense named after the block
      path = path[:-1]
    node = params
    for p in tuple(prefix.split("/") if prefix else ()) + path:
      node = node.setdefault(p, {})
    node[leaf] = w
  return params


def torch_prefix(module_path: tuple) -> str:
  """Our module path -> the official module prefix (the inverse of `flax_path`), e.g.
  ('enc_content', 'model_3', 'model_0', 'model_1', 'Conv_0', 'conv') ->
  'enc_content.model.3.model.0.model.1.conv'."""
  parts = list(module_path)
  if parts[-2:] == ["Conv_0", "conv"]:
    parts[-2:] = ["conv"]
  return indexed_prefix(parts, bare="layers")


def torch_layers(variables: dict) -> dict:
  """{our layer path: official module prefix} of one official network (AdaINGen, VAEGen,
  MsImageDis) from its variables: `torch_prefix` of each module; a Dense is the
  `LinearBlock`'s `.fc`, except the style encoder's last layer, a 1x1 Conv2d
  officially ("conv1x1")."""
  layers = {}
  for path, leaf in flatten_dict(dict(variables["params"])).items():
    module = path[:-1]
    prefix = torch_prefix(module)
    if path[-1] == "kernel" and np.ndim(leaf) == 2:
      layers[module] = (prefix, "conv1x1") if module[0] == "enc_style" else prefix + ".fc"
    else:
      layers[module] = prefix
  return natural_order(layers)


def adain_buffers(n_res: int, dim: int, dtype=np.float32) -> dict:
  """The official AdaIN layers' unused running statistics (zeros, ones) of a MUNIT
  decoder: `dec.model.0.model.<block>.model.<conv>.norm.running_{mean,var}`."""
  out = {}
  for r in range(n_res):
    for j in range(2):
      key = f"dec.model.0.model.{r}.model.{j}.norm.running_"
      out[key + "mean"] = np.zeros(dim, dtype)
      out[key + "var"] = np.ones(dim, dtype)
  return out

