"""DRIT++ networks: official parameter counts, shapes at the official crop, weight loading.

Forward parity with the official networks is in tests/train/test_drit_parity.py."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from i2ijax.models import drit
from i2ijax.models.layers import count_params


def _init(module, *args):
  return jax.eval_shape(lambda: module.init(jax.random.key(0), *args))


def test_official_counts_and_shapes_at_crop_216():
  x = jnp.zeros((1, 216, 216, 3))
  c = jnp.zeros((1, 54, 54, 256))
  z = jnp.zeros((1, 8))
  counts = {
      "enc_c": count_params(_init(drit.ContentEncoders(), x, x)["params"]),
      "enc_a": count_params(_init(drit.AttributeEncoders(), x, x)["params"]),
      "gen": count_params(_init(drit.Generators(), c, c, z, z)["params"]),
      "dis": count_params(_init(drit.image_discriminator(), x)["params"]),
      "disContent": count_params(_init(drit.ContentDiscriminator(), c)["params"])}
  assert counts == {"enc_c": 9_018_112, "enc_a": 2_688_160, "gen": 9_564_710,
                    "dis": 8_271_171, "disContent": 10_683_649}
  shape = lambda f, v: jax.tree_util.tree_map(lambda a: a.shape, jax.eval_shape(f, v))
  enc = drit.ContentEncoders()
  v = _init(enc, x, x)
  assert shape(lambda v: enc.apply(v, "A", x, None, method="encode"), v) == (1, 54, 54, 256)
  attr = drit.AttributeEncoders()
  va = _init(attr, x, x)
  assert shape(lambda v: attr.apply(v, "B", x, method="encode"), va) == ((1, 8), (1, 8))
  gen = drit.Generators()
  vg = _init(gen, c, c, z, z)
  assert shape(lambda v: gen.apply(v, "A", c, z, method="decode"), vg) == (1, 216, 216, 3)
  dc = drit.ContentDiscriminator()
  vc = _init(dc, c)
  assert shape(lambda v: dc.apply(v, c), vc) == (1,)  # one logit per sample at crop 216
  c256 = jnp.zeros((1, 64, 64, 256))
  assert shape(lambda v: dc.apply(v, c256), vc) == (4,)  # 2 x 2 at crop 256 (the official breaks)
  d = drit.image_discriminator()
  vd = _init(d, x)
  assert shape(lambda v: d.apply(v, x), vd) == [(1, 13, 13, 1), (1, 6, 6, 1), (1, 3, 3, 1)]


def test_generator_tiles_the_attribute_code_before_every_stage():
  gen = drit.Generators(content_dim=8, nz=2)
  c, z = jnp.zeros((1, 4, 4, 8)), jnp.zeros((1, 2))
  p = _init(gen, c, c, z, z)["params"]
  kernels = {k: v["model_1"]["kernel"].shape if "model_1" in v else None
             for k, v in p.items() if k.startswith("decA1")}
  assert all(s == (3, 3, 10, 10) for s in kernels.values())  # 8 + nz
  assert p["decA2_0"]["model_0"]["conv"]["kernel"].shape == (3, 3, 6, 12)  # (10 + 2) -> 6
  assert p["decA3_0"]["model_0"]["conv"]["kernel"].shape == (3, 3, 4, 8)  # (6 + 2) -> 4
  assert p["decA4_0"]["conv"]["kernel"].shape == (1, 1, 3, 6)  # (4 + 2) -> 3
  assert "dec_share_0" in p and "decB1_0" in p  # one shared block, then per domain


def test_variables_from_torch_names_a_key_without_a_place():
  enc = drit.ContentDiscriminator(dim=4, layers=1)
  template = _init(enc, jnp.zeros((1, 12, 12, 4)))["params"]
  sd = {"model.0.model.1.weight": np.zeros((4, 4, 7, 7)), "model.0.model.1.bias": np.zeros(4),
        "model.1.model.1.weight": np.zeros((4, 4, 4, 4)), "model.1.model.1.bias": np.zeros(4),
        "model.2.weight": np.zeros((1, 4, 1, 1)), "model.2.bias": np.zeros(1)}
  out = drit.variables_from_torch(sd, template)
  assert out["model_2"]["kernel"].shape == (1, 1, 4, 1)
  with pytest.raises(ValueError, match=r"official key 'model.9.weight'"):
    drit.variables_from_torch({**sd, "model.9.weight": np.zeros((1, 4, 1, 1))}, template)
  with pytest.raises(ValueError, match=r"fills no value for \['model_2/bias'\]"):
    drit.variables_from_torch({k: v for k, v in sd.items() if k != "model.2.bias"}, template)
