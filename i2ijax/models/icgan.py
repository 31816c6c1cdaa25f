"""IcGAN's networks (Perarnau et al., "Invertible Conditional GANs for image editing", 2016).

Follows the official Lua Torch7 code Guim3/IcGAN (commit 0c73cf8): `trainGAN.lua`
(generator, discriminator) and `trainEncoder.lua` (`getEncoder`, both encoders).
Images NHWC in [-1, 1]; z [N, nz] (N(0, 1) draws); y [N, ny] in {-1, 1}.

Generator G(z, y), a conditional DCGAN for S x S images (S a power of 2, >= 8):
  concat(z, y) as a 1 x 1 image -> ConvT 4x4 (stride 1) to ngf * S/8 channels (4 x 4),
  BN, ReLU -> log2(S) - 3 times [ConvT 4x4 stride 2 pad 1 halving the channels, BN,
  ReLU] -> ConvT 4x4 stride 2 pad 1 to nc channels -> tanh.
Discriminator D(x, y):
  conv 4x4 stride 2 pad 1 to ndf, LeakyReLU 0.2 -> y replicated over the S/2 x S/2
  positions and concatenated as ny more channels -> log2(S) - 3 times [conv 4x4 stride 2
  pad 1 doubling the channels (the first from ndf + ny inputs), BN, LeakyReLU 0.2] ->
  conv 4x4 (valid) to 1 -> sigmoid: a probability per image, [N].
  Both: conv / transposed-conv kernels ~ N(0, 0.02), biases 0, BN scale ~ N(1, 0.02),
  bias 0 (`weights_init`); every conv has a bias (also those before a BN).
Encoders E_z and E_y (`getEncoder`: "Autoencoding beyond pixels" style):
  n_conv_layers times [conv 5x5 stride 2 pad 2 (nf, 2 nf, 4 nf, ...), BN, ReLU] ->
  flatten in Torch's C, H, W order -> Linear to fc (default: the flattened size) ->
  BN1d -> ReLU -> Linear to the output (nz for E_z, ny for E_y), no output activation.
  Torch7's default initialisation (no `weights_init` in trainEncoder.lua): conv and
  linear weights and biases ~ U(-1/sqrt(fan_in), 1/sqrt(fan_in)), BN scale ~ U(0, 1)
  (Torch7's `BatchNormalization:reset`, not PyTorch's 1), bias 0 (`torch7_default_params`).
The official counts at 64 px, CelebA's 18 attributes: G 3,725,123, D 2,803,393, E_z
(fc 4,096) 18,278,244, E_y (fc 512) 3,186,962 (tests/models/test_icgan.py).
Batch norms are Torch7's (`TorchBatchNorm`: eps 1e-5, momentum 0.1, unbiased running
variance); in training mode every call uses its own batch statistics.
"""

from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from i2ijax.models.layers import Conv, ConvTranspose, TorchBatchNorm, leaky_relu, normal_init

Dtype = Any


def check_image_size(size: int) -> int:
  """The number of middle blocks, log2(size) - 3, of a power-of-2 side >= 8 (the official
  asserts: `fineSize` in 8, 16, ..., 1024); ValueError otherwise."""
  if size < 8 or size & (size - 1):
    raise ValueError(f"IcGAN's image side must be a power of 2 >= 8, got {size}")
  return size.bit_length() - 1 - 3


class Generator(nn.Module):
  """G(z [N, nz], y [N, ny]) -> [N, S, S, nc] in [-1, 1] (see the module docstring)."""

  size: int = 64
  ngf: int = 64
  nc: int = 3
  dtype: Dtype = None
  param_dtype: Dtype = jnp.float32

  @nn.compact
  def __call__(self, z, y, *, train: bool = True):
    n_mid = check_image_size(self.size)
    dt = dict(dtype=self.dtype, param_dtype=self.param_dtype)
    mult = self.size // 8
    h = jnp.concatenate([z, y.astype(z.dtype)], axis=-1)
    h = LatentConvTranspose(self.ngf * mult, 4, name="deconv0", **dt)(h)
    h = nn.relu(TorchBatchNorm(name="bn0", **dt)(h, use_running_average=not train))
    for i in range(1, n_mid + 1):
      mult //= 2
      h = ConvTranspose(self.ngf * mult, 4, stride=2, padding=1, output_padding=0,
                        name=f"deconv{i}", **dt)(h)
      h = nn.relu(TorchBatchNorm(name=f"bn{i}", **dt)(h, use_running_average=not train))
    h = ConvTranspose(self.nc, 4, stride=2, padding=1, output_padding=0,
                      name=f"deconv{n_mid + 1}", **dt)(h)
    return jnp.tanh(h)


class _LatentKernel(nn.Module):
  """The kernel [k, k, out, in] ~ N(0, 0.02) and bias [out] (0) of `LatentConvTranspose`,
  laid out as `ConvTranspose`'s."""

  features: int
  kernel: int
  dtype: Dtype = None
  param_dtype: Dtype = jnp.float32

  @nn.compact
  def __call__(self, v):
    k = self.kernel
    w = self.param("kernel", normal_init(), (k, k, self.features, v.shape[-1]), self.param_dtype)
    b = self.param("bias", nn.initializers.zeros, (self.features,), self.param_dtype)
    v, w, b = nn.dtypes.promote_dtype(v, w, b, dtype=self.dtype)
    return jnp.einsum("nc,yxoc->nyxo", v, w) + b


class LatentConvTranspose(nn.Module):
  """`SpatialFullConvolution(in, out, k, k)` (stride 1, no padding) of a 1 x 1 input, the
  generator's first layer: v [N, in] -> [N, k, k, out], out[n, a, b] = W[a, b] v[n] + bias.
  On a single input pixel every output pixel sees exactly one kernel tap, so it is the
  plain product (the same parameters and values as `ConvTranspose(out, k, stride=1,
  padding=0, output_padding=0)` on [N, 1, 1, in]; tests/models/test_icgan.py)."""

  features: int
  kernel: int
  dtype: Dtype = None
  param_dtype: Dtype = jnp.float32

  @nn.compact
  def __call__(self, v):
    return _LatentKernel(self.features, self.kernel, self.dtype, self.param_dtype,
                         name="conv")(v)


class Discriminator(nn.Module):
  """D(x [N, S, S, nc], y [N, ny]) -> [N] probabilities that (x, y) is a real pair."""

  size: int = 64
  ndf: int = 64
  dtype: Dtype = None
  param_dtype: Dtype = jnp.float32

  @nn.compact
  def __call__(self, x, y, *, train: bool = True):
    n_mid = check_image_size(self.size)
    if x.shape[1] != self.size or x.shape[2] != self.size:
      raise ValueError(f"the discriminator was built for {self.size} px images, got {x.shape}")
    dt = dict(dtype=self.dtype, param_dtype=self.param_dtype)
    h = leaky_relu(Conv(self.ndf, 4, 2, 1, name="conv0", **dt)(x), 0.2)
    n, s = h.shape[0], h.shape[1]
    y_map = jnp.broadcast_to(y.astype(h.dtype)[:, None, None, :], (n, s, s, y.shape[-1]))
    h = jnp.concatenate([h, y_map], axis=-1)
    mult = 1
    for i in range(1, n_mid + 1):
      mult *= 2
      h = Conv(self.ndf * mult, 4, 2, 1, name=f"conv{i}", **dt)(h)
      h = leaky_relu(TorchBatchNorm(name=f"bn{i}", **dt)(h, use_running_average=not train), 0.2)
    h = Conv(1, 4, 1, 0, name=f"conv{n_mid + 1}", **dt)(h)
    return jax.nn.sigmoid(h.reshape(n))


class Encoder(nn.Module):
  """E(x [N, S, S, nc]) -> [N, out_dim] (E_z: out_dim = nz; E_y: out_dim = ny), see the
  module docstring. `fc` 0: the flattened size (the official `FCsz = nil`)."""

  out_dim: int
  nf: int = 32
  n_conv_layers: int = 4
  fc: int = 0
  dtype: Dtype = None
  param_dtype: Dtype = jnp.float32

  @nn.compact
  def __call__(self, x, *, train: bool = True):
    dt = dict(dtype=self.dtype, param_dtype=self.param_dtype)
    h = x
    for i in range(self.n_conv_layers):
      h = Conv(self.nf * 2 ** i, 5, 2, 2, name=f"conv{i}", **dt)(h)
      h = nn.relu(TorchBatchNorm(name=f"bn{i}", **dt)(h, use_running_average=not train))
    n = h.shape[0]
    flat = jnp.transpose(h, (0, 3, 1, 2)).reshape(n, -1)  # Torch's View of C x H x W
    width = self.fc or flat.shape[-1]
    h = nn.Dense(width, name="fc", **dt)(flat)
    h = nn.relu(TorchBatchNorm(name="bn_fc", **dt)(h, use_running_average=not train))
    return nn.Dense(self.out_dim, name="out", **dt)(h)


def encoder_feature_side(size: int, n_conv_layers: int) -> int:
  """The side of the encoders' last conv output, size / 2^n_conv_layers; ValueError when
  the official stride-2 convs do not divide the image side down to at least 1."""
  side = size // 2 ** n_conv_layers
  if side < 1 or side * 2 ** n_conv_layers != size:
    raise ValueError(f"{n_conv_layers} stride-2 convs do not divide a {size} px image evenly "
                     f"(config.model.enc_conv_layers)")
  return side


def torch7_default_params(params: Any, key: jax.Array) -> Any:
  """Re-draws a flax param tree as freshly constructed Torch7 `nn` modules hold it:
  Conv / Linear (`kernel`, `bias`): both ~ U(-b, b), b = 1 / sqrt(fan_in) (fan_in: every
  kernel dim but the last); BatchNormalization (`scale`, `bias`): scale ~ U(0, 1)
  (Torch7's `weight:uniform()`), bias 0."""
  leaves = []

  def walk(node, path):
    node = dict(node)
    if "kernel" in node or "scale" in node:
      leaves.append((path, node))
      return
    for k, v in node.items():
      walk(v, path + (k,))

  walk(params, ())
  keys = iter(jax.random.split(key, 2 * max(1, len(leaves))))
  new = {}
  for path, node in leaves:
    out = {}
    if "kernel" in node:
      b = 1.0 / np.sqrt(int(np.prod(node["kernel"].shape[:-1])))
      for name, value in node.items():
        out[name] = jax.random.uniform(next(keys), value.shape, value.dtype, -b, b)
    else:
      out["scale"] = jax.random.uniform(next(keys), node["scale"].shape, node["scale"].dtype)
      out["bias"] = jnp.zeros_like(node["bias"])
    new[path] = out

  def rebuild(node, path):
    if path in new:
      return new[path]
    return {k: rebuild(v, path + (k,)) for k, v in dict(node).items()}

  return rebuild(params, ())
