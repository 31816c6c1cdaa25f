"""Fader Networks: the losses on hand-computed inputs, the config, each official quirk of
the iteration (flipped labels, the lambda ramp, clipping, the update order, eval modes),
the data streams, and the runtime (resume, samples, translate)."""

import math
import os

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from PIL import Image

from i2ijax import losses
from i2ijax.train import fader
from i2ijax.train.loop import jit_once
from i2ijax.translate import translate_images
from tests.helpers import (assert_same_states, grid_body, load_config, random_batch, short_run,
                           tiny_fader_config, train_straight_and_resumed)


# ---------------------------------------------------------------- losses
def test_pairwise_attribute_loss_by_hand():
  # Two samples, two attributes; logit pairs (off, on).
  logits = jnp.asarray([[2.0, 0.0, 0.0, 1.0], [0.0, 0.0, -1.0, 1.0]])
  labels = jnp.asarray([[1.0, 0.0], [0.0, 1.0]])
  sp = lambda a: math.log1p(math.exp(a))  # -log softmax = softplus(other - own)
  # Attribute 0: sample 0 is on (logit 0 vs 2), sample 1 is off (0 vs 0).
  # Attribute 1: sample 0 is off (0 vs 1), sample 1 is on (1 vs -1).
  want = (sp(2.0) + sp(0.0)) / 2 + (sp(1.0) + sp(-2.0)) / 2
  assert float(losses.pairwise_attribute_loss(logits, labels)) == pytest.approx(want, rel=1e-6)
  # Flipped: every target is the other value.
  flipped = (sp(-2.0) + sp(0.0)) / 2 + (sp(-1.0) + sp(2.0)) / 2
  assert float(losses.pairwise_attribute_loss(logits, labels, flip=True)) == pytest.approx(
      flipped, rel=1e-6)
  # Flipping the labels is flipping the targets.
  assert float(losses.pairwise_attribute_loss(logits, 1 - labels)) == pytest.approx(flipped,
                                                                                   rel=1e-6)


def test_linear_ramp_by_hand():
  assert float(losses.linear_ramp(1e-4, 0, 500_000)) == 0.0
  assert float(losses.linear_ramp(1e-4, 125_000, 500_000)) == pytest.approx(2.5e-5)
  assert float(losses.linear_ramp(1e-4, 500_000, 500_000)) == pytest.approx(1e-4)
  assert float(losses.linear_ramp(1e-4, 900_000, 500_000)) == pytest.approx(1e-4)
  assert losses.linear_ramp(1e-4, 0, 0) == 1e-4  # no schedule: the full weight at once


def test_official_lambda_schedule_from_the_default_config():
  c = load_config("fader")
  lam = lambda t: float(fader.lambda_lat_at(c, t))
  assert lam(0) == 0.0  # the official get_lambda at n_total_iter 0
  assert lam(1) == pytest.approx(1e-4 / 500_000)
  assert lam(250_000) == pytest.approx(5e-5)
  assert lam(500_000) == lam(1_000_000) == pytest.approx(1e-4)


# ---------------------------------------------------------------- config
def test_default_config_is_the_official_setting():
  c = load_config("fader")
  m, o, d = c.model, c.optimizer, c.data
  assert m.attrs == "Male,Smiling" and fader.n_attr(c) == 4
  assert (m.init_fm, m.max_fm, m.n_layers, m.hid_dim, m.lat_dis_dropout) == (32, 512, 6, 512, 0.3)
  assert (m.n_lat_dis, m.lambda_ae, m.lambda_lat_dis, m.lambda_schedule) == (1, 1.0, 1e-4,
                                                                              500_000)
  assert m.clip_grad_norm == 5.0
  assert (c.batch_size, c.num_train_steps) == (32, 1_563_000)
  assert (o.ae_lr, o.dis_lr, o.beta1, o.beta2) == (2e-4, 2e-4, 0.5, 0.999)
  assert (d.crop_size, d.center_crop, d.flip) == (256, 178, True)
  q = load_config("fader", "quickstart")
  assert q.data.crop_size == 32 and q.model.n_layers == 3
  assert 0 < q.model.lambda_schedule < q.num_train_steps


def test_bad_config_values_are_named():
  for key, value, pattern in (("crop_size", 48, "config.data.crop_size=48"),):
    c = tiny_fader_config()
    c.data[key] = value
    with pytest.raises(ValueError, match=pattern):
      fader.validate_config(c)
  for key, value, pattern in (("n_layers", 6, "config.model.n_layers=6"),
                              ("lat_dis_dropout", 1.0, "config.model.lat_dis_dropout=1.0"),
                              ("clip_grad_norm", -1.0, "config.model.clip_grad_norm=-1.0"),
                              ("init_fm", 32, "config.model.init_fm=32"),
                              ("n_lat_dis", 0, "config.model.lambda_lat_dis > 0 needs")):
    c = tiny_fader_config()
    c.model[key] = value
    with pytest.raises(ValueError, match=pattern):
      fader.validate_config(c)


# ---------------------------------------------------------------- the iteration
@pytest.fixture(scope="module")
def three_steps():
  """A float64 tiny state (lambda_lat_dis 0.5 ramped over 2 iterations) and three
  iterations of one compiled step with fixed dropout masks: (config, states s0..s3,
  batches b1..b3, masks, metrics m1..m3)."""
  with jax.enable_x64(True):
    c = tiny_fader_config()  # lambda_schedule 2
    c.model.param_dtype = "float64"
    c.model.lambda_lat_dis = 0.5
    state = jit_once(lambda k: fader.create_state(c, k, fader.image_shapes(c), 8))(
        jax.random.key(0))
    rng = np.random.default_rng(0)
    masks = [[jnp.asarray(rng.random((4, s, s, 16)) > 0.3, jnp.float64) for s in (2, 1)]]
    step = jax.jit(fader.make_train_step(c, 8))
    states, batches, metrics = [state], [], []
    for _ in range(3):
      batches.append(random_batch("fader", 4, 32, rng, "float64"))
      state, m = step(state, batches[-1], jax.random.key(1), draws={"lat_masks": masks})
      states.append(state)
      metrics.append(m)
    yield c, states, batches, masks, metrics


def test_lambda_ramps_over_the_iterations(three_steps):
  c, _, _, _, metrics = three_steps
  assert [float(m["lambda_lat"]) for m in metrics] == pytest.approx([0.0, 0.25, 0.5])


def test_discriminator_step_first_then_the_autoencoder_against_the_updated_discriminator(
    three_steps):
  c, states, batches, masks, metrics = three_steps
  before, after, batch, m = states[0], states[1], batches[0], metrics[0]
  with jax.enable_x64(True):
    nets = fader.build_models(c)
    AE, D = nets["ae"], nets["lat_dis"]
    x, y = batch["x"], batch["label"]

    @jax.jit
    def check(before, after):
      def lat_loss(s):
        d_vars = {"params": s.params["lat_dis"], "batch_stats": s.batch_stats["lat_dis"]}
        return fader.autoencoder_loss(before.params["ae"], before.batch_stats["ae"], AE, D,
                                      d_vars, x, y, 1.0, 0.5)[1][0]["lat_loss"]
      _, upd = AE.apply({"params": before.params["ae"], "batch_stats": before.batch_stats["ae"]},
                        x, fader.attribute_code(y), train=True, mutable=["batch_stats"])
      z = fader.encode_eval(AE, before.params["ae"], before.batch_stats["ae"], batch["x_lat"][:, 0])
      dis, _ = fader.latent_discriminator_loss(before.params["lat_dis"],
                                               before.batch_stats["lat_dis"], D, z,
                                               batch["label_lat"][:, 0], masks[0])
      return lat_loss(after), lat_loss(before), upd["batch_stats"], dis

    new, old, ae_stats, dis = check(before, after)
    assert float(m["lat_loss"]) == pytest.approx(float(new), rel=1e-12)
    assert abs(float(new) - float(old)) > 1e-6
    # The discriminator step encodes its own batch in eval mode: the autoencoder's running
    # averages after the iteration are those of its own train-mode forward only.
    for a, b in zip(jax.tree_util.tree_leaves(ae_stats),
                    jax.tree_util.tree_leaves(after.batch_stats["ae"])):
      np.testing.assert_allclose(a, b, rtol=1e-12)
    # The discriminator's loss: train mode on the x_lat batch with the given masks.
    assert float(m["lat_dis_loss"]) == pytest.approx(float(dis), rel=1e-12)


def test_encoder_loss_uses_the_flipped_labels(three_steps):
  c, states, batches, _, metrics = three_steps
  before, after, batch, m = states[2], states[3], batches[2], metrics[2]  # lambda 0.5
  with jax.enable_x64(True):
    nets = fader.build_models(c)

    @jax.jit
    def logits(before, after):
      z = nets["ae"].apply({"params": before.params["ae"],
                            "batch_stats": before.batch_stats["ae"]}, batch["x"], train=True,
                           mutable=["batch_stats"], method=fader.AutoEncoder.encode)[0]
      return nets["lat_dis"].apply({"params": after.params["lat_dis"],
                                    "batch_stats": after.batch_stats["lat_dis"]}, z, train=False)

    out = logits(before, after)
    flipped = losses.pairwise_attribute_loss(out, 1 - batch["label"])
    true = losses.pairwise_attribute_loss(out, batch["label"])
    assert float(m["lat_loss"]) == pytest.approx(float(flipped), rel=1e-12)
    assert abs(float(flipped) - float(true)) > 1e-6
    total = float(m["rec_loss"]) + 0.5 * float(flipped)
    assert float(m["ae_loss"]) == pytest.approx(total, rel=1e-12)


# ---------------------------------------------------------------- data
def test_discriminator_steps_read_their_own_stream_of_the_data():
  c = tiny_fader_config()
  examples, size, shapes = fader.make_examples(c, "train")
  e = examples(3)
  assert size == 8 and shapes == {"x": (32, 32, 3)}
  assert e["x_lat"].shape == (1, 32, 32, 3) and e["label_lat"].shape == (1, 5)
  assert not np.array_equal(
      np.stack([examples(g)["x"] for g in range(4)]),
      np.stack([examples(g)["x_lat"][0] for g in range(4)]))


# ---------------------------------------------------------------- runtime
def _loop_config(steps):
  return short_run(tiny_fader_config(32), steps)


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
  return train_straight_and_resumed(_loop_config, tmp_path_factory.mktemp("fader"), 4, 2)


@pytest.mark.slow
def test_resume_equals_uninterrupted(runs):
  assert runs["first_half"] == ["2"]
  assert {"lat_dis_loss", "rec_loss", "lat_loss", "lambda_lat"} <= set(runs["metrics"])
  assert assert_same_states(runs["straight"], runs["resumed"], _loop_config(4)) > 40


@pytest.mark.slow
def test_sample_grid_shows_reconstruction_and_every_flip(runs):
  files = sorted(os.listdir(os.path.join(runs["straight"], "samples")))
  assert files == ["changes_step_00000004.png"]
  grid = np.asarray(Image.open(os.path.join(runs["straight"], "samples", files[0])))
  grid_body(grid, 2, 2 + 5)  # 2 sources x (source, reconstruction, 5 flips)


@pytest.mark.slow
def test_translate_with_fader_values(runs, tmp_path):
  wd = runs["straight"]
  rng = np.random.default_rng(0)
  Image.fromarray(rng.integers(0, 256, (40, 50, 3), dtype=np.uint8)).save(tmp_path / "a.png")
  src = str(tmp_path / "a.png")
  every = "Warm_Tint=0,Cool_Tint=0,Dark={},Faded=0,Vignette=0"
  read = lambda p: np.asarray(Image.open(p)).astype(int)
  outs = [read(translate_images(wd, src, str(tmp_path / f"d{v}"), attrs=every.format(v))[0])
          for v in (0, 0.5, 1)]
  assert outs[0].shape == (32, 32, 3)
  assert np.abs(outs[0] - outs[2]).max() > 0  # the slider moves the output
  changes = translate_images(wd, src, str(tmp_path / "all"))
  assert len(changes) == 5
  with pytest.raises(ValueError, match="must be in \\[0, 1\\]"):
    translate_images(wd, src, str(tmp_path / "bad"), attrs="Dark=1.5")
  with pytest.raises(ValueError, match="unknown attribute 'Smiling'"):
    translate_images(wd, src, str(tmp_path / "bad"), attrs="Smiling=1")
