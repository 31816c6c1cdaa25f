"""Building blocks shared by every generator and discriminator.

All modules take NHWC inputs. The initialisers and norm/bias conventions follow
junyanz/pytorch-CycleGAN-and-pix2pix `models/networks.py` (`init_weights`,
`get_norm_layer`), which several later models reuse.
"""

from typing import Any, Callable, Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp

Dtype = Any
NORMS = ("instance", "batch", "none")


def normal_init(std: float = 0.02) -> Callable:
  """N(0, std) kernel initialiser (`init_weights(init_type='normal')`)."""
  return nn.initializers.normal(stddev=std)


def batch_norm_scale_init(std: float = 0.02) -> Callable:
  """BatchNorm gamma ~ N(1, std), as the official `init_weights` sets it."""

  def init(key, shape, dtype=jnp.float32):
    return 1.0 + std * jax.random.normal(key, shape, dtype)

  return init


def check_norm(norm: str) -> str:
  if norm not in NORMS:
    raise ValueError(f"norm must be one of {NORMS}, got {norm!r}")
  return norm


def conv_bias_for(norm: str) -> bool:
  """The official bias rule: a conv followed by a norm has a bias only for IN.

  With BatchNorm the norm's beta replaces the bias; with norm 'none' the
  official code also drops it (`use_bias = norm_layer == InstanceNorm2d`).
  """
  return check_norm(norm) == "instance"


class Norm(nn.Module):
  """The `--norm` choice of the official code.

  instance: InstanceNorm2d(affine=False, track_running_stats=False), eps 1e-5,
    biased variance over H and W per sample and channel.
  batch: BatchNorm2d(affine=True), eps 1e-5, PyTorch momentum 0.1 (flax 0.9);
    batch statistics when `use_running_average` is False.
  none: identity.
  """

  kind: str = "instance"
  dtype: Dtype = None  # computation dtype; None: that of the inputs and parameters
  param_dtype: Dtype = jnp.float32

  @nn.compact
  def __call__(self, x, *, use_running_average: bool = False):
    kind = check_norm(self.kind)
    if kind == "instance":
      return nn.InstanceNorm(
          epsilon=1e-5, use_bias=False, use_scale=False, dtype=self.dtype,
          param_dtype=self.param_dtype)(x)
    if kind == "batch":
      return nn.BatchNorm(
          use_running_average=use_running_average, momentum=0.9, epsilon=1e-5,
          scale_init=batch_norm_scale_init(), dtype=self.dtype,
          param_dtype=self.param_dtype)(x)
    return x


def reflect_pad(x: jax.Array, pad: int) -> jax.Array:
  """`nn.ReflectionPad2d(pad)` on an NHWC tensor."""
  return jnp.pad(x, ((0, 0), (pad, pad), (pad, pad), (0, 0)), mode="reflect")


class Conv(nn.Module):
  """PyTorch-style Conv2d: explicit padding (zero or reflect), then VALID conv.

  Attributes:
    features: output channels.
    kernel: square kernel size.
    stride: stride.
    padding: pixels padded on each side.
    pad_mode: 'zero' or 'reflect'.
    use_bias: whether the conv has a bias.
  """

  features: int
  kernel: int
  stride: int = 1
  padding: int = 0
  pad_mode: str = "zero"
  use_bias: bool = True
  dtype: Dtype = None  # computation dtype; None: that of the inputs and parameters
  param_dtype: Dtype = jnp.float32

  @nn.compact
  def __call__(self, x):
    p = self.padding
    if self.pad_mode == "reflect" and p:
      x, pads = reflect_pad(x, p), "VALID"
    elif self.pad_mode in ("zero", "reflect"):
      pads = ((p, p), (p, p))
    else:
      raise ValueError(f"pad_mode must be 'zero' or 'reflect', got {self.pad_mode!r}")
    return nn.Conv(
        self.features, (self.kernel, self.kernel), strides=(self.stride, self.stride),
        padding=pads, use_bias=self.use_bias, kernel_init=normal_init(),
        dtype=self.dtype, param_dtype=self.param_dtype, name="conv")(x)


class ConvTranspose(nn.Module):
  """PyTorch ConvTranspose2d(kernel, stride, padding, output_padding), NHWC.

  The output side is (H - 1) * stride - 2 * padding + kernel + output_padding.
  This is the gradient of a strided conv: XLA's transposed conv with a
  spatially flipped kernel (`transpose_kernel=True`) and the explicit
  dilated-input padding (kernel - 1 - padding, kernel - 1 - padding +
  output_padding). The kernel is stored [kh, kw, out, in].
  """

  features: int
  kernel: int
  stride: int = 2
  padding: int = 1
  output_padding: int = 1
  use_bias: bool = True
  dtype: Dtype = None  # computation dtype; None: that of the inputs and parameters
  param_dtype: Dtype = jnp.float32

  @nn.compact
  def __call__(self, x):
    lo = self.kernel - 1 - self.padding
    hi = lo + self.output_padding
    return nn.ConvTranspose(
        self.features, (self.kernel, self.kernel), strides=(self.stride, self.stride),
        padding=((lo, hi), (lo, hi)), use_bias=self.use_bias, transpose_kernel=True,
        kernel_init=normal_init(), dtype=self.dtype, param_dtype=self.param_dtype,
        name="conv")(x)


def count_params(tree: Any) -> int:
  """Number of scalars in a pytree of arrays or ShapeDtypeStructs."""
  leaves = jax.tree_util.tree_leaves(tree)
  total = 0
  for leaf in leaves:
    size = 1
    for d in leaf.shape:
      size *= int(d)
    total += size
  return total


def leaky_relu(x, slope: float = 0.2):
  return nn.leaky_relu(x, negative_slope=slope)


