"""The networks of the Domain Transfer Network (Taigman, Polyak, Wolf, ICLR 2017), digits setting.

G = g o f. The paper's digit networks (sec. 5.1) and where a detail is not
stated there, the choice of the TF reimplementation yunjey/domain-transfer-network
(`model.py`), at 32x32 (NHWC, images in [-1, 1]):
  f (`FeatureExtractor`)   "four convolutional layers, each with 64, 128, 256,
      128 filters respectively, each followed by max pooling and ReLU": 3x3
      'SAME' convs with biases; 2x2 max pools after the first three (32 -> 16
      -> 8 -> 4) and a max pool over the whole 4x4 map after the fourth, so f
      is a 128-D vector ([N, 1, 1, 128]) as the paper's 128D representation.
      Grey inputs are repeated to three channels first (the reimplementation's
      `grayscale_to_rgb`: f is trained on colour SVHN and applied to grey
      MNIST-like images).
  classifier head (`FClassifier`)  f followed by a dense 128 -> 10 layer and
      a softmax: how f is pretrained on the source labels.
  g (`Decoder`)  "four blocks of deconvolution, batch-normalization, and
      ReLU, with a hyperbolic tangent terminal", DCGAN-style: ConvT 4x4 VALID
      128 -> 512 (1 -> 4), ConvT 3x3 stride 2 -> 256 (8), -> 128 (16), each
      with batch norm and ReLU, then ConvT 3x3 stride 2 -> out channels (32)
      and tanh (no norm on the output, as DCGAN and the reimplementation).
  D (`TernaryDiscriminator`)  "four batch-normalized convolutional layers and
      employs ReLU": 3x3 stride-2 convs of 128, 256, 512 (32 -> 16 -> 8 -> 4)
      each with batch norm and ReLU, then a 4x4 VALID conv to 3 logits: the
      classes fake-from-source (0), fake-from-target (1), real target (2).
Widths (g: 512-256-128, D: 128-256-512) and kernel sizes are the
reimplementation's; the paper gives only f's widths. Every conv has a bias
(the reimplementation's slim convs have biases; the batch norm follows
separately). Batch norm as TF-slim's `batch_norm(decay=0.95, center=True,
scale=True)`, epsilon 0.001, biased batch variance. Kernels start Glorot-uniform
(`xavier_initializer`), biases at 0, norm scales at 1 (`glorot_params`).
"""

import flax.linen as nn
import jax
import jax.numpy as jnp

from i2ijax.models.layers import Conv2d, ConvTranspose, Dtype

NUM_CLASSES = 10
FEATURES = 128
F_WIDTHS = (64, 128, 256, 128)
G_WIDTHS = (512, 256, 128)
D_WIDTHS = (128, 256, 512)
D_CLASSES = ("fake_source", "fake_target", "real_target")  # the ternary discriminator's classes
BN_MOMENTUM = 0.95  # TF-slim batch_norm decay
BN_EPSILON = 1e-3


class SlimBatchNorm(nn.Module):
  """TF-slim `batch_norm(decay=0.95, epsilon=0.001, center=True, scale=True)`: batch mean and
  biased variance in training mode (running averages kept with momentum 0.95), the running
  averages otherwise; params {scale (1), bias (0)}, batch_stats {mean (0), var (1)}."""

  dtype: Dtype = None
  param_dtype: Dtype = jnp.float32

  @nn.compact
  def __call__(self, x, *, train: bool):
    return nn.BatchNorm(use_running_average=not train, momentum=BN_MOMENTUM, epsilon=BN_EPSILON,
                        dtype=self.dtype, param_dtype=self.param_dtype, name="bn")(x)


def to_rgb(x):
  """[N, H, W, 1] -> [N, H, W, 3] (grey repeated); three channels pass unchanged."""
  return jnp.repeat(x, 3, axis=-1) if x.shape[-1] == 1 else x


class FeatureExtractor(nn.Module):
  """f: [N, H, W, 1 or 3] in [-1, 1] -> [N, 1, 1, widths[-1]] (the paper's 128-D features, >= 0).

  conv 3x3 -> max pool 2 -> ReLU three times, then conv 3x3 -> max pool over
  the whole remaining map -> ReLU (module docstring). No norm layers.
  """
  widths: tuple = F_WIDTHS
  dtype: Dtype = None
  param_dtype: Dtype = jnp.float32

  @nn.compact
  def __call__(self, x, train: bool = True):
    del train  # f has no batch norm or dropout
    x = to_rgb(x)
    for i, w in enumerate(self.widths):
      x = Conv2d(w, 3, 1, 1, dtype=self.dtype, param_dtype=self.param_dtype, name=f"conv{i + 1}")(x)
      window = 2 if i < len(self.widths) - 1 else x.shape[1]
      x = nn.max_pool(x, (window, window), (window, window))
      x = nn.relu(x)
    return x.astype(jnp.promote_types(x.dtype, self.param_dtype))


class FClassifier(nn.Module):
  """f with its softmax classifier head, for pretraining f on the source labels:
  [N, H, W, C] -> 10 logits [N, 10]. Parameters {"f": f's, "head": the dense 128 -> 10}."""
  widths: tuple = F_WIDTHS
  num_classes: int = NUM_CLASSES
  dtype: Dtype = None
  param_dtype: Dtype = jnp.float32

  @nn.compact
  def __call__(self, x, train: bool = True):
    feats = FeatureExtractor(self.widths, self.dtype, self.param_dtype, name="f")(x, train)
    return nn.Dense(self.num_classes, dtype=self.dtype, param_dtype=self.param_dtype,
                    name="head")(feats.reshape(feats.shape[0], -1))


class Decoder(nn.Module):
  """g: f's features [N, 1, 1, 128] -> images [N, 32, 32, out_channels] in [-1, 1] (tanh)."""
  out_channels: int = 1
  widths: tuple = G_WIDTHS
  dtype: Dtype = None
  param_dtype: Dtype = jnp.float32

  @nn.compact
  def __call__(self, z, train: bool = True):
    dt = dict(dtype=self.dtype, param_dtype=self.param_dtype)
    x = z
    for i, w in enumerate(self.widths):
      first = i == 0
      x = ConvTranspose(w, 4 if first else 3, 1 if first else 2, 0 if first else 1,
                        0 if first else 1, **dt, name=f"deconv{i + 1}")(x)
      x = nn.relu(SlimBatchNorm(**dt, name=f"bn{i + 1}")(x, train=train))
    x = ConvTranspose(self.out_channels, 3, 2, 1, 1, **dt, name=f"deconv{len(self.widths) + 1}")(x)
    return jnp.tanh(x).astype(jnp.promote_types(x.dtype, self.param_dtype))


class TernaryDiscriminator(nn.Module):
  """D: images [N, 32, 32, C] in [-1, 1] -> 3 logits [N, 3] (classes `D_CLASSES`)."""
  widths: tuple = D_WIDTHS
  num_classes: int = len(D_CLASSES)
  dtype: Dtype = None
  param_dtype: Dtype = jnp.float32

  @nn.compact
  def __call__(self, x, train: bool = True):
    dt = dict(dtype=self.dtype, param_dtype=self.param_dtype)
    for i, w in enumerate(self.widths):
      x = Conv2d(w, 3, 2, ((0, 1), (0, 1)), **dt, name=f"conv{i + 1}")(x)  # TF 'SAME', stride 2
      x = nn.relu(SlimBatchNorm(**dt, name=f"bn{i + 1}")(x, train=train))
    x = Conv2d(self.num_classes, x.shape[1], 1, 0, **dt, name=f"conv{len(self.widths) + 1}")(x)
    return x.reshape(x.shape[0], -1).astype(jnp.promote_types(x.dtype, self.param_dtype))


def glorot_params(params, key):
  """Every conv / dense kernel of `params` redrawn Glorot-uniform (TF's `xavier_initializer`:
  U(+-sqrt(6 / (fan_in + fan_out))), fans = receptive field x in / out channels); biases stay 0,
  norm scales 1."""
  flat = jax.tree_util.tree_leaves_with_path(params)
  keys = iter(jax.random.split(key, max(len(flat), 1)))
  init = nn.initializers.xavier_uniform()

  def redraw(path, leaf):
    k = next(keys)
    if getattr(path[-1], "key", None) == "kernel":
      return init(k, leaf.shape, leaf.dtype)
    return leaf

  return jax.tree_util.tree_map_with_path(redraw, params)
