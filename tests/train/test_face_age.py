"""Face-Age cGAN: the configuration (one-hot age groups, no wrong-label term, identity-
preserving optimisation), parameter counts of the paper's IcGAN-layout networks with 6
groups, the embedded level data, one-hot training with resume, and the edit after the
latent optimisation (its objective never rises above E(x)'s and the edit is G(z*, y'))."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from i2ijax import inversion, registry
from i2ijax.data.attributes import (EMBEDDED_ATTRIBUTES, EmbeddedLevels, attribute_source,
                                    render)
from i2ijax.data.images import to_uint8
from i2ijax.models.layers import count_params
from i2ijax.train import face_age, icgan
from tests.helpers import (assert_same_states, load_config, short_run, tiny_face_age_config,
                           train_straight_and_resumed)


def _count(module, *args):
  variables = jax.eval_shape(lambda: module.init(jax.random.key(0), *args, train=False))
  return count_params(variables["params"])


def test_config_is_the_papers_pipeline_and_counts_at_64px():
  c = load_config("face_age")
  m = c.model
  assert icgan.attribute_names(c) == ["0-18", "19-29", "30-39", "40-49", "50-59", "60+"]
  assert (m.label_coding, m.train_wrong_y, m.inversion, m.nz) == ("one_hot", False,
                                                                    "identity", 100)
  assert c.data.source == "class_folders" and c.data.crop_size == 64
  nets = icgan.build_models(c)
  z, y, x = jnp.zeros((2, 100)), jnp.zeros((2, 6)), jnp.zeros((2, 64, 64, 3))
  # IcGAN's networks (tests/models/test_icgan.py) with 6 labels instead of 18: G's first
  # ConvT takes 106 channels (12 fewer, 512 x 4 x 4 weights each), D's second conv 64 + 6
  # (12 fewer, 128 x 4 x 4 each), E_y's last layer 6 outputs of 512 + 1.
  assert _count(nets["G"], z, y) == 3_725_123 - 12 * 512 * 16 == 3_626_819
  assert _count(nets["D"], x, y) == 2_803_393 - 12 * 128 * 16 == 2_778_817
  assert _count(nets["E_z"], x) == 18_278_244
  assert _count(nets["E_y"], x) == 3_186_962 - 12 * 513 == 3_180_806
  q = load_config("face_age", "quickstart")
  assert q.data.source == "embedded_levels" and q.data.levels == 6
  with pytest.raises(ValueError, match="unknown face_age preset"):
    load_config("face_age", "nope")


@pytest.mark.parametrize("key,value,match", [
    ("model.label_coding", "signed", "config.model.label_coding='signed'"),
    ("model.label_coding", "bits", "config.model.label_coding='bits'"),
    ("model.inversion", "pixels", "config.model.inversion='pixels'"),
    ("model.inversion_steps", -1, "config.model.inversion_steps=-1"),
])
def test_bad_config_values_are_named(key, value, match):
  c = tiny_face_age_config()
  section, name = key.split(".")
  c[section][name] = value
  with pytest.raises(ValueError, match=match):
    registry.get("face_age").validate_config(c)
  c = tiny_face_age_config()
  c.model.label_coding = "signed"
  with pytest.raises(ValueError, match="single-label data but config.model.label_coding"):
    icgan.make_examples(c)


def test_embedded_levels_are_one_hot_ordinal_strengths_with_their_truth():
  src = EmbeddedLevels(12, 16, "test", attribute="Faded", levels=6)
  assert src.single_label and src.names == [f"Faded_{p}" for p in (0, 20, 40, 60, 80, 100)]
  labels = np.stack([src.label(i) for i in range(len(src))])
  assert np.all(labels.sum(1) == 1) and set(np.unique(labels)) == {0.0, 1.0}
  eye = np.eye(6)
  faded = EMBEDDED_ATTRIBUTES.index("Faded")
  for i in range(len(src)):
    np.testing.assert_array_equal(src.load(i), src.truth(i, labels[i]))
    np.testing.assert_array_equal(src.truth(i, eye[0]), src.clean(i))
    s = np.zeros(5)
    s[faded] = 0.6
    np.testing.assert_array_equal(src.truth(i, eye[3]), render(src.clean(i), s))
  # Contrast falls with the level (the ordinal "age").
  spread = [np.std(src.truth(0, eye[k]).astype(float)) for k in range(6)]
  assert all(a > b for a, b in zip(spread, spread[1:]))
  c = tiny_face_age_config()
  assert attribute_source(c.data, "train", c.model.attrs).names == icgan.attribute_names(c)
  with pytest.raises(ValueError, match="config.data.levels=1"):
    EmbeddedLevels(4, 16, levels=1)


def test_one_hot_training_resumes_exactly_across_the_stages(tmp_path):
  make = lambda n: short_run(tiny_face_age_config(), n)
  out = train_straight_and_resumed(make, tmp_path, 3, 2)
  c = make(3)
  assert assert_same_states(out["straight"], out["resumed"], c) > 0
  from i2ijax.translate import load_state
  _, state = load_state(out["straight"], c)
  assert int(state.opt_state["E_z"].count) == 1 and int(state.opt_state["G"].count) == 2


def _state(c):
  return icgan.create_state(c, jax.random.key(0), icgan.image_shapes(c), 8)


def test_the_edit_is_g_of_the_optimised_latent_at_the_target_group():
  """Pixelwise optimisation (a cheap objective; the identity one is the next test): the
  edit to group 5 of a source known to be in group 1 is G(z*, one-hot 5), z* = L-BFGS on
  ||x - G(z, group 1)||_2 from E(x)."""
  c = tiny_face_age_config()
  c.model.inversion = "pixel"
  state = _state(c)
  images = np.random.default_rng(0).integers(0, 256, (3, 16, 16, 3), dtype=np.uint8)
  x = jnp.asarray(images[:1], jnp.float32) / 127.5 - 1.0
  y0 = jnp.asarray(np.eye(6, dtype=np.float32)[[1]])
  spec = registry.get("face_age")
  tr = spec.translator(c, registry.TranslateRequest(domain=5))
  p = tr.params(state)
  nets = icgan.build_models(c)

  @jax.jit
  def by_hand(p, x, y0):
    z0, _ = icgan.invert(nets, p, x, "one_hot")
    result = inversion.invert(lambda z, y: icgan.generate(nets, p, z, y),
                              inversion.pixel_distance, x, y0, z0,
                              steps=c.model.inversion_steps)
    return result, icgan.generate(nets, p, result.z, jnp.eye(6, dtype=x.dtype)[jnp.array([5])])

  result, want = by_hand(p, x, y0)
  np.testing.assert_allclose(tr.apply(p, x, labels=y0), want, rtol=1e-5, atol=1e-5)
  # The evaluation's batched pipeline (two images per call, the last call padded) gives
  # every group's edit of each image from one optimisation: the same as the translator's.
  groups = np.eye(6, dtype=np.float32)[[1, 4, 0]]
  every = face_age.invert_and_edit(c, state, images, groups, chunk=2)
  assert every["edits"].shape == (3, 6, 16, 16, 3) and every["edits"].dtype == np.uint8
  for i in range(3):  # batches of one, as the translator was compiled above
    xi = jnp.asarray(images[i:i + 1], jnp.float32) / 127.5 - 1.0
    got = to_uint8(np.asarray(tr.apply(p, xi, labels=jnp.asarray(groups[i:i + 1]))))[0]
    assert np.max(np.abs(every["edits"][i, 5].astype(int) - got.astype(int))) <= 1
  np.testing.assert_array_equal(every["edits"][0, 5], to_uint8(np.asarray(want))[0])
  rec = icgan.generate(nets, p, result.z, y0)  # the reconstruction at the known group
  assert np.max(np.abs(every["optimised"][0].astype(int)
                       - to_uint8(np.asarray(rec))[0].astype(int))) <= 1
  values = np.asarray(result.values[:, 0])
  assert values[-1] < values[0] and np.all(np.diff(values) <= 1e-5 * values[0])
  with pytest.raises(ValueError, match="out of range"):
    spec.translator(c, registry.TranslateRequest(domain=6))
  with pytest.raises(ValueError, match="give one of them"):
    spec.translator(c, registry.TranslateRequest(domain=1, attrs="Faded_0=1"))


def test_identity_preserving_optimisation_lowers_the_identity_distance():
  c = tiny_face_age_config()
  rec = face_age.reconstruction_scores(c, _state(c), "test", limit=2)
  assert rec["images"] == 2
  assert rec["optimised"]["identity_distance"] < rec["encoder"]["identity_distance"]
  assert set(rec["encoder"]) == {"identity_distance", "psnr", "ssim"}
