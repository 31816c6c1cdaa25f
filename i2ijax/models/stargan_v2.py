"""StarGAN v2 networks (Choi et al. 2020): generator, mapping network, style encoder, discriminator.

Mirrors `core/model.py` of clovaai/stargan-v2: the same blocks, widths, layer
order, and submodule names (`from_rgb`, `encode_i`, `decode_i`, `conv1`,
`norm1`, `conv1x1`, `fc`, `shared_i`, `unshared_k_i`, ...), so the official
state_dicts map one to one (tests/models/test_stargan_v2.py). Images are NHWC
in [-1, 1]; the generator has no output tanh, as the official one. Parameter
counts at the official settings equal the official ones.

Widths: the first conv has `dim_in = 2**14 // img_size` channels (64 at 256
px), doubled by each downsampling block up to `max_conv_dim` (512). Both are
attributes so that small models (tests, CPU quickstarts) can be built; the
official networks use the defaults.

Every Conv and Linear is Kaiming-normal initialised (fan_in, ReLU gain, not
truncated) with zero bias (`he_init`); affine instance norms start at scale 1,
bias 0.
"""

import math
from typing import Any, Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from i2ijax.metrics.torch_weights import natural_order, torch_to_flax_array
from i2ijax.models.layers import Conv2d, kaiming_normal, leaky_relu, upsample_nearest

Dtype = Any


def first_width(img_size: int, dim_in: int | None = None) -> int:
  """Channels of the first conv: the official 2**14 // img_size unless `dim_in` is given."""
  return dim_in if dim_in else 2**14 // img_size


def avg_pool2(x):
  """`F.avg_pool2d(x, 2)` on NHWC."""
  return nn.avg_pool(x, (2, 2), strides=(2, 2))


def conv(features: int, kernel: int, name: str, *, padding: int | None = None, use_bias=True,
         dtype=None, param_dtype=jnp.float32) -> Conv2d:
  """He-initialised `nn.Conv2d(in, features, kernel, 1, padding)`; zero padding, kernel // 2 by default."""
  p = kernel // 2 if padding is None else padding
  return Conv2d(features, kernel, padding=p, use_bias=use_bias, kernel_init=kaiming_normal(),
                dtype=dtype, param_dtype=param_dtype, name=name)


def dense(features: int, name: str, dtype=None, param_dtype=jnp.float32) -> nn.Dense:
  """`nn.Linear(in, features)`, He-initialised."""
  return nn.Dense(features, kernel_init=kaiming_normal(), bias_init=nn.initializers.zeros,
                  dtype=dtype, param_dtype=param_dtype, name=name)


def instance_norm(name: str, affine: bool, dtype=None, param_dtype=jnp.float32):
  """`nn.InstanceNorm2d(C, affine)`: eps 1e-5, biased variance over H, W."""
  return nn.InstanceNorm(epsilon=1e-5, use_scale=affine, use_bias=affine, dtype=dtype,
                         param_dtype=param_dtype, name=name)


class ResBlk(nn.Module):
  """Pre-activation residual block: (shortcut(x) + residual(x)) / sqrt(2).

  residual: [IN-affine] -> LReLU -> conv3 (in -> in) -> [avgpool 2] -> [IN-affine]
            -> LReLU -> conv3 (in -> out)
  shortcut: [conv1x1 in -> out, no bias, when in != out] -> [avgpool 2]
  """

  dim_out: int
  normalize: bool = False
  downsample: bool = False
  dtype: Dtype = None
  param_dtype: Dtype = jnp.float32

  @nn.compact
  def __call__(self, x):
    dim_in = x.shape[-1]
    kw = dict(dtype=self.dtype, param_dtype=self.param_dtype)
    sc = x
    if dim_in != self.dim_out:
      sc = conv(self.dim_out, 1, "conv1x1", use_bias=False, **kw)(sc)
    if self.downsample:
      sc = avg_pool2(sc)
    h = x
    if self.normalize:
      h = instance_norm("norm1", True, **kw)(h)
    h = conv(dim_in, 3, "conv1", **kw)(leaky_relu(h))
    if self.downsample:
      h = avg_pool2(h)
    if self.normalize:
      h = instance_norm("norm2", True, **kw)(h)
    h = conv(self.dim_out, 3, "conv2", **kw)(leaky_relu(h))
    return (sc + h) / math.sqrt(2.0)


class AdaIN(nn.Module):
  """Adaptive instance norm (Huang & Belongie 2017) as StarGAN v2 writes it:
  (1 + gamma(s)) * IN(x) + beta(s), with [gamma, beta] = fc(s) (Linear style -> 2C)."""

  dtype: Dtype = None
  param_dtype: Dtype = jnp.float32

  @nn.compact
  def __call__(self, x, s):
    c = x.shape[-1]
    h = dense(2 * c, "fc", self.dtype, self.param_dtype)(s)[:, None, None, :]
    gamma, beta = h[..., :c], h[..., c:]
    return (1.0 + gamma) * instance_norm("norm", False, self.dtype, self.param_dtype)(x) + beta


class AdainResBlk(nn.Module):
  """Decoder block: residual [AdaIN -> LReLU -> (up x2) -> conv3 in->out -> AdaIN -> LReLU
  -> conv3 out->out]; shortcut [(up x2) -> conv1x1 (no bias, when in != out)].

  Output (residual + shortcut) / sqrt(2) when w_hpf == 0, the residual alone
  otherwise (the conv1x1 then exists, as in the official code, but is unused).
  """

  dim_out: int
  w_hpf: float = 0.0
  upsample: bool = False
  dtype: Dtype = None
  param_dtype: Dtype = jnp.float32

  @nn.compact
  def __call__(self, x, s):
    dim_in = x.shape[-1]
    kw = dict(dtype=self.dtype, param_dtype=self.param_dtype)
    h = leaky_relu(AdaIN(name="norm1", **kw)(x, s))
    if self.upsample:
      h = upsample_nearest(h)
    h = conv(self.dim_out, 3, "conv1", **kw)(h)
    h = leaky_relu(AdaIN(name="norm2", **kw)(h, s))
    h = conv(self.dim_out, 3, "conv2", **kw)(h)
    sc = upsample_nearest(x) if self.upsample else x
    if dim_in != self.dim_out:
      sc = conv(self.dim_out, 1, "conv1x1", use_bias=False, **kw)(sc)
    if self.w_hpf == 0:
      return (h + sc) / math.sqrt(2.0)
    return h


def high_pass(x, w_hpf: float):
  """The fixed depthwise 3x3 Laplacian (8 at the centre, -1 around) / w_hpf, zero padding 1."""
  k = jnp.array([[-1, -1, -1], [-1, 8, -1], [-1, -1, -1]], x.dtype) / w_hpf
  c = x.shape[-1]
  kernel = jnp.tile(k[:, :, None, None], (1, 1, 1, c))  # HWIO with feature_group_count = C
  return jax.lax.conv_general_dilated(x, kernel, (1, 1), ((1, 1), (1, 1)),
                                      dimension_numbers=("NHWC", "HWIO", "NHWC"),
                                      feature_group_count=c)


SKIP_SIZES = (32, 64, 128)  # feature-map sides where the official w_hpf skips are taken


class Generator(nn.Module):
  """Encoder of normalised ResBlks, decoder of AdainResBlks, then IN-affine -> LReLU -> conv1x1.

  from_rgb conv3 3 -> dim_in; log2(img_size) - 4 (+1 when w_hpf > 0)
  downsampling ResBlks (width doubling, capped at max_conv_dim) and 2
  bottleneck ResBlks; the decoder mirrors them (stack order). With face
  `masks` (two heatmaps [N, h, w, 1], the official FAN output) and w_hpf > 0,
  high-passed masked encoder features are added at sides 32, 64 and 128; with
  masks None (no FAN) there is no skip, as in the official code.
  """

  img_size: int = 256
  style_dim: int = 64
  max_conv_dim: int = 512
  w_hpf: float = 0.0
  dim_in: int | None = None
  dtype: Dtype = None
  param_dtype: Dtype = jnp.float32

  @nn.compact
  def __call__(self, x, s, masks: Sequence[jax.Array] | None = None):
    """x [N, H, W, 3] in [-1, 1], s [N, style_dim] -> [N, H, W, 3] (not squashed)."""
    kw = dict(dtype=self.dtype, param_dtype=self.param_dtype)
    dim_in = first_width(self.img_size, self.dim_in)
    repeat = int(np.log2(self.img_size)) - 4 + (1 if self.w_hpf > 0 else 0)
    encode, decode = [], []
    d = dim_in
    for _ in range(repeat):
      d_out = min(d * 2, self.max_conv_dim)
      encode.append(dict(dim_out=d_out, normalize=True, downsample=True))
      decode.insert(0, dict(dim_out=d, w_hpf=self.w_hpf, upsample=True))
      d = d_out
    for _ in range(2):
      encode.append(dict(dim_out=d, normalize=True))
      decode.insert(0, dict(dim_out=d, w_hpf=self.w_hpf))

    h = conv(dim_in, 3, "from_rgb", **kw)(x)
    cache = {}
    for i, args in enumerate(encode):
      if masks is not None and h.shape[1] in SKIP_SIZES:
        cache[h.shape[1]] = h
      h = ResBlk(**args, name=f"encode_{i}", **kw)(h)
    for i, args in enumerate(decode):
      h = AdainResBlk(**args, name=f"decode_{i}", **kw)(h, s)
      if masks is not None and self.w_hpf > 0 and h.shape[1] in SKIP_SIZES:
        mask = masks[0] if h.shape[1] == 32 else masks[1]
        n, side = h.shape[0], h.shape[1]
        mask = jax.image.resize(mask, (n, side, side, mask.shape[-1]), "bilinear",
                                antialias=False).astype(h.dtype)
        h = h + high_pass(mask * cache[side], self.w_hpf)
    h = leaky_relu(instance_norm("to_rgb_norm", True, **kw)(h))
    return conv(3, 1, "to_rgb_conv", **kw)(h).astype(self.param_dtype)


def _select(out, y):
  """out [N, K, ...], y [N] int -> out[n, y[n]] ([N, ...])."""
  return jnp.take_along_axis(out, y.reshape((-1,) + (1,) * (out.ndim - 1)).astype(jnp.int32),
                             axis=1)[:, 0]


class MappingNetwork(nn.Module):
  """z [N, latent_dim], y [N] -> style [N, style_dim].

  Shared: Linear latent -> 512 -> ReLU, then 3 x (Linear 512 -> 512, ReLU);
  one head per domain: 3 x (Linear 512 -> 512, ReLU), Linear 512 -> style_dim;
  the output is the head of domain y. (The official hidden width 512 is fixed
  in the module; `hidden_dim` defaults to it.)
  """

  num_domains: int = 2
  style_dim: int = 64
  hidden_dim: int = 512
  dtype: Dtype = None
  param_dtype: Dtype = jnp.float32

  @nn.compact
  def __call__(self, z, y):
    kw = dict(dtype=self.dtype, param_dtype=self.param_dtype)
    h = z
    for i in range(4):
      h = nn.relu(dense(self.hidden_dim, f"shared_{i}", **kw)(h))
    outs = []
    for k in range(self.num_domains):
      o = h
      for i in range(3):
        o = nn.relu(dense(self.hidden_dim, f"unshared_{k}_{i}", **kw)(o))
      outs.append(dense(self.style_dim, f"unshared_{k}_3", **kw)(o))
    return _select(jnp.stack(outs, 1), y).astype(self.param_dtype)


class _Trunk(nn.Module):
  """The shared trunk of the style encoder and the discriminator.

  conv3 3 -> dim_in; log2(img_size) - 2 unnormalised downsampling ResBlks
  (to 4 x 4); LReLU -> conv4 valid (-> 1 x 1) -> LReLU. Output [N, C].
  """

  img_size: int = 256
  max_conv_dim: int = 512
  dim_in: int | None = None
  dtype: Dtype = None
  param_dtype: Dtype = jnp.float32

  @nn.compact
  def __call__(self, x):
    kw = dict(dtype=self.dtype, param_dtype=self.param_dtype)
    d = first_width(self.img_size, self.dim_in)
    h = conv(d, 3, "conv_in", **kw)(x)
    for i in range(int(np.log2(self.img_size)) - 2):
      d = min(d * 2, self.max_conv_dim)
      h = ResBlk(d, downsample=True, name=f"block_{i}", **kw)(h)
    h = conv(d, 4, "conv_out", padding=0, **kw)(leaky_relu(h))
    return leaky_relu(h).reshape(h.shape[0], -1)


class StyleEncoder(nn.Module):
  """x [N, H, W, 3], y [N] -> style [N, style_dim]: the trunk and one Linear head per domain."""

  img_size: int = 256
  style_dim: int = 64
  num_domains: int = 2
  max_conv_dim: int = 512
  dim_in: int | None = None
  dtype: Dtype = None
  param_dtype: Dtype = jnp.float32

  @nn.compact
  def __call__(self, x, y):
    kw = dict(dtype=self.dtype, param_dtype=self.param_dtype)
    h = _Trunk(self.img_size, self.max_conv_dim, self.dim_in, name="shared", **kw)(x)
    outs = [dense(self.style_dim, f"unshared_{k}", **kw)(h) for k in range(self.num_domains)]
    return _select(jnp.stack(outs, 1), y).astype(self.param_dtype)


class Discriminator(nn.Module):
  """x [N, H, W, 3], y [N] -> logit [N]: the trunk, conv1x1 -> num_domains, the logit of domain y.

  The per-domain logits also serve as a domain classifier of images (y None).
  """

  img_size: int = 256
  num_domains: int = 2
  max_conv_dim: int = 512
  dim_in: int | None = None
  dtype: Dtype = None
  param_dtype: Dtype = jnp.float32

  @nn.compact
  def __call__(self, x, y=None):
    """The logit of domain y [N]; with y None, every domain's logit [N, num_domains]."""
    kw = dict(dtype=self.dtype, param_dtype=self.param_dtype)
    h = _Trunk(self.img_size, self.max_conv_dim, self.dim_in, name="shared", **kw)(x)
    logits = dense(self.num_domains, "conv_cls", **kw)(h).astype(self.param_dtype)  # conv1x1 on 1x1
    return logits if y is None else _select(logits[:, :, None], y)[:, 0]


# ---------------------------------------------------------------- official weights
def trunk_blocks(img_size: int) -> int:
  """Downsampling ResBlks of the style encoder's and the discriminator's trunk."""
  return int(np.log2(img_size)) - 2


def flax_path(net: str, torch_key: str, n_blocks: int = 0) -> tuple[str, ...]:
  """The path of our parameter for an official state_dict key (without the
  DataParallel `module.` prefix), e.g. ("G", "decode.1.norm2.fc.weight") ->
  ("decode_1", "norm2", "fc", "kernel").

  net: "G", "F", "E" or "D"; n_blocks: `trunk_blocks(img_size)` (E and D, whose
  `shared.i` / `main.i` indices depend on it).
  """
  *p, name = torch_key.split(".")
  if net == "G":
    if p[0] in ("encode", "decode"):
      path = (f"{p[0]}_{p[1]}", *p[2:])
    else:
      path = {"from_rgb": ("from_rgb",), "to_rgb.0": ("to_rgb_norm",),
              "to_rgb.2": ("to_rgb_conv",)}[".".join(p[:2]) if p[0] == "to_rgb" else p[0]]
  elif net == "F":
    path = (f"shared_{int(p[1]) // 2}",) if p[0] == "shared" else (
        f"unshared_{p[1]}_{int(p[2]) // 2}",)
  elif net == "E" and p[0] == "unshared":
    path = (f"unshared_{p[1]}",)
  elif net in ("E", "D"):
    i = int(p[1])  # E: shared.i, D: main.i
    if i == 0:
      path = ("shared", "conv_in")
    elif i <= n_blocks:
      path = ("shared", f"block_{i - 1}", *p[2:])
    elif i == n_blocks + 2:
      path = ("shared", "conv_out")
    elif net == "D" and i == n_blocks + 4:
      path = ("conv_cls",)
    else:
      raise KeyError(f"{net}: unexpected official key {torch_key!r} for {n_blocks} trunk blocks")
  else:
    raise ValueError(f"unknown network {net!r}; valid: G, F, E, D")
  if name == "bias":
    return (*path, "bias")
  if path[-1] in ("norm1", "norm2", "to_rgb_norm"):  # affine InstanceNorm2d weight
    return (*path, "scale")
  return (*path, "kernel")


def flax_array(path: tuple[str, ...], value) -> np.ndarray:
  """An official tensor (numpy) in the layout of our parameter at `path`: Conv2d
  [out, in, kh, kw] -> [kh, kw, in, out]; Linear [out, in] -> [in, out]; the
  discriminator's final conv1x1 on a 1 x 1 map [K, C, 1, 1] -> Dense [C, K]."""
  w = np.asarray(value)
  if path[-1] == "kernel" and path[-2] == "conv_cls":
    return w[:, :, 0, 0].T
  return torch_to_flax_array("weight" if path[-1] == "kernel" else path[-1], w)


def params_from_torch(net: str, state_dict, n_blocks: int = 0) -> dict:
  """An official network's state_dict ({key: numpy array}) as our param tree
  (the w_hpf high-pass filter, a fixed buffer, has no parameter here)."""
  params = {}
  for key, value in state_dict.items():
    if key.endswith("hpf.filter"):
      continue
    path = flax_path(net, key, n_blocks)
    node = params
    for part in path[:-1]:
      node = node.setdefault(part, {})
    if path[-1] in node:
      raise KeyError(f"{net}: two official keys map to {'/'.join(path)} (the second: {key})")
    node[path[-1]] = flax_array(path, value)
  return params


def torch_layers(net: str, n_blocks: int = 0):
  """The official checkpoint layout of network `net` ("G", "F", "E" or "D"; n_blocks:
  `trunk_blocks(img_size)`): a function of its variables giving {our layer path:
  official module prefix} (the inverse of `flax_path`; the discriminator's last conv,
  a 1x1 Conv2d officially, is a Dense here)."""
  trunk = "main" if net == "D" else "shared"

  def prefix(path: tuple):
    head, _, index = path[0].rpartition("_")
    if net == "G":
      if head in ("encode", "decode"):
        return ".".join((head, index) + path[1:])
      return {"from_rgb": "from_rgb", "to_rgb_norm": "to_rgb.0", "to_rgb_conv": "to_rgb.2"}[path[0]]
    if net == "F":
      if head == "shared":
        return f"shared.{2 * int(index)}"
      _, d, k = path[0].split("_")
      return f"unshared.{d}.{2 * int(k)}"
    if net == "E" and head == "unshared":
      return f"unshared.{index}"
    if path == ("conv_cls",):
      return (f"main.{n_blocks + 4}", "conv1x1")
    if path[1] == "conv_in":
      return f"{trunk}.0"
    if path[1] == "conv_out":
      return f"{trunk}.{n_blocks + 2}"
    return ".".join((trunk, str(int(path[1].rpartition("_")[2]) + 1)) + path[2:])

  def layers(variables: dict) -> dict:
    out = {}
    for path in _module_paths(variables["params"]):
      out[path] = prefix(path)
    return natural_order(out)

  return layers


def high_pass_buffer(w_hpf: float) -> dict:
  """The official generator's `hpf.filter` buffer (the Laplacian / w_hpf), {} when w_hpf 0."""
  if not w_hpf:
    return {}
  laplacian = -np.ones((3, 3), np.float32)
  laplacian[1, 1] = 8.0
  return {"hpf.filter": laplacian / np.float32(w_hpf)}


def _module_paths(tree, prefix=()):
  """Paths of the modules that hold leaves (arrays) directly, in tree order."""
  if any(not hasattr(v, "items") for v in tree.values()):
    yield prefix
  for name, value in tree.items():
    if hasattr(value, "items"):
      yield from _module_paths(value, prefix + (name,))
