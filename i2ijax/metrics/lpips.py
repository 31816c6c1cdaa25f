"""LPIPS (Zhang et al. 2018), the `lpips` package's v0.1 metric, with AlexNet or VGG16 features.

For NHWC images x, y in [-1, 1]:
  1. scale: (x - shift) / scale per RGB channel, shift (-0.030, -0.088, -0.188),
     scale (0.458, 0.448, 0.450) (`ScalingLayer`);
  2. features at five ReLUs of the torchvision backbone: AlexNet relu1..relu5
     (after `features.{0, 3, 6, 8, 10}`, max-pools 3/2 between the first
     three), or VGG16 relu1_2, relu2_2, relu3_3, relu4_3, relu5_3;
  3. per layer: unit-normalise over channels, f / (||f||_2 + 1e-10), take the
     squared difference, weight the channels with the layer's nonnegative 1x1
     conv head (no bias), average over space;
  4. sum over the five layers -> d(x, y) [N].

Weights come in the official layouts: the torchvision backbone state_dict
(`features.N.weight`, `features.N.bias`; a full torchvision model's
`classifier.*` keys are ignored) and the LPIPS heads file
(`lin{k}.model.1.weight`, e.g. `lpips/weights/v0.1/alex.pth`), or one dict
with both. The `lpips.LPIPS` module's own state_dict (`net.slice{s}.N.weight`,
`lin{k}.model.1.weight` and its duplicate `lins.{k}.model.1.weight`,
`scaling_layer.*`) is read too. `lpips_params_from_state_dict` and
`state_dict_from_lpips_params` map these to Flax params and back exactly.

Params: {"features_N": {"kernel", "bias"} for each backbone conv N,
"lin{k}": {"kernel": [1, 1, C_k, 1]}}; the backbone is recognised from them
(AlexNet has `features_3`), so `lpips_distance(params, x, y)` needs no other
argument.
"""

import functools
import os
import re
from typing import Any, Mapping

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from i2ijax.metrics import torch_weights

SHIFT = (-0.030, -0.088, -0.188)
SCALE = (0.458, 0.448, 0.450)
EPS = 1e-10

# torchvision `features` layers: ("conv", index, out_channels, kernel, stride, padding),
# ("pool", kernel, stride), ("tap",) marks an LPIPS feature (after the ReLU of the conv before).
ALEXNET = (("conv", 0, 64, 11, 4, 2), ("tap",), ("pool", 3, 2),
           ("conv", 3, 192, 5, 1, 2), ("tap",), ("pool", 3, 2),
           ("conv", 6, 384, 3, 1, 1), ("tap",),
           ("conv", 8, 256, 3, 1, 1), ("tap",),
           ("conv", 10, 256, 3, 1, 1), ("tap",))


def _vgg16_layers():
  cfg = (64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512)
  layers, index = [], 0
  for v in cfg:
    if v == "M":
      layers += [("tap",), ("pool", 2, 2)]
      index += 1
    else:
      layers.append(("conv", index, v, 3, 1, 1))
      index += 2  # conv, ReLU
  return tuple(layers) + (("tap",),)


VGG16 = _vgg16_layers()
BACKBONES = {"alex": ALEXNET, "vgg": VGG16}
CHANNELS = {net: tuple(layer[2] for i, layer in enumerate(layers)
                       if layer[0] == "conv" and layers[i + 1] == ("tap",))
            for net, layers in BACKBONES.items()}

ENV_BACKBONE = "I2IJAX_LPIPS_BACKBONE"
ENV_HEADS = "I2IJAX_LPIPS_HEADS"
BACKBONE_URLS = {"alex": "https://download.pytorch.org/models/alexnet-owt-7be5be79.pth",
                 "vgg": "https://download.pytorch.org/models/vgg16-397923af.pth"}
HEADS_URL = ("https://github.com/richzhang/PerceptualSimilarity/raw/master/lpips/weights/v0.1/"
             "{net}.pth")

Precision = Any


def net_of(params: Mapping) -> str:
  """'alex' or 'vgg', from the param names (AlexNet's second conv is `features_3`)."""
  return "alex" if "features_3" in params else "vgg"


class LPIPS(nn.Module):
  """d(x, y) for NHWC images in [-1, 1] -> [N]; `features` gives the five tapped maps."""
  net: str = "alex"
  precision: Precision = None

  def setup(self):
    if self.net not in BACKBONES:
      raise ValueError(f"net must be one of {sorted(BACKBONES)}, got {self.net!r}")
    self.convs = {layer[1]: nn.Conv(layer[2], (layer[3], layer[3]), strides=layer[4],
                                    padding=[(layer[5], layer[5])] * 2, precision=self.precision,
                                    name=f"features_{layer[1]}")
                  for layer in BACKBONES[self.net] if layer[0] == "conv"}
    self.lins = [nn.Conv(1, (1, 1), use_bias=False, precision=self.precision, name=f"lin{k}")
                 for k in range(len(CHANNELS[self.net]))]

  def features(self, x):
    """[-1, 1] images [N, H, W, 3] -> the five unit-normalised ReLU maps (NHWC)."""
    x = (x - jnp.asarray(SHIFT, x.dtype)) / jnp.asarray(SCALE, x.dtype)
    taps = []
    for layer in BACKBONES[self.net]:
      if layer[0] == "conv":
        x = nn.relu(self.convs[layer[1]](x))
      elif layer[0] == "pool":
        x = nn.max_pool(x, (layer[1], layer[1]), strides=(layer[2], layer[2]))
      else:
        taps.append(normalize(x))
    return taps

  def distance(self, fx, fy):
    """Per-image distance [N] between two lists of normalised feature maps."""
    total = 0.0
    for lin, a, b in zip(self.lins, fx, fy):
      total = total + jnp.mean(lin((a - b) ** 2), axis=(1, 2, 3))
    return total

  def __call__(self, x, y):
    return self.distance(self.features(x), self.features(y))


def normalize(f):
  """f / (sqrt(sum_c f^2) + 1e-10) over the channel (last) axis, as `lpips.normalize_tensor`."""
  return f / (jnp.sqrt(jnp.sum(f * f, axis=-1, keepdims=True)) + EPS)


# ---------------------------------------------------------------- weights


def lpips_state_dict_shapes(net: str = "alex") -> dict[str, tuple[int, ...]]:
  """{official key: shape}: `features.N.weight/bias` of the backbone convs and
  `lin{k}.model.1.weight` of the heads."""
  if net not in BACKBONES:
    raise ValueError(f"net must be one of {sorted(BACKBONES)}, got {net!r}")
  shapes, c_in = {}, 3
  for layer in BACKBONES[net]:
    if layer[0] == "conv":
      _, n, c, k = layer[:4]
      shapes[f"features.{n}.weight"] = (c, c_in, k, k)
      shapes[f"features.{n}.bias"] = (c,)
      c_in = c
  for k, c in enumerate(CHANNELS[net]):
    shapes[f"lin{k}.model.1.weight"] = (1, c, 1, 1)
  return shapes


_LPIPS_MODULE_BACKBONE_KEY = re.compile(r"^net\.slice\d+\.(\d+)\.(weight|bias)$")
_LPIPS_MODULE_LIST_KEY = re.compile(r"^lins\.(\d+)\.(model\.1\.weight)$")


def _official_key(key: str) -> str | None:
  """A key in one of the accepted layouts -> its `features.N.*` / `lin{k}.model.1.weight` name;
  None for keys that carry nothing needed (torchvision's classifier, the scaling constants)."""
  m = _LPIPS_MODULE_BACKBONE_KEY.match(key)
  if m:
    return f"features.{m.group(1)}.{m.group(2)}"
  m = _LPIPS_MODULE_LIST_KEY.match(key)
  if m:
    return f"lin{m.group(1)}.{m.group(2)}"
  if key.startswith(("classifier.", "scaling_layer.")):
    return None
  return key


def lpips_params_from_state_dict(state_dict: Mapping[str, np.ndarray], net: str = "alex",
                                 source: str = "state_dict") -> dict:
  """Backbone + heads state_dict (one dict, official keys) -> LPIPS Flax params.

  Raises ValueError naming `source` for missing, unexpected or misshapen keys.
  """
  sd = {}
  for key, value in state_dict.items():
    name = _official_key(key)
    if name is None:
      continue
    value = np.asarray(value, np.float32)
    if name in sd and not np.array_equal(sd[name], value):
      raise ValueError(f"{source}: {key} disagrees with another entry for {name}")
    sd[name] = value
  torch_weights.check_state_dict(sd, lpips_state_dict_shapes(net), source)
  flax = torch_weights.flax_variables_from_torch(sd, _module_path)
  return flax["params"]


def _module_path(prefix: str) -> tuple[str, ...]:
  """`features.N` -> ("features_N",); `lin{k}.model.1` -> ("lin{k}",)."""
  if prefix.startswith("features."):
    return ("features_" + prefix.split(".")[1],)
  return (prefix.split(".")[0],)


def _torch_prefix(path: tuple[str, ...]) -> str:
  (name,) = path
  if name.startswith("features_"):
    return "features." + name[len("features_"):]
  return name + ".model.1"


def state_dict_from_lpips_params(params: Mapping) -> dict[str, np.ndarray]:
  """LPIPS Flax params -> one state_dict with the official keys (exact inverse)."""
  return torch_weights.torch_from_flax_variables({"params": params}, _torch_prefix)


def split_state_dict(state_dict: Mapping[str, np.ndarray]):
  """One LPIPS state_dict -> (backbone `features.*`, heads `lin*`): the two files' layouts."""
  backbone = {k: v for k, v in state_dict.items() if k.startswith("features.")}
  heads = {k: v for k, v in state_dict.items() if not k.startswith("features.")}
  return backbone, heads


def load_lpips(net: str = "alex", backbone_path=None, heads_path=None) -> dict:
  """LPIPS params from the torchvision backbone file and the LPIPS heads file.

  Paths default to $I2IJAX_LPIPS_BACKBONE and $I2IJAX_LPIPS_HEADS. A single
  file holding both (e.g. an `.npz` of `state_dict_from_lpips_params`) may be
  given as the backbone alone. A missing file raises FileNotFoundError saying
  where to download it and how to pass it.
  """
  if net not in BACKBONES:
    raise ValueError(f"net must be one of {sorted(BACKBONES)}, got {net!r}")
  backbone_path = backbone_path or os.environ.get(ENV_BACKBONE)
  heads_path = heads_path or os.environ.get(ENV_HEADS)
  tv_name = {"alex": "alexnet", "vgg": "vgg16"}[net]

  def read(what, path, env, url, description):
    if not path or not os.path.isfile(path):
      where = (f"{os.fspath(path)!r} does not exist" if path
               else f"no path given and ${env} is unset")
      raise FileNotFoundError(
          f"LPIPS {what} weights not found ({where}). They are {description}: download {url} "
          f"and pass its path (load_lpips({what}_path=...) or the environment variable {env}).")
    return torch_weights.load_torch_state_dict(path)

  sd = read("backbone", backbone_path, ENV_BACKBONE, BACKBONE_URLS[net],
            f"torchvision's ImageNet {tv_name} weights")
  sources = [os.fspath(backbone_path)]
  if heads_path or not any(_official_key(k) == "lin0.model.1.weight" for k in sd):
    sd.update(read("heads", heads_path, ENV_HEADS, HEADS_URL.format(net=net),
                   f"the LPIPS v0.1 linear heads ({net}.pth, also shipped in the `lpips` pip "
                   "package under lpips/weights/v0.1/)"))
    sources.append(os.fspath(heads_path))
  return lpips_params_from_state_dict(sd, net, source=" + ".join(sources))


# ---------------------------------------------------------------- distances


@functools.partial(jax.jit, static_argnames=("precision",))
def lpips_distance(params, x, y, precision: Precision = jax.lax.Precision.HIGHEST):
  """LPIPS between NHWC images x and y in [-1, 1] (same shape [N, H, W, 3]) -> [N]."""
  if x.shape != y.shape or x.ndim != 4 or x.shape[-1] != 3:
    raise ValueError(f"x and y must both be [N, H, W, 3], got {x.shape} and {y.shape}")
  model = LPIPS(net_of(params), precision=precision)
  return model.apply({"params": params}, jnp.asarray(x, jnp.float32), jnp.asarray(y, jnp.float32))


@functools.partial(jax.jit, static_argnames=("precision",))
def _pairwise_means(params, outputs, precision):
  """outputs [N, K, H, W, 3] -> [N]: each input's mean LPIPS over its K (K - 1) / 2 output pairs.

  Features are computed once per image; pairs are scanned one at a time.
  """
  n, k = outputs.shape[:2]
  model = LPIPS(net_of(params), precision=precision)
  feats = model.apply({"params": params}, outputs.reshape((n * k,) + outputs.shape[2:]),
                      method=LPIPS.features)
  feats = [f.reshape((n, k) + f.shape[1:]) for f in feats]
  i_idx, j_idx = np.triu_indices(k, 1)

  def pair(ij):
    i, j = ij
    return model.apply({"params": params}, [f[:, i] for f in feats], [f[:, j] for f in feats],
                       method=LPIPS.distance)

  per_pair = jax.lax.map(pair, (jnp.asarray(i_idx), jnp.asarray(j_idx)))  # [P, N]
  return jnp.mean(per_pair, axis=0)


def mean_pairwise_lpips(params, outputs, batch_size: int | None = None,
                        precision: Precision = jax.lax.Precision.HIGHEST) -> float:
  """StarGAN v2's diversity score: LPIPS averaged over all pairs of the K outputs
  of each input, then over the inputs (MUNIT and DRIT average sampled pairs instead).

  outputs: [N, K, H, W, 3] in [-1, 1] (K >= 2 translations of each of N
  inputs). Equals StarGAN v2's `metrics/eval.py` average for one batch
  (its `calculate_lpips_given_images` means over the batch per pair, then
  over pairs); `batch_size` inputs are processed at a time. StarGAN v2
  feeds the generator outputs unclipped. Its own LPIPS copy normalises
  features as f * rsqrt(sum_c f^2 + 1e-10), which differs from the `lpips`
  package's f / (||f|| + 1e-10) only for near-zero feature vectors.
  """
  outputs = np.asarray(outputs, np.float32)
  if outputs.ndim != 5 or outputs.shape[1] < 2:
    raise ValueError(f"outputs must be [N, K >= 2, H, W, 3], got shape {outputs.shape}")
  batch_size = batch_size or len(outputs)
  total = 0.0
  for start in range(0, len(outputs), batch_size):
    total += float(np.sum(np.asarray(
        _pairwise_means(params, outputs[start:start + batch_size], precision), np.float64)))
  return total / len(outputs)
