"""U-Net generator of pix2pix (Isola et al. 2017), as the official `UnetGenerator`.

Mirrors `UnetGenerator` / `UnetSkipConnectionBlock` of
junyanz/pytorch-CycleGAN-and-pix2pix `models/networks.py`, unrolled: level i
(0 = outermost) maps outer_i channels to inner_i with a 4x4 stride-2 conv and
back with a 4x4 stride-2 transposed conv, and every level but the outermost
returns concat([its input, its output]) (the skip connection).
- outermost: conv -> [inner levels] -> ReLU, convT (always with bias) -> tanh;
- innermost: LeakyReLU(0.2), conv -> ReLU, convT, norm (no norm after its conv);
- others: LeakyReLU(0.2), conv, norm -> [inner levels] -> ReLU, convT, norm,
  then dropout 0.5 in the num_downs - 5 levels just outside the innermost.
Channels: (outer, inner) = (out_nc, ngf), (ngf, 2ngf), (2ngf, 4ngf),
(4ngf, 8ngf), then (8ngf, 8ngf) down to the innermost. Convs before a norm
have a bias only for instance norm (the official rule, which also covers the
outermost conv). num_downs 8 takes
256x256 inputs down to 1x1 (`unet_256`); num_downs 7 is `unet_128`.
"""

from typing import Any

import flax.linen as nn
import jax.numpy as jnp

from i2ijax.models.layers import Conv, ConvTranspose, Norm, conv_bias_for, leaky_relu

Dtype = Any


def unet_channels(output_nc: int, ngf: int, num_downs: int) -> list[tuple[int, int]]:
  """(outer, inner) channels of each level, outermost first."""
  if num_downs < 5:
    raise ValueError(f"num_downs must be >= 5, got {num_downs}")
  levels = [(output_nc, ngf), (ngf, 2 * ngf), (2 * ngf, 4 * ngf), (4 * ngf, 8 * ngf)]
  return levels + [(8 * ngf, 8 * ngf)] * (num_downs - 4)


class UnetGenerator(nn.Module):
  """[N, H, W, input_nc] in [-1, 1] -> [N, H, W, output_nc] in [-1, 1]; H, W multiples of 2^num_downs."""

  output_nc: int = 3
  num_downs: int = 8
  ngf: int = 64
  norm: str = "batch"
  use_dropout: bool = False
  dtype: Dtype = None  # computation dtype; None: that of the inputs and parameters
  param_dtype: Dtype = jnp.float32
  remat: bool = False  # recompute each level's conv/norm activations in the backward pass

  @nn.compact
  def __call__(self, x, *, train: bool = True):
    levels = unet_channels(self.output_nc, self.ngf, self.num_downs)
    last = len(levels) - 1
    bias = conv_bias_for(self.norm)
    kw = dict(dtype=self.dtype, param_dtype=self.param_dtype)

    def down(mdl, h, i):
      """Level i's way down: [LeakyReLU], 4x4 stride-2 conv, [norm]."""
      if i > 0:
        h = leaky_relu(h)
      h = Conv(levels[i][1], 4, stride=2, padding=1, use_bias=bias, parent=mdl, **kw)(h)
      return Norm(self.norm, parent=mdl, **kw)(h, use_running_average=not train) if 0 < i < last else h

    def up(mdl, h, i):
      """Level i's way up: ReLU, 4x4 stride-2 transposed conv, [norm, dropout]."""
      h = ConvTranspose(levels[i][0], 4, stride=2, padding=1, output_padding=0,
                        use_bias=bias if i > 0 else True, parent=mdl, **kw)(nn.relu(h))
      if i == 0:
        return h
      h = Norm(self.norm, parent=mdl, **kw)(h, use_running_average=not train)
      if self.use_dropout and last - (self.num_downs - 5) <= i < last:
        h = nn.Dropout(0.5, deterministic=not train, parent=mdl)(h)
      return h

    if self.remat:  # each level's input is kept; its conv and norm outputs are recomputed
      down = nn.remat(down, static_argnums=(2,))
      up = nn.remat(up, static_argnums=(2,))
    skips = []
    for i in range(len(levels)):  # encoder
      skips.append(x)
      x = down(self, x, i)
    for i in range(last, -1, -1):  # decoder, innermost first
      x = up(self, x, i)
      if i == 0:
        return jnp.tanh(x.astype(jnp.promote_types(x.dtype, jnp.float32)))
      x = jnp.concatenate([skips[i], x], axis=-1)


def unet_torch_layers(num_downs: int) -> dict:
  """{our layer path: official module prefix} of `UnetGenerator`, in the official order.

  The official generator nests one `UnetSkipConnectionBlock` per level, each an
  `nn.Sequential` named `model` whose index 1 (outermost) or 3 (the others)
  holds the next level: outermost [conv, next, ReLU, convT, tanh], middle
  [LReLU, conv, norm, next, ReLU, convT, norm, (dropout)], innermost [LReLU,
  conv, ReLU, convT, norm]. Here the convs are `Conv_<level>`, the transposed
  convs `ConvTranspose_<last - level>` and the norms numbered in creation
  order (the way down, then the way up from the innermost level).
  """
  last = num_downs - 1
  prefix = ["model.model"]
  for i in range(1, num_downs):
    prefix.append(prefix[-1] + (".1.model" if i == 1 else ".3.model"))
  down, up = [], [[] for _ in range(num_downs)]  # up[i]: level i's way up
  for i in range(num_downs):
    p = prefix[i]
    if i == 0:
      down.append((("Conv_0",), f"{p}.0"))
      up[0].append(((f"ConvTranspose_{last}",), f"{p}.3"))
      continue
    down.append(((f"Conv_{i}",), f"{p}.1"))
    convt, norm = (f"ConvTranspose_{last - i}",), (f"Norm_{2 * last - 1 - i}",)
    if i < last:
      down.append(((f"Norm_{i - 1}",), f"{p}.2"))
      up[i] += [(convt, f"{p}.5"), (norm, f"{p}.6")]
    else:
      up[i] += [(convt, f"{p}.3"), (norm, f"{p}.4")]
  # The official order: every level's way down, then the way up from the innermost level.
  return dict(down + [item for i in range(last, -1, -1) for item in up[i]])
