"""Architecture facts of the ResNet generator and the Patch/Pixel discriminators.

Parameter counts are the official junyanz/pytorch-CycleGAN-and-pix2pix ones
(`print_networks`), computed with `jax.eval_shape` so no weights are made.
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from i2ijax.models.layers import count_params
from i2ijax.models.resnet import make_discriminator, make_generator
from i2ijax.models.unet import UnetGenerator


def _shape_params(model, shape):
  x = jax.ShapeDtypeStruct(shape, jnp.float32)
  variables = jax.eval_shape(lambda k, x: model.init(k, x), jax.random.key(0), x)
  return count_params(variables["params"]), variables


@pytest.mark.parametrize("name,norm,expected", [
    ("resnet_9blocks", "instance", 11_378_179),
    ("resnet_9blocks", "batch", 11_383_427),
    ("resnet_6blocks", "instance", 7_837_699),
    ("resnet_6blocks", "batch", 7_841_411),
])
def test_generator_param_count(name, norm, expected):
  n, _ = _shape_params(make_generator(name, norm=norm), (1, 256, 256, 3))
  assert n == expected


@pytest.mark.parametrize("name,norm,in_ch,expected", [
    ("basic", "instance", 3, 2_764_737),
    ("basic", "instance", 6, 2_767_809),
    ("basic", "batch", 3, 2_765_633),
    ("basic", "batch", 6, 2_768_705),
    ("pixel", "instance", 3, 8_705),
    ("pixel", "instance", 6, 8_897),
    ("pixel", "batch", 3, 8_832),
    ("pixel", "batch", 6, 9_024),
])
def test_discriminator_param_count(name, norm, in_ch, expected):
  n, _ = _shape_params(make_discriminator(name, norm=norm), (1, 256, 256, in_ch))
  assert n == expected


def test_output_shapes():
  g = make_generator("resnet_9blocks")
  out = jax.eval_shape(lambda x: g.init_with_output(jax.random.key(0), x)[0],
                       jax.ShapeDtypeStruct((2, 36, 44, 3), jnp.float32))
  assert out.shape == (2, 36, 44, 3)
  d = make_discriminator("basic")
  out = jax.eval_shape(lambda x: d.init_with_output(jax.random.key(0), x)[0],
                       jax.ShapeDtypeStruct((1, 256, 256, 3), jnp.float32))
  assert out.shape == (1, 30, 30, 1)  # 70x70 receptive field, as in the paper


def test_generator_output_range_and_grad():
  g = make_generator("resnet_6blocks", ngf=4)
  x = jax.random.uniform(jax.random.key(1), (1, 16, 20, 3), minval=-1, maxval=1)
  params = g.init(jax.random.key(0), x)
  y = g.apply(params, x)
  assert y.shape == x.shape and float(jnp.abs(y).max()) <= 1.0
  grads = jax.grad(lambda p: g.apply(p, x).sum())(params)
  assert all(bool(jnp.isfinite(l).all()) for l in jax.tree_util.tree_leaves(grads))


def test_bad_names_raise():
  with pytest.raises(ValueError, match="unknown generator 'unet_9'"):
    make_generator("unet_9")
  with pytest.raises(ValueError, match="unknown discriminator"):
    make_discriminator("patch")
  with pytest.raises(ValueError, match="norm must be one of"):
    make_generator("resnet_6blocks", norm="group").init(
        jax.random.key(0), jnp.zeros((1, 8, 8, 3)))


@pytest.mark.parametrize("netG", ["resnet_6blocks", "unet_32"])
def test_remat_keeps_parameters_outputs_and_gradients_and_saves_memory(netG):
  x = jax.random.uniform(jax.random.key(0), (2, 32, 32, 3), minval=-1, maxval=1)
  if netG == "unet_32":  # the U-Net of unet_256 with 5 levels, for 32 px inputs
    plain, remat = (UnetGenerator(num_downs=5, ngf=4, use_dropout=True, remat=r) for r in (False, True))
  else:
    plain, remat = (make_generator(netG, ngf=4, use_dropout=True, remat=r) for r in (False, True))
  keys = {"params": jax.random.key(1), "dropout": jax.random.key(2)}
  v = plain.init(keys, x)
  v_remat = remat.init(keys, x)
  assert jax.tree_util.tree_structure(v) == jax.tree_util.tree_structure(v_remat)
  params = v.pop("params")

  def loss(module, params):
    y, _ = module.apply({"params": params, **v}, x, rngs={"dropout": jax.random.key(3)},
                        mutable=["batch_stats"])
    return jnp.mean(y**2)

  l1, g1 = jax.jit(jax.value_and_grad(lambda p: loss(plain, p)))(params)
  l2, g2 = jax.jit(jax.value_and_grad(lambda p: loss(remat, p)))(params)
  assert float(l1) == pytest.approx(float(l2), rel=1e-6)
  for a, b in zip(jax.tree_util.tree_leaves(g1), jax.tree_util.tree_leaves(g2)):
    np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-7)
  # Activations the forward pass keeps for the backward pass: the VJP's residuals but the parameters.
  kept = lambda m: sum(r.size for r in jax.tree_util.tree_leaves(
      jax.eval_shape(lambda p: jax.vjp(lambda q: loss(m, q), p)[1], params))) - count_params(params)
  assert kept(remat) < 0.7 * kept(plain)


def test_resize_conv_upsampling_keeps_the_parameter_count_and_has_no_checkerboard():
  """`upsample="resize_conv"` (nearest x2 + conv3) has the transposed convolution's parameter
  sizes, so the count is the official one; a constant feature map stays constant through
  it away from the border (a stride-2 transposed conv gives a periodic pattern instead)."""
  x = jnp.zeros((1, 32, 32, 3))
  trees = {}
  for mode in ("transpose", "resize_conv"):
    g = make_generator("resnet_6blocks", ngf=8, upsample=mode)
    trees[mode] = jax.eval_shape(g.init, jax.random.key(0), x)
  assert count_params(trees["transpose"]) == count_params(trees["resize_conv"])
  shapes = {mode: sorted(a.size for a in jax.tree.leaves(t)) for mode, t in trees.items()}
  assert shapes["transpose"] == shapes["resize_conv"]
  from i2ijax.models.layers import Conv, ConvTranspose, upsample_nearest
  h = jnp.ones((1, 8, 8, 4))
  up = {"transpose": ConvTranspose(4, 3, stride=2, padding=1, output_padding=1),
        "resize_conv": Conv(4, 3, padding=1)}
  out = {}
  for mode, layer in up.items():
    inputs = h if mode == "transpose" else upsample_nearest(h)
    params = layer.init(jax.random.key(1), inputs)
    out[mode] = np.asarray(layer.apply(params, inputs))[0, 2:-2, 2:-2]
  assert np.ptp(out["resize_conv"], axis=(0, 1)).max() < 1e-5
  assert np.ptp(out["transpose"], axis=(0, 1)).max() > 1e-2
  with pytest.raises(ValueError, match="upsample='resize_conv' needs a ResNet generator"):
    make_generator("unet_128", upsample="resize_conv")
  with pytest.raises(ValueError, match="unknown upsample 'bilinear'"):
    make_generator("resnet_6blocks", upsample="bilinear")
