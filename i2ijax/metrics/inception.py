"""The FID Inception-v3: TensorFlow's 2015-12-05 Inception graph as pytorch-fid ports it.

This is the network behind FID as TTUR and pytorch-fid compute it
(`pytorch_fid.inception.fid_inception_v3`): torchvision's Inception-v3 layout
with a 1008-class head and four patched blocks. Differences from
torchvision's ImageNet Inception-v3, all kept here:

* the average pools of the A, C and first E blocks (`Mixed_5b..5d`,
  `Mixed_6b..6e`, `Mixed_7b`) exclude the zero padding from the mean
  (`count_include_pad=False`, TensorFlow's behaviour);
* the last E block (`Mixed_7c`) max-pools its pool branch instead;
* no auxiliary classifier, no ImageNet input transform.

Every conv is `BasicConv2d`: conv without bias -> BatchNorm (eps 1e-3, running
statistics) -> ReLU. The module returns the 2048-d "pool3" features, the
spatial mean of `Mixed_7c`, and optionally the 1008 logits of `fc`.

Submodule names equal the torch attribute names, so a state_dict with
pytorch-fid's keys (`Conv2d_1a_3x3.conv.weight`,
`Mixed_5b.branch1x1.bn.running_mean`, ..., `fc.weight`, as in
`pt_inception-2015-12-05-6726825d.pth`) maps one to one:
`inception_variables_from_state_dict` / `state_dict_from_inception_variables`.

Input preprocessing (`preprocess`) reproduces pytorch-fid's `InceptionV3`
with its defaults (`resize_input=True`, `normalize_input=True`), fed as its
`fid_score` feeds it (`ToTensor`: uint8 / 255):
  uint8 images -> x / 255; float images in [-1, 1] -> (x + 1) / 2   (now in [0, 1])
  -> bilinear resize to 299x299 as `F.interpolate(mode='bilinear',
     align_corners=False)` (no antialiasing, also when downscaling)
  -> 2 x - 1                                                        (now in [-1, 1]).
Images are NHWC throughout.
"""

import functools
import os
from typing import Any, Callable, Mapping

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from i2ijax.metrics import torch_weights

INPUT_SIZE = 299
FEATURE_DIM = 2048
NUM_CLASSES = 1008
WEIGHTS_ENV = "I2IJAX_INCEPTION_WEIGHTS"
WEIGHTS_FILE = "pt_inception-2015-12-05-6726825d.pth"
WEIGHTS_URL = ("https://github.com/mseitzer/pytorch-fid/releases/download/fid_weights/"
               + WEIGHTS_FILE)

Precision = Any


def _pair(v) -> tuple[int, int]:
  return (v, v) if isinstance(v, int) else tuple(v)


class BasicConv2d(nn.Module):
  """torchvision's `BasicConv2d`: conv (no bias) -> BatchNorm(eps 1e-3, eval) -> ReLU."""
  features: int
  kernel: Any = 1
  stride: int = 1
  padding: Any = 0
  precision: Precision = None

  @nn.compact
  def __call__(self, x):
    ph, pw = _pair(self.padding)
    x = nn.Conv(self.features, _pair(self.kernel), strides=_pair(self.stride),
                padding=((ph, ph), (pw, pw)), use_bias=False, precision=self.precision,
                name="conv")(x)
    x = nn.BatchNorm(use_running_average=True, epsilon=1e-3, name="bn")(x)
    return nn.relu(x)


def avg_pool3_exclude_pad(x):
  """`F.avg_pool2d(x, 3, stride=1, padding=1, count_include_pad=False)` on NHWC."""
  return nn.avg_pool(x, (3, 3), strides=(1, 1), padding=((1, 1), (1, 1)),
                     count_include_pad=False)


def max_pool3(x, stride: int = 1, padding: int = 1):
  """`F.max_pool2d(x, 3, stride, padding)` on NHWC (padding never wins the max)."""
  return nn.max_pool(x, (3, 3), strides=(stride, stride),
                     padding=((padding, padding), (padding, padding)))


class InceptionA(nn.Module):
  """`FIDInceptionA` (Mixed_5b..5d): 1x1 | 1x1-5x5 | 1x1-3x3-3x3 | avgpool-1x1;
  224 + pool_features channels."""
  pool_features: int
  precision: Precision = None

  @nn.compact
  def __call__(self, x):
    c = functools.partial(BasicConv2d, precision=self.precision)
    b1 = c(64, name="branch1x1")(x)
    b5 = c(48, name="branch5x5_1")(x)
    b5 = c(64, 5, padding=2, name="branch5x5_2")(b5)
    b3 = c(64, name="branch3x3dbl_1")(x)
    b3 = c(96, 3, padding=1, name="branch3x3dbl_2")(b3)
    b3 = c(96, 3, padding=1, name="branch3x3dbl_3")(b3)
    bp = c(self.pool_features, name="branch_pool")(avg_pool3_exclude_pad(x))
    return jnp.concatenate([b1, b5, b3, bp], axis=-1)


class InceptionB(nn.Module):
  """torchvision `InceptionB` (Mixed_6a), stride 2: 3x3 | 1x1-3x3-3x3 | maxpool -> 480 + in."""
  precision: Precision = None

  @nn.compact
  def __call__(self, x):
    c = functools.partial(BasicConv2d, precision=self.precision)
    b3 = c(384, 3, stride=2, name="branch3x3")(x)
    bd = c(64, name="branch3x3dbl_1")(x)
    bd = c(96, 3, padding=1, name="branch3x3dbl_2")(bd)
    bd = c(96, 3, stride=2, name="branch3x3dbl_3")(bd)
    return jnp.concatenate([b3, bd, max_pool3(x, stride=2, padding=0)], axis=-1)


class InceptionC(nn.Module):
  """`FIDInceptionC` (Mixed_6b..6e): factorised 7x7 branches; 4 x 192 = 768 channels."""
  channels_7x7: int
  precision: Precision = None

  @nn.compact
  def __call__(self, x):
    c = functools.partial(BasicConv2d, precision=self.precision)
    c7 = self.channels_7x7
    b1 = c(192, name="branch1x1")(x)
    b7 = c(c7, name="branch7x7_1")(x)
    b7 = c(c7, (1, 7), padding=(0, 3), name="branch7x7_2")(b7)
    b7 = c(192, (7, 1), padding=(3, 0), name="branch7x7_3")(b7)
    bd = c(c7, name="branch7x7dbl_1")(x)
    bd = c(c7, (7, 1), padding=(3, 0), name="branch7x7dbl_2")(bd)
    bd = c(c7, (1, 7), padding=(0, 3), name="branch7x7dbl_3")(bd)
    bd = c(c7, (7, 1), padding=(3, 0), name="branch7x7dbl_4")(bd)
    bd = c(192, (1, 7), padding=(0, 3), name="branch7x7dbl_5")(bd)
    bp = c(192, name="branch_pool")(avg_pool3_exclude_pad(x))
    return jnp.concatenate([b1, b7, bd, bp], axis=-1)


class InceptionD(nn.Module):
  """torchvision `InceptionD` (Mixed_7a), stride 2: 1x1-3x3 | 1x1-1x7-7x1-3x3 | maxpool."""
  precision: Precision = None

  @nn.compact
  def __call__(self, x):
    c = functools.partial(BasicConv2d, precision=self.precision)
    b3 = c(192, name="branch3x3_1")(x)
    b3 = c(320, 3, stride=2, name="branch3x3_2")(b3)
    b7 = c(192, name="branch7x7x3_1")(x)
    b7 = c(192, (1, 7), padding=(0, 3), name="branch7x7x3_2")(b7)
    b7 = c(192, (7, 1), padding=(3, 0), name="branch7x7x3_3")(b7)
    b7 = c(192, 3, stride=2, name="branch7x7x3_4")(b7)
    return jnp.concatenate([b3, b7, max_pool3(x, stride=2, padding=0)], axis=-1)


class InceptionE(nn.Module):
  """`FIDInceptionE_1` (pool 'avg', Mixed_7b) / `FIDInceptionE_2` (pool 'max', Mixed_7c);
  2048 channels."""
  pool: str = "avg"
  precision: Precision = None

  @nn.compact
  def __call__(self, x):
    c = functools.partial(BasicConv2d, precision=self.precision)
    b1 = c(320, name="branch1x1")(x)
    b3 = c(384, name="branch3x3_1")(x)
    b3 = jnp.concatenate([c(384, (1, 3), padding=(0, 1), name="branch3x3_2a")(b3),
                          c(384, (3, 1), padding=(1, 0), name="branch3x3_2b")(b3)], axis=-1)
    bd = c(448, name="branch3x3dbl_1")(x)
    bd = c(384, 3, padding=1, name="branch3x3dbl_2")(bd)
    bd = jnp.concatenate([c(384, (1, 3), padding=(0, 1), name="branch3x3dbl_3a")(bd),
                          c(384, (3, 1), padding=(1, 0), name="branch3x3dbl_3b")(bd)], axis=-1)
    if self.pool == "avg":
      pooled = avg_pool3_exclude_pad(x)
    elif self.pool == "max":
      pooled = max_pool3(x)
    else:
      raise ValueError(f"pool must be 'avg' or 'max', got {self.pool!r}")
    bp = c(192, name="branch_pool")(pooled)
    return jnp.concatenate([b1, b3, bd, bp], axis=-1)


class FIDInceptionV3(nn.Module):
  """The FID Inception-v3 on preprocessed NHWC images in [-1, 1] (299x299 for FID).

  __call__(x [N, H, W, 3], logits=False) -> pool3 features [N, 2048], or
  (features, logits [N, 1008]) with `logits=True`. Any H, W >= 75 works
  (pool3 is a spatial mean); FID uses 299 (`preprocess`).
  `precision` is passed to every conv and to `fc` (None: the backend default,
  which on GPUs may use TF32; `jax.lax.Precision.HIGHEST` for full float32).
  """
  precision: Precision = None

  @nn.compact
  def __call__(self, x, logits: bool = False):
    p = self.precision
    c = functools.partial(BasicConv2d, precision=p)
    x = c(32, 3, stride=2, name="Conv2d_1a_3x3")(x)
    x = c(32, 3, name="Conv2d_2a_3x3")(x)
    x = c(64, 3, padding=1, name="Conv2d_2b_3x3")(x)
    x = max_pool3(x, stride=2, padding=0)
    x = c(80, 1, name="Conv2d_3b_1x1")(x)
    x = c(192, 3, name="Conv2d_4a_3x3")(x)
    x = max_pool3(x, stride=2, padding=0)
    x = InceptionA(32, precision=p, name="Mixed_5b")(x)
    x = InceptionA(64, precision=p, name="Mixed_5c")(x)
    x = InceptionA(64, precision=p, name="Mixed_5d")(x)
    x = InceptionB(precision=p, name="Mixed_6a")(x)
    x = InceptionC(128, precision=p, name="Mixed_6b")(x)
    x = InceptionC(160, precision=p, name="Mixed_6c")(x)
    x = InceptionC(160, precision=p, name="Mixed_6d")(x)
    x = InceptionC(192, precision=p, name="Mixed_6e")(x)
    x = InceptionD(precision=p, name="Mixed_7a")(x)
    x = InceptionE("avg", precision=p, name="Mixed_7b")(x)
    x = InceptionE("max", precision=p, name="Mixed_7c")(x)
    features = jnp.mean(x, axis=(1, 2))
    if not logits:
      return features
    return features, nn.Dense(NUM_CLASSES, precision=p, name="fc")(features)


# ---------------------------------------------------------------- preprocessing


def bilinear_resize_matrix(in_size: int, out_size: int) -> np.ndarray:
  """[out_size, in_size] float32 weights of 1-D `F.interpolate(mode='bilinear',
  align_corners=False)` with an output size given (scale = in / out).

  Output pixel i samples src = max(scale (i + 0.5) - 0.5, 0), blending
  x[floor(src)] and x[min(floor(src) + 1, in - 1)] by the fraction; no
  antialiasing filter, so downscaling skips pixels exactly as torch does.
  As torch's CPU kernel: scale is a float32, src one fused multiply-add
  rounded to float32, the fractions float32 (the weights equal torch's bit
  for bit).
  """
  scale = np.float64(np.float32(in_size) / np.float32(out_size))
  dst = np.arange(out_size, dtype=np.float64)
  src = np.maximum(scale * (dst + 0.5) - 0.5, 0.0).astype(np.float32)  # exact product, one rounding
  i0 = np.minimum(src.astype(np.int64), in_size - 1)
  i1 = np.minimum(i0 + 1, in_size - 1)
  lam1 = (src - i0.astype(np.float32)).astype(np.float32)
  lam0 = (np.float32(1) - lam1).astype(np.float32)
  m = np.zeros((out_size, in_size), np.float32)
  rows = np.arange(out_size)
  np.add.at(m, (rows, i0), lam0)
  np.add.at(m, (rows, i1), lam1)
  return m


def resize_bilinear(x, size: tuple[int, int]):
  """`F.interpolate(x, size, mode='bilinear', align_corners=False)` on NHWC float images."""
  h, w = x.shape[1:3]
  mh = jnp.asarray(bilinear_resize_matrix(h, size[0]))
  mw = jnp.asarray(bilinear_resize_matrix(w, size[1]))
  hi = jax.lax.Precision.HIGHEST
  x = jnp.einsum("oh,nhwc->nowc", mh, x, precision=hi)
  return jnp.einsum("pw,nowc->nopc", mw, x, precision=hi)


def preprocess(images, size: int = INPUT_SIZE):
  """NHWC RGB images -> the network input, as pytorch-fid.

  uint8 images are read as x / 255, float images as (x + 1) / 2 from [-1, 1];
  then bilinear resize to size x size (torch semantics, `resize_bilinear`),
  then 2 x - 1. Returns float32 [N, size, size, 3]. Nothing is clipped.

  pytorch-fid reads images from PNG files, so generated images reach it
  quantised to uint8; pass uint8 images (e.g. round((x + 1) * 127.5)) to
  reproduce that exactly.
  """
  images = jnp.asarray(images)
  if images.ndim != 4 or images.shape[-1] != 3:
    raise ValueError(f"images must be [N, H, W, 3], got shape {images.shape}")
  if images.dtype == jnp.uint8:
    x = images.astype(jnp.float32) / 255.0
  else:
    x = (images.astype(jnp.float32) + 1.0) / 2.0
  if x.shape[1:3] != (size, size):
    x = resize_bilinear(x, (size, size))
  return 2.0 * x - 1.0


# ---------------------------------------------------------------- weights


def _module_path(prefix: str) -> tuple[str, ...]:
  return tuple(prefix.split("."))


def _is_bookkeeping(key: str) -> bool:
  """`num_batches_tracked` counters: written by torch >= 0.4.1, unused in evaluation."""
  return key.endswith(".num_batches_tracked")


@functools.cache
def _state_dict_shapes() -> tuple[tuple[str, tuple[int, ...]], ...]:
  abstract = jax.eval_shape(
      lambda: FIDInceptionV3().init(jax.random.key(0), jnp.zeros((1, 75, 75, 3)), logits=True))
  sd = torch_weights.torch_from_flax_variables(
      jax.tree_util.tree_map(lambda s: np.zeros(s.shape, s.dtype), abstract), ".".join)
  return tuple((k, v.shape) for k, v in sd.items())


def inception_state_dict_shapes() -> dict[str, tuple[int, ...]]:
  """{pytorch-fid key: shape} of every tensor the FID Inception uses, `fc` included."""
  return dict(_state_dict_shapes())


def inception_variables_from_state_dict(state_dict: Mapping[str, np.ndarray],
                                        source: str = "state_dict") -> dict:
  """pytorch-fid's state_dict -> Flax variables {'params', 'batch_stats'} of `FIDInceptionV3`.

  Needs exactly the keys of `inception_state_dict_shapes()` with those shapes
  (`num_batches_tracked` entries are accepted and dropped); otherwise raises
  ValueError naming `source` and the offending keys. Arrays stay float32 numpy.
  """
  torch_weights.check_state_dict(state_dict, inception_state_dict_shapes(), source,
                                 ignore=_is_bookkeeping)
  sd = {k: np.asarray(v, np.float32) for k, v in state_dict.items()}
  return torch_weights.flax_variables_from_torch(sd, _module_path, skip=_is_bookkeeping)


def state_dict_from_inception_variables(variables: Mapping) -> dict[str, np.ndarray]:
  """Flax variables of `FIDInceptionV3` -> pytorch-fid's state_dict (exact inverse)."""
  return torch_weights.torch_from_flax_variables(variables, ".".join)


def load_inception(path=None) -> dict:
  """The FID Inception variables from `path`, else from $I2IJAX_INCEPTION_WEIGHTS.

  The file is pytorch-fid's `pt_inception-2015-12-05-6726825d.pth` (torch
  not needed) or an `.npz` with the same keys. A missing file raises
  FileNotFoundError saying where to download it and how to pass it.
  """
  path = path or os.environ.get(WEIGHTS_ENV)
  if not path or not os.path.isfile(path):
    where = f"{path!r} does not exist" if path else f"no path given and ${WEIGHTS_ENV} is unset"
    raise FileNotFoundError(
        f"FID Inception weights not found ({where}). Download {WEIGHTS_FILE} from {WEIGHTS_URL} "
        f"and pass its path (load_inception(path) or the environment variable {WEIGHTS_ENV}); "
        "an .npz with the same keys also works.")
  return inception_variables_from_state_dict(torch_weights.load_torch_state_dict(path),
                                             source=os.fspath(path))


@functools.partial(jax.jit, static_argnames=("logits", "precision"))
def inception_features(variables, images, logits: bool = False,
                       precision: Precision = jax.lax.Precision.HIGHEST):
  """Pool3 features [N, 2048] (and logits [N, 1008] with `logits=True`) of NHWC
  images: uint8, or float in [-1, 1], of any size (`preprocess`)."""
  return FIDInceptionV3(precision=precision).apply(variables, preprocess(images), logits=logits)


def make_feature_fn(variables, batch_size: int = 50, logits: bool = False,
                    precision: Precision = jax.lax.Precision.HIGHEST) -> Callable:
  """feature_fn(images [N, H, W, 3]) -> numpy features [N, 2048] (or (features, logits)).

  Runs `inception_features` on batches of `batch_size` images; the last batch
  is padded to the full size, so one shape compiles per image size.
  """
  variables = jax.tree_util.tree_map(jnp.asarray, variables)

  def feature_fn(images):
    images = np.asarray(images)
    outs = []
    for start in range(0, len(images), batch_size):
      batch = images[start:start + batch_size]
      n = len(batch)
      if n < batch_size:
        batch = np.concatenate([batch, np.repeat(batch[-1:], batch_size - n, axis=0)])
      out = inception_features(variables, batch, logits=logits, precision=precision)
      outs.append(jax.tree_util.tree_map(lambda a: np.asarray(a)[:n], out))
    if not outs:
      empty = np.zeros((0, FEATURE_DIM), np.float32)
      return (empty, np.zeros((0, NUM_CLASSES), np.float32)) if logits else empty
    if logits:
      return tuple(np.concatenate(parts) for parts in zip(*outs))
    return np.concatenate(outs)

  return feature_fn
