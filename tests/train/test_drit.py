"""DRIT++: presets, the official update schedule, the halves of a batch, loop, resume, translate.

The update itself (order, losses, two E_c/G steps, content-D clipping and rate) is checked
against the official code in tests/train/test_drit_parity.py."""

import os

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from PIL import Image

from i2ijax.train import drit
from i2ijax.train.loop import jit_once
from tests.helpers import (assert_same_states, check_random_reference_and_interpolated_styles,
                           grid_body, lean_jit, load_config, short_run, tiny_drit_config,
                           train_straight_and_resumed)


def test_presets_and_bad_values_are_named():
  c = load_config("drit")
  assert (c.batch_size, c.data.load_size, c.data.crop_size, c.model.d_iter, c.model.nz) == (
      2, 256, 216, 3, 8)
  drit.validate_config(c)
  q = load_config("drit", "quickstart")
  drit.validate_config(q)
  with pytest.raises(ValueError, match="unknown drit preset"):
    load_config("drit", "cat2dog")
  c = load_config("drit")
  c.batch_size = 3
  with pytest.raises(ValueError, match=r"config.batch_size=3 must be even"):
    drit.validate_config(c)
  c = load_config("drit")
  c.data.crop_size = 200
  with pytest.raises(ValueError, match=r"config.data.crop_size=200 is too small for "
                                       r"config.model.content_d_layers=3.*53 px"):
    drit.validate_config(c)
  c = load_config("drit", "quickstart")
  c.model.dis_layers = 5
  with pytest.raises(ValueError, match=r"crop_size >= 128 is needed"):
    drit.validate_config(c)
  c = load_config("drit")
  c.model.lambda_latent = -1.0
  with pytest.raises(ValueError, match=r"config.model.lambda_latent=-1.0 must be >= 0"):
    drit.validate_config(c)


def test_full_updates_follow_the_official_loop():
  c = load_config("drit")  # d_iter 3, batch 2
  phases = lambda size, n: "".join("F" if drit.full_update(c, t, size) else "C" for t in range(n))
  # 4 batches per epoch: C C F, and the last two of every epoch are full updates.
  assert phases(8, 8) == "CCFFCCFF"
  # 20 images: 10 batches; (it + 1) % 3 == 0 at it 2, 5, 8, and it 8, 9 are the last two.
  assert phases(20, 10) == "CCFCCFCCFF"
  # 9 images: the loader has 5 batches, the last (one image) is skipped; 4 run per epoch.
  assert phases(9, 8) == "CCFFCCFF"
  traced = [bool(drit.full_update_traced(c, jnp.int32(t), 20)) for t in range(10)]
  assert traced == [p == "F" for p in phases(20, 10)]


def test_the_official_rate_is_constant_then_linear_per_epoch():
  from i2ijax.train.common import learning_rate_schedule
  c = load_config("drit")  # 600 + 600 epochs
  sched = learning_rate_schedule(c, 10)  # 5 batches per epoch
  # LambdaLR: 1 - max(0, ep - 600) / 601 during epoch ep.
  for epoch in (0, 599, 600, 601, 900, 1199):
    want = 1e-4 * (1 - max(0, epoch - 600) / 601)
    assert float(sched(5 * epoch + 4)) == pytest.approx(want, rel=1e-6)


def test_without_mode_seeking_no_second_random_attribute_and_the_traced_step():
  """`--no_ms` (model.mode_seeking False): three translations per domain, no lz terms (traced
  only: jax.eval_shape compiles nothing)."""
  c = tiny_drit_config()
  c.model.mode_seeking = False
  shapes = drit.image_shapes(c)
  state = jax.eval_shape(lambda k: drit.create_state(c, k, shapes, 8), jax.random.key(0))
  batch = {d: jax.ShapeDtypeStruct((2, 32, 32, 3), jnp.float32) for d in "AB"}
  step = drit.make_train_step(c, 8)
  _, metrics = jax.eval_shape(lambda s, b: step(s, b, jax.random.key(0), phase=True), state, batch)
  assert "lz_AB" not in metrics and "lz_BA" not in metrics
  assert {"gan2_loss_a", "l1_recon_z_b", "G_loss", "disB2"} <= set(metrics)
  c.model.mode_seeking = True
  full = jax.eval_shape(lambda s, b: drit.make_train_step(c, 8)(
      s, b, jax.random.key(0), phase=True), state, batch)
  assert {"lz_AB", "lz_BA"} <= set(full[1])
  # Without `phase` the step traces both updates under lax.cond: the full update's state and
  # metrics (zeros for the terms a content-only batch skips).
  traced = jax.eval_shape(lambda s, b: drit.make_train_step(c, 8)(s, b, jax.random.key(0)),
                          state, batch)
  assert jax.tree_util.tree_structure(traced) == jax.tree_util.tree_structure(full)


def _tiny_state(c):
  shapes = drit.image_shapes(c)
  return jit_once(lambda k: drit.create_state(c, k, shapes, 8))(jax.random.key(0))


@pytest.mark.slow
def test_content_only_steps_touch_only_the_content_discriminator():
  c = tiny_drit_config()
  state = _tiny_state(c)
  rng = np.random.default_rng(0)
  step = lean_jit(drit.make_train_step(c, 8), static_argnames=("phase",))
  for t in range(2):
    assert not drit.full_update(c, t, 8)
    b = {d: jnp.asarray(rng.uniform(-1, 1, (2, 32, 32, 3)), jnp.float32) for d in "AB"}
    before = state.params
    state, m = step(state, b, jax.random.key(1), phase=False)
    moved = {k for k in drit.NETS if any(
        float(jnp.max(jnp.abs(x - y))) > 0
        for x, y in zip(jax.tree_util.tree_leaves(before[k]),
                        jax.tree_util.tree_leaves(state.params[k])))}
    assert moved == {"disContent"} and set(m) == {"disContent", "D_content_grad_norm", "lr"}


@pytest.mark.slow
def test_the_random_half_feeds_only_the_random_attribute_discriminators():
  """Changing the second ("random") half of B changes disB2's and no other D's loss."""
  c = tiny_drit_config()
  state = _tiny_state(c)
  rng = np.random.default_rng(0)
  batch = {d: jnp.asarray(rng.uniform(-1, 1, (2, 32, 32, 3)), jnp.float32) for d in "AB"}
  other = {**batch, "B": batch["B"].at[1].set(-batch["B"][1])}
  step = lean_jit(drit.make_train_step(c, 8), static_argnames=("phase",))
  _, m1 = step(state, batch, jax.random.key(1), phase=True)
  _, m2 = step(state, other, jax.random.key(1), phase=True)
  changed = {k for k in ("disA", "disA2", "disB", "disB2", "disContent", "G_loss")
             if float(m1[k]) != float(m2[k])}
  assert changed == {"disB2"}


def _loop_config(steps):
  return short_run(tiny_drit_config(), steps)


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
  return train_straight_and_resumed(_loop_config, tmp_path_factory.mktemp("drit"), 4, 2)


@pytest.mark.slow
def test_resume_equals_uninterrupted(runs):
  assert runs["first_half"] == ["2"]
  assert assert_same_states(runs["straight"], runs["resumed"], _loop_config(4)) > 60


@pytest.mark.slow
def test_sample_grid_has_the_official_display_columns(runs):
  png = os.path.join(runs["straight"], "samples", "step_00000004.png")
  body = grid_body(np.asarray(Image.open(png)), rows=4, cols=5)  # 2 images x (A, B lines)
  assert body.std() > 0


@pytest.mark.slow
def test_translate_with_random_attributes_references_and_interpolation(runs, tmp_path):
  check_random_reference_and_interpolated_styles(runs["straight"], tmp_path, "BtoA")


@pytest.mark.slow
def test_evaluate_reports_lpips_diversity_over_random_attributes(runs, tmp_path):
  """K random attributes per input: LPIPS diversity (random LPIPS weights here) beside the
  domain classifier; no ground truth on the day <-> duotone styles."""
  from i2ijax.evaluate import evaluate_workdir
  from i2ijax.metrics import lpips
  from i2ijax.metrics.torch_weights import save_npz_state_dict
  from tests.helpers import random_state_dict
  path = str(tmp_path / "lpips_alex.npz")
  save_npz_state_dict(path, random_state_dict(lpips.lpips_state_dict_shapes("alex"), 1))
  report = evaluate_workdir(runs["straight"], num_styles=3, lpips_backbone=path,
                            write_scalars=False)
  ab = report["tasks"]["AtoB"]
  assert ab["outputs_per_image"] == 3
  assert np.isfinite(ab["model"]["lpips_diversity"]) and ab["model"]["lpips_diversity"] > 0
  assert "classifier_accuracy" in ab["model"] and "psnr_ssim" in report["skipped"]
