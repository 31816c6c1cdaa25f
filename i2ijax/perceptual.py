"""The VGG16 perceptual loss of MUNIT/UNIT (`compute_vgg_loss` of NVlabs/MUNIT `trainer.py`).

perceptual_loss(params, image, target) = E[(IN(f(image)) - IN(f(target)))^2],
f = VGG16 up to relu5_3 on Caffe-preprocessed images (`vgg_preprocess`), IN a
non-affine instance norm over H, W, the mean over every element; the target's
features carry no gradient. Images are NHWC in [-1, 1], RGB.

The weights are MUNIT's `vgg16.weight` (converted by the official
`load_vgg16` from fast-neural-style's Torch7 `vgg16.t7`), read by
`load_vgg16`; `vgg16_params(key=...)` draws random He-initialised weights
instead (tests, quick experiments; a random VGG is no perceptual metric).
"""

import os
from typing import Any, Callable

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from i2ijax import losses
from i2ijax.metrics.torch_weights import load_torch_state_dict, torch_to_flax_array
from i2ijax.models.layers import Conv2d, kaiming_normal

Dtype = Any

# (name, output channels) of each 3x3 conv (each followed by a ReLU), "pool" for a 2x2 max pool.
VGG16_LAYERS = (("conv1_1", 64), ("conv1_2", 64), "pool", ("conv2_1", 128), ("conv2_2", 128),
                "pool", ("conv3_1", 256), ("conv3_2", 256), ("conv3_3", 256), "pool",
                ("conv4_1", 512), ("conv4_2", 512), ("conv4_3", 512),
                ("conv5_1", 512), ("conv5_2", 512), ("conv5_3", 512))
VGG16_BGR_MEAN = (103.939, 116.779, 123.680)


class Vgg16(nn.Module):
  """MUNIT's `Vgg16`: 3x3 convs (zero padding 1) with ReLU, 2x2 max pools after relu1_2,
  relu2_2 and relu3_3 (none after relu4_3).

  [N, H, W, 3] preprocessed (`vgg_preprocess`) -> relu5_3 [N, H/8, W/8, 512],
  in float32 or wider. Parameters {conv1_1: {kernel [3, 3, in, out], bias
  [out]}, ..., conv5_3: ...}; random kernels are He-normal, biases 0.
  """

  dtype: Dtype = None  # computation dtype; None: that of the inputs and parameters
  param_dtype: Dtype = jnp.float32

  @nn.compact
  def __call__(self, x):
    for layer in VGG16_LAYERS:
      if layer == "pool":
        x = nn.max_pool(x, (2, 2), strides=(2, 2))
        continue
      name, features = layer
      x = nn.relu(Conv2d(features, 3, padding=1, kernel_init=kaiming_normal(), dtype=self.dtype,
                         param_dtype=self.param_dtype, name=name)(x))
    return x.astype(jnp.promote_types(x.dtype, jnp.float32))


def vgg_preprocess(x):
  """MUNIT's `vgg_preprocess`: RGB [-1, 1] -> BGR on the 0..255 scale minus the Caffe mean."""
  bgr = x[..., ::-1]
  return (bgr + 1.0) * 127.5 - jnp.asarray(VGG16_BGR_MEAN, x.dtype)


def load_vgg16(path: str, dtype: Dtype = jnp.float32) -> dict:
  """Vgg16 params from MUNIT's `vgg16.weight` (a PyTorch state_dict with keys `conv1_1.weight`,
  `conv1_1.bias`, ...) or an .npz with the same keys, in `dtype`.

  Kernels [out, in, 3, 3] become [3, 3, in, out]. The official `load_vgg16`
  makes that file from the Torch7 `vgg16.t7` of fast-neural-style; nothing is
  downloaded here.
  """
  if not path or not os.path.exists(path):
    raise FileNotFoundError(
        f"VGG16 weights {path!r} not found (config.model.vgg_model_path): give the "
        "`vgg16.weight` file that the official MUNIT `load_vgg16` writes (a state_dict with "
        "keys conv1_1.weight ... conv5_3.bias), or an .npz with those keys")
  sd = load_torch_state_dict(path)
  params = {}
  for layer in VGG16_LAYERS:
    if layer == "pool":
      continue
    name, features = layer
    for leaf in ("weight", "bias"):
      if f"{name}.{leaf}" not in sd:
        raise ValueError(f"{path}: key {name}.{leaf} is missing (a MUNIT vgg16.weight file "
                         f"has conv1_1 ... conv5_3 weights and biases)")
    w = np.asarray(sd[f"{name}.weight"])
    if w.shape[0] != features or w.shape[2:] != (3, 3):
      raise ValueError(f"{path}: {name}.weight has shape {w.shape}, expected "
                       f"({features}, C, 3, 3)")
    params[name] = {"kernel": jnp.asarray(torch_to_flax_array("weight", w), dtype),
                    "bias": jnp.asarray(np.asarray(sd[f"{name}.bias"]), dtype)}
  return params


def vgg16_params(path: str | None = None, key: jax.Array | None = None,
                 dtype: Dtype = jnp.float32) -> dict:
  """Vgg16 params in `dtype`: those of the weights file `path` (`load_vgg16`), or, with path
  None, a random init from `key` (default key 0): He-normal kernels, zero biases."""
  if path is not None:
    return load_vgg16(path, dtype)
  key = jax.random.key(0) if key is None else key
  return Vgg16(param_dtype=dtype).init(key, jnp.zeros((1, 8, 8, 3), dtype))["params"]


def perceptual_loss(params: dict, image: jax.Array, target: jax.Array) -> jax.Array:
  """E[(IN(vgg(image)) - IN(vgg(target)))^2] (a scalar in float32 or the wider dtype of the
  inputs and params), no gradient through the target.

  image, target [N, H, W, 3] in [-1, 1], sides multiples of 8; both go
  through one VGG call. Gradients reach `image` (and `params`, when taken
  with respect to them).
  """
  feats = Vgg16().apply({"params": params}, vgg_preprocess(jnp.concatenate([image, target])))
  f_image, f_target = jnp.split(feats, 2)
  return losses.instance_normalized_feature_loss(f_image, jax.lax.stop_gradient(f_target))


def make_perceptual_loss(path: str | None = None, key: jax.Array | None = None,
                         dtype: Dtype = jnp.float32) -> Callable[[jax.Array, jax.Array], jax.Array]:
  """`(image, target) -> perceptual_loss(params, image, target)` with fixed params
  `vgg16_params(path, key, dtype)` (the weights file, or a random init when path is None)."""
  params = vgg16_params(path, key, dtype)
  return lambda image, target: perceptual_loss(params, image, target)
