"""DiscoGAN: official counts, losses on hand-computed inputs, the update schedule, the
curriculum, the [0, 1] data range, the loop with resume and translate.

Step parity with the official script is tests/train/test_discogan_parity.py.
"""

import math
import os

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from PIL import Image

from i2ijax import losses
from i2ijax.models.layers import count_params
from i2ijax.train import discogan
from i2ijax.translate import translate_images
from tests.helpers import (assert_same_states, lean_jit, load_config, short_run,
                           tiny_discogan_config, train_straight_and_resumed)


def test_official_parameter_counts_at_64_px():
  # SKTBrain/DiscoGAN model.py (Generator(extra_layers=False), Discriminator()), counted
  # from the official modules with torch: no conv has a bias; BatchNorm2d has 2 per channel.
  nets = discogan.build_models(load_config("discogan"))
  x = jnp.zeros((1, 64, 64, 3))
  counts = {}
  for name in ("G_A", "D_A"):
    variables = jax.eval_shape(lambda n=name: nets[n].init(jax.random.key(0), x))
    counts[name] = count_params(variables["params"])
    assert not [p for p in jax.tree_util.tree_flatten_with_path(variables["params"])[0]
                if "Conv" in jax.tree_util.keystr(p[0]) and p[0][-1].key == "bias"]
  g = 3 * 64 * 16 + 64 * 128 * 16 + 128 * 256 * 16 + 256 * 512 * 16  # encoder convs
  g += 512 * 256 * 16 + 256 * 128 * 16 + 128 * 64 * 16 + 64 * 3 * 16  # decoder transposed
  g += 2 * (128 + 256 + 512) + 2 * (256 + 128 + 64)  # batch norms
  d = 3 * 64 * 16 + 64 * 128 * 16 + 128 * 256 * 16 + 256 * 512 * 16 + 512 * 16
  d += 2 * (128 + 256 + 512)
  assert counts == {"G_A": g, "D_A": d} == {"G_A": 5_513_856, "D_A": 2_765_568}


def test_clamped_bce_is_bceloss_on_probabilities():
  logits = jnp.array([0.0, 2.0, -3.0])
  p = 1 / (1 + np.exp(-np.array([0.0, 2.0, -3.0])))
  want_real = -np.mean(np.log(p))
  want_fake = -np.mean(np.log(1 - p))
  assert float(losses.clamped_bce_with_logits(logits, 1.0)) == pytest.approx(want_real, rel=1e-6)
  assert float(losses.clamped_bce_with_logits(logits, 0.0)) == pytest.approx(want_fake, rel=1e-6)
  # A saturated sigmoid: BCELoss clamps each log at -100, so the loss is 100, not 250.
  assert float(losses.clamped_bce_with_logits(jnp.array([-250.0]), 1.0)) == pytest.approx(100.0)
  assert float(losses.clamped_bce_with_logits(jnp.array([250.0]), 0.0)) == pytest.approx(100.0)


def test_feature_matching_is_the_squared_difference_of_batch_means_summed_over_layers():
  # Layer 1: real batch means (2, 4), fake (0, 1) -> mean of (4, 9) = 6.5.
  real1 = jnp.array([[1.0, 3.0], [3.0, 5.0]]).reshape(2, 1, 1, 2)
  fake1 = jnp.array([[0.0, 2.0], [0.0, 0.0]]).reshape(2, 1, 1, 2)
  # Layer 2: one channel, two positions: real means (1, 1), fake (1, 3) -> mean of (0, 4) = 2.
  real2 = jnp.ones((2, 1, 2, 1))
  fake2 = jnp.array([[1.0, 2.0], [1.0, 4.0]]).reshape(2, 1, 2, 1)
  assert float(losses.feature_matching_loss([real1, real2], [fake1, fake2])) == 8.5
  assert float(losses.feature_matching_loss([real1], [real1])) == 0.0


def test_update_schedule_and_curriculum_are_the_officials():
  c = load_config("discogan")
  # iters % update_interval == 0: discriminators; the other two of three: generators.
  assert [discogan.step_phase(c, t) for t in range(7)] == ["D", "G", "G", "D", "G", "G", "D"]
  rate = lambda t: float(discogan.reconstruction_rate(jnp.asarray(t), c.model))
  assert (rate(0), rate(9_999), rate(10_000), rate(50_000)) == pytest.approx((0.01, 0.01, 0.5, 0.5))
  for key, value, match in (("model.update_interval", 1, "update_interval=1 must be >= 2"),
                            ("model.model_arch", "cyclegan", "model_arch='cyclegan' is not one"),
                            ("data.crop_size", 32, "crop_size=32 must be a multiple of 16 and at "
                                                   "least 64")):
    bad = load_config("discogan")
    section, name = key.split(".")
    bad[section][name] = value
    with pytest.raises(ValueError, match=match):
      discogan.validate_config(bad)


def _batch(seed=0, n=2):
  ka, kb = jax.random.split(jax.random.key(seed))
  return {k: jax.random.uniform(kk, (n, 64, 64, 3), minval=-1, maxval=1)
          for k, kk in (("A", ka), ("B", kb))}


@pytest.mark.slow
def test_discriminator_iteration_moves_only_the_discriminators_and_every_running_average():
  c = tiny_discogan_config()
  state = discogan.create_state(c, jax.random.key(0), discogan.image_shapes(c), 8)
  step = lean_jit(discogan.make_train_step(c, 8), static_argnames="phase")
  new, m = step(state, _batch(), jax.random.key(0), phase="D")
  changed = lambda a, b: any(not np.array_equal(x, y) for x, y in
                             zip(jax.tree_util.tree_leaves(a), jax.tree_util.tree_leaves(b)))
  for net in discogan.GENERATORS:
    assert not changed(state.params[net], new.params[net]), net
  for net in discogan.DISCRIMINATORS:
    assert changed(state.params[net], new.params[net]), net
  for net in discogan.GENERATORS + discogan.DISCRIMINATORS:  # all forwards run in train mode
    assert changed(state.batch_stats[net], new.batch_stats[net]), net
  # The data reach the networks in [0, 1]: recon_loss_A is MSE(ABA, A) on (x + 1) / 2.
  nets = discogan.build_models(c)
  g = lambda n, x: nets[n].apply({"params": state.params[n], "batch_stats": state.batch_stats[n]},
                                 x, train=True, mutable=["batch_stats"])[0]
  a = (_batch()["A"] + 1) / 2
  aba = g("G_A", g("G_B", a))
  assert float(m["recon_loss_A"]) == pytest.approx(float(jnp.mean((aba - a) ** 2)), rel=1e-5)
  assert 0 < float(aba.min()) and float(aba.max()) < 1  # sigmoid outputs
  total = (0.1 * m["gen_loss_B"] + 0.9 * m["fm_loss_B"]) * 0.99 + 0.01 * m["recon_loss_A"]
  total += (0.1 * m["gen_loss_A"] + 0.9 * m["fm_loss_A"]) * 0.99 + 0.01 * m["recon_loss_B"]
  assert float(m["G_total"]) == pytest.approx(float(total), rel=1e-6)
  assert float(m["D_total"]) == pytest.approx(float(m["dis_loss_A"] + m["dis_loss_B"]), rel=1e-6)
  new2, _ = step(new, _batch(1), jax.random.key(0), phase="G")
  for net in discogan.DISCRIMINATORS:
    assert not changed(new.params[net], new2.params[net]), net
  for net in discogan.GENERATORS:
    assert changed(new.params[net], new2.params[net]), net


def _loop_config(steps):
  return short_run(tiny_discogan_config(), steps)


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
  return train_straight_and_resumed(_loop_config, tmp_path_factory.mktemp("discogan"), 4, 2)


@pytest.mark.slow
def test_resumed_run_equals_uninterrupted_run(runs):
  assert runs["first_half"] == ["2"]
  assert assert_same_states(runs["straight"], runs["resumed"], _loop_config(4), atol=0) > 30
  assert {"gen_loss_A", "dis_loss_B", "fm_loss_A", "recon_loss_B"} <= set(runs["metrics"])


@pytest.mark.slow
def test_translate_maps_through_the_unit_range(runs, tmp_path):
  Image.fromarray(np.full((40, 56, 3), 90, np.uint8)).save(tmp_path / "x.png")
  for direction in ("AtoB", "BtoA"):
    (out,) = translate_images(runs["straight"], str(tmp_path / "x.png"),
                              str(tmp_path / direction), direction)
    assert Image.open(out).size == (56, 40)
  samples = sorted(os.listdir(os.path.join(runs["straight"], "samples")))
  assert samples and all(math.isfinite(float(v)) for v in runs["metrics"].values())
