"""Fader Networks (Lample et al., NIPS 2017): the attribute-conditioned autoencoder and the
latent discriminator.

Mirrors `src/model.py` of facebookresearch/FaderNetworks (`build_layers`,
`AutoEncoder`, `LatentDiscriminator`) layer for layer in the same order, so
that the official state_dicts map one to one by creation order. Images are
NHWC in [-1, 1]; widths double from `init_fm` and stop at `max_fm`.

Encoder (img_sz 256, init_fm 32, max_fm 512, n_layers 6): n_layers x [conv
4x4 stride 2 padding 1 (with bias), BatchNorm (not after the first conv),
LeakyReLU 0.2]: 3 -> 32 -> 64 -> ... -> 512 channels, a latent [N, 4, 4,
512] at 256 px (side img_sz / 2**n_layers). 6,985,568 parameters.

Decoder: the mirror image, deepest layer first: n_layers x [the attribute
code tiled over the map and concatenated to it, transposed conv 4x4 stride 2
padding 1 (no bias), then BatchNorm and ReLU, or Tanh after the last]. The
code enters before *every* layer. A binary attribute is 2 one-hot channels
(value v: (1 - v, v); `attribute_code`), so n_attr = 2 K channels for K
attributes. 7,014,944 parameters at n_attr 2 (one attribute), 7,046,784 at
n_attr 4 (the official default "Smiling,Male").

LatentDiscriminator: the encoder's remaining layers down to 1 x 1 (layers
n_layers .. log2(img_sz) - 1 of an encoder built to that depth, each [conv
4x4 stride 2, BatchNorm, LeakyReLU 0.2, Dropout(lat_dis_dropout)]), then
Linear(hid_dim), LeakyReLU 0.2, Linear(n_attr): logits [N, n_attr], one
softmax pair per binary attribute. 8,655,362 parameters at 256 px, n_attr 2
(8,656,388 at n_attr 4).

The official code applies no initialisation of its own (PyTorch's defaults;
`layers.torch_default_params`). Not built here: skip connections (n_skip >
0), the 'upsampling' and 'pixelshuffle' decoders, instance norm, decoder
dropout, and the patch and classifier discriminators (all off by default).
"""

from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp

from i2ijax.models.layers import Conv2d, ConvTranspose, TorchBatchNorm, leaky_relu

Dtype = Any


def widths(init_fm: int, max_fm: int, n: int) -> list[int]:
  """The output channels of n encoder-style layers: min(init_fm * 2**i, max_fm)."""
  return [min(init_fm * 2**i, max_fm) for i in range(n)]


def attribute_code(values, dtype=None):
  """float [N, K] attribute values in [0, 1] -> [N, 2K] code, (1 - v_k, v_k) per attribute.

  For 0/1 labels this is the official one-hot of each binary attribute
  (column 2k: attribute k off, 2k + 1: on); a value between 0 and 1 is the
  fader position of the official interpolation (`interpolate.py`: [1 - alpha,
  alpha]).
  """
  v = jnp.asarray(values, dtype)
  return jnp.stack([1 - v, v], axis=-1).reshape(*v.shape[:-1], 2 * v.shape[-1])


class Encoder(nn.Module):
  """E(x [N, S, S, 3]) -> latent [N, S / 2**n_layers, S / 2**n_layers, min(init_fm
  2**(n_layers - 1), max_fm)]. `train`: batch statistics (running averages updated when
  `batch_stats` is mutable); otherwise the running averages normalise."""

  init_fm: int = 32
  max_fm: int = 512
  n_layers: int = 6
  dtype: Dtype = None
  param_dtype: Dtype = jnp.float32

  @nn.compact
  def __call__(self, x, *, train: bool = True):
    kw = dict(dtype=self.dtype, param_dtype=self.param_dtype)
    h = x
    for i, c in enumerate(widths(self.init_fm, self.max_fm, self.n_layers)):
      h = Conv2d(c, 4, stride=2, padding=1, name=f"conv_{i}", **kw)(h)
      if i > 0:
        h = TorchBatchNorm(name=f"norm_{i}", **kw)(h, use_running_average=not train)
      h = leaky_relu(h, 0.2)
    return h


class Decoder(nn.Module):
  """D(z [N, s, s, C], code [N, n_attr]) -> [N, s 2**n_layers, s 2**n_layers, img_fm] in
  (-1, 1); the code (`attribute_code`) is concatenated before every layer."""

  img_fm: int = 3
  init_fm: int = 32
  max_fm: int = 512
  n_layers: int = 6
  n_attr: int = 2
  dtype: Dtype = None
  param_dtype: Dtype = jnp.float32

  @nn.compact
  def __call__(self, z, code, *, train: bool = True):
    kw = dict(dtype=self.dtype, param_dtype=self.param_dtype)
    if code.shape[-1] != self.n_attr:
      raise ValueError(f"the decoder takes an attribute code of {self.n_attr} values, got "
                       f"{code.shape}")
    outs = [self.img_fm] + widths(self.init_fm, self.max_fm, self.n_layers)[:-1]
    h = z
    # Official dec_layers[j] is the mirror of encoder layer i = n_layers - 1 - j.
    for j in range(self.n_layers):
      i = self.n_layers - 1 - j
      n, s = h.shape[0], h.shape[1]
      tiled = jnp.broadcast_to(code.astype(h.dtype)[:, None, None, :], (n, s, s, self.n_attr))
      h = jnp.concatenate([h, tiled], axis=-1)
      h = ConvTranspose(outs[i], 4, stride=2, padding=1, output_padding=0, use_bias=False,
                        name=f"deconv_{j}", **kw)(h)
      if i > 0:
        h = nn.relu(TorchBatchNorm(name=f"norm_{j}", **kw)(h, use_running_average=not train))
      else:
        h = jnp.tanh(h.astype(jnp.promote_types(h.dtype, jnp.float32)))
    return h


class AutoEncoder(nn.Module):
  """The Fader autoencoder: `encode(x)`, `decode(z, code)`, and `__call__(x, code) -> (z,
  reconstruction)`; parameters under "encoder" and "decoder"."""

  img_fm: int = 3
  init_fm: int = 32
  max_fm: int = 512
  n_layers: int = 6
  n_attr: int = 2
  dtype: Dtype = None
  param_dtype: Dtype = jnp.float32

  def setup(self):
    kw = dict(dtype=self.dtype, param_dtype=self.param_dtype)
    self.encoder = Encoder(self.init_fm, self.max_fm, self.n_layers, **kw)
    self.decoder = Decoder(self.img_fm, self.init_fm, self.max_fm, self.n_layers, self.n_attr,
                           **kw)

  def encode(self, x, *, train: bool = True):
    return self.encoder(x, train=train)

  def decode(self, z, code, *, train: bool = True):
    return self.decoder(z, code, train=train)

  def __call__(self, x, code, *, train: bool = True):
    z = self.encode(x, train=train)
    return z, self.decode(z, code, train=train)


class LatentDiscriminator(nn.Module):
  """D_lat(z [N, img_sz / 2**n_layers, same, C]) -> logits [N, n_attr].

  `train`: batch statistics (running averages updated when mutable) and
  dropout, whose keep masks come from `masks` (a list of 0/1 arrays shaped
  as each conv layer's output; dropped values are 0, kept ones scaled by 1 /
  (1 - p)) or else from the "dropout" rng. Eval mode (`train=False`, the
  official `lat_dis.eval()` of the autoencoder step): running averages, no
  dropout.
  """

  img_sz: int = 256
  init_fm: int = 32
  max_fm: int = 512
  n_layers: int = 6
  hid_dim: int = 512
  n_attr: int = 2
  dropout: float = 0.3
  dtype: Dtype = None
  param_dtype: Dtype = jnp.float32

  def num_conv_layers(self) -> int:
    return self.img_sz.bit_length() - 1 - self.n_layers

  @nn.compact
  def __call__(self, z, *, train: bool = True, masks=None):
    kw = dict(dtype=self.dtype, param_dtype=self.param_dtype)
    total = self.img_sz.bit_length() - 1  # log2(img_sz) layers reach 1 x 1
    chans = widths(self.init_fm, self.max_fm, total)
    if z.shape[1] != self.img_sz // 2**self.n_layers or z.shape[-1] != chans[self.n_layers - 1]:
      raise ValueError(f"the latent discriminator takes latents [N, {self.img_sz // 2**self.n_layers}"
                       f", same, {chans[self.n_layers - 1]}], got {z.shape}")
    h = z
    for k, i in enumerate(range(self.n_layers, total)):
      h = Conv2d(chans[i], 4, stride=2, padding=1, name=f"conv_{k}", **kw)(h)
      h = TorchBatchNorm(name=f"norm_{k}", **kw)(h, use_running_average=not train)
      h = leaky_relu(h, 0.2)
      if train and self.dropout > 0:
        if masks is not None:
          keep = masks[k].astype(h.dtype)
        else:
          keep = jax.random.bernoulli(self.make_rng("dropout"), 1.0 - self.dropout,
                                      h.shape).astype(h.dtype)
        h = h * keep / (1.0 - self.dropout)
    h = h.reshape(h.shape[0], -1)
    h = leaky_relu(nn.Dense(self.hid_dim, name="proj_0", **kw)(h), 0.2)
    out = nn.Dense(self.n_attr, name="proj_1", **kw)(h)
    return out.astype(jnp.promote_types(out.dtype, jnp.float32))


def autoencoder_torch_layers(n_layers: int) -> dict:
  """{our layer path: official module prefix} of `AutoEncoder`: enc_layers.<i> = [conv,
  BatchNorm (i > 0), LeakyReLU]; dec_layers.<j> = [convT, BatchNorm, ReLU] (Tanh for the
  last, without a norm)."""
  layers = {}
  for i in range(n_layers):
    layers[("encoder", f"conv_{i}")] = f"enc_layers.{i}.0"
    if i > 0:
      layers[("encoder", f"norm_{i}")] = f"enc_layers.{i}.1"
  for j in range(n_layers):
    layers[("decoder", f"deconv_{j}")] = f"dec_layers.{j}.0"
    if j < n_layers - 1:
      layers[("decoder", f"norm_{j}")] = f"dec_layers.{j}.1"
  return layers


def latent_discriminator_torch_layers(num_conv: int) -> dict:
  """{our layer path: official module prefix} of `LatentDiscriminator`: conv_layers.<k> =
  [conv, BatchNorm, LeakyReLU, Dropout]; proj_layers = [Linear, LeakyReLU, Linear]."""
  layers = {}
  for k in range(num_conv):
    layers[(f"conv_{k}",)] = f"conv_layers.{k}.0"
    layers[(f"norm_{k}",)] = f"conv_layers.{k}.1"
  layers[("proj_0",)] = "proj_layers.0"
  layers[("proj_1",)] = "proj_layers.2"
  return layers
