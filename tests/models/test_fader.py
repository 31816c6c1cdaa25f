"""Fader Networks' networks: official parameter counts, shapes, the attribute code before
every decoder layer, the latent discriminator's dropout and eval mode."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from i2ijax.models.fader import AutoEncoder, LatentDiscriminator, attribute_code
from i2ijax.models.layers import count_params
from i2ijax.train import fader
from i2ijax.train.loop import jit_once
from tests.helpers import load_config


def shapes(config):
  return jax.eval_shape(lambda: fader.create_state(config, jax.random.key(0),
                                                   fader.image_shapes(config), 10))


@pytest.mark.parametrize("attrs, ae, decoder, lat_dis", [
    # Counted from the official modules (src/model.py, torch): attr "Male" (n_attr 2) and the
    # official default "Smiling,Male" (n_attr 4); the encoder does not see the attributes.
    ("Male", 14_000_512, 7_014_944, 8_655_362),
    ("Male,Smiling", 14_032_352, 7_046_784, 8_656_388),
])
def test_full_size_parameter_counts_equal_the_official(attrs, ae, decoder, lat_dis):
  c = load_config("fader")
  c.model.attrs = attrs
  p = shapes(c).params
  assert count_params(p["ae"]["encoder"]) == 6_985_568
  assert count_params(p["ae"]["decoder"]) == decoder
  assert count_params(p["ae"]) == ae
  assert count_params(p["lat_dis"]) == lat_dis


def test_official_latent_is_512_x_4_x_4_and_the_discriminator_reaches_1_x_1():
  c = load_config("fader")
  nets = fader.build_models(c)
  x = jax.ShapeDtypeStruct((2, 256, 256, 3), jnp.float32)
  code = jax.ShapeDtypeStruct((2, 4), jnp.float32)
  v = shapes(c)
  variables = {"params": v.params["ae"], "batch_stats": v.batch_stats["ae"]}
  z, out = jax.eval_shape(lambda v, a, b: nets["ae"].apply(v, a, b, train=False), variables, x,
                          code)
  assert z.shape == (2, 4, 4, 512) and out.shape == (2, 256, 256, 3)
  # The discriminator's two convs (4 -> 2 -> 1) and its two linear layers.
  assert sorted(v.params["lat_dis"]) == ["conv_0", "conv_1", "norm_0", "norm_1", "proj_0",
                                         "proj_1"]
  assert v.params["lat_dis"]["proj_0"]["kernel"].shape == (512, 512)


def test_attribute_code_is_one_hot_pairs_and_fader_values():
  code = attribute_code(jnp.asarray([[1.0, 0.0, 0.3]]))
  np.testing.assert_allclose(code, [[0, 1, 1, 0, 0.7, 0.3]], atol=1e-7)


def tiny_autoencoder(n_attr=4):
  ae = AutoEncoder(3, 4, 16, 3, n_attr, param_dtype=jnp.float64)
  x = jnp.asarray(np.random.default_rng(0).uniform(-1, 1, (2, 32, 32, 3)))
  variables = jit_once(lambda key: ae.init(key, x, jnp.zeros((2, n_attr)), train=False))(
      jax.random.key(0))
  return ae, x, variables


def test_the_attribute_code_enters_every_decoder_layer():
  """Every transposed conv takes the previous map plus the 2K code channels, and each
  layer on its own makes the output depend on the code: with the code's kernel slices
  zeroed in all layers but layer j, changing the code still changes the output."""
  with jax.enable_x64(True):
    ae, x, variables = tiny_autoencoder()
    dec = variables["params"]["decoder"]
    ins = [dec[f"deconv_{j}"]["conv"]["kernel"].shape[-1] for j in range(3)]
    assert ins == [16 + 4, 8 + 4, 4 + 4]
    y0, y1 = jnp.asarray([[1.0, 0, 1, 0]] * 2), jnp.asarray([[0.0, 1, 0, 1]] * 2)

    def with_code_only_in(layer):
      new = jax.tree_util.tree_map(lambda a: a, variables)
      for j in range(3):
        if j != layer:
          k = new["params"]["decoder"][f"deconv_{j}"]["conv"]["kernel"]
          new["params"]["decoder"][f"deconv_{j}"]["conv"]["kernel"] = k.at[..., -4:].set(0)
      return new

    decode = jax.jit(lambda v, y: ae.apply(v, x, y, train=False)[1])
    for layer in (None, 0, 1, 2):
      v = with_code_only_in(layer)
      a, b = decode(v, y0), decode(v, y1)
      diff = float(jnp.max(jnp.abs(a - b)))
      if layer is None:
        assert diff == 0.0
      else:
        assert diff > 1e-4, layer


def test_latent_discriminator_dropout_in_train_mode_only_and_given_masks():
  with jax.enable_x64(True):
    D = LatentDiscriminator(32, 4, 16, 3, 8, 4, 0.3, param_dtype=jnp.float64)
    z = jnp.asarray(np.random.default_rng(1).normal(size=(4, 4, 4, 16)))
    v = jit_once(lambda key: D.init(key, z, train=False))(jax.random.key(0))
    train = jax.jit(lambda key, masks: D.apply(v, z, train=True, rngs={"dropout": key},
                                               masks=masks, mutable=["batch_stats"])[0])
    run = lambda key, masks=None: train(key, masks)
    a, b = run(jax.random.key(1)), run(jax.random.key(2))
    assert float(jnp.max(jnp.abs(a - b))) > 1e-6  # dropout draws differ
    ones = [jnp.ones((4, 2, 2, 16)), jnp.ones((4, 1, 1, 16))]
    # Given masks replace the draws: the same output whatever the key.
    np.testing.assert_array_equal(run(jax.random.key(1), masks=ones),
                                  run(jax.random.key(2), masks=ones))
    # Dropping every value of the last conv layer leaves the linear layers' biases only.
    dropped = run(jax.random.key(1), masks=[ones[0], jnp.zeros((4, 1, 1, 16))])
    np.testing.assert_allclose(dropped, jnp.broadcast_to(dropped[:1], dropped.shape), atol=1e-12)
    assert float(jnp.max(jnp.abs(dropped - run(jax.random.key(1), masks=ones)))) > 1e-6
    e1 = D.apply(v, z, train=False, rngs={"dropout": jax.random.key(1)})
    e2 = D.apply(v, z, train=False, rngs={"dropout": jax.random.key(2)})
    np.testing.assert_array_equal(e1, e2)  # eval mode: no dropout
