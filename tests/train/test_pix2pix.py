"""pix2pix: update order (D first), loss weights, batch norm path, paired data, the loop."""

import logging
import os

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from PIL import Image

from i2ijax.data.sources import aligned_domains
from i2ijax.train import pix2pix
from i2ijax.train.loop import train_and_evaluate
from i2ijax.translate import translate_images
from tests.helpers import load_config


def _config():
  c = load_config("pix2pix", "quickstart")
  c.model.ngf, c.model.ndf = 4, 4
  c.data.load_size, c.data.crop_size = 132, 128
  c.data.embedded_images = 4
  c.batch_size = 2
  return c


def _batch(n=2, size=128, seed=0):
  ka, kb = jax.random.split(jax.random.key(seed))
  return {"A": jax.random.uniform(ka, (n, size, size, 3), minval=-1, maxval=1),
          "B": jax.random.uniform(kb, (n, size, size, 3), minval=-1, maxval=1)}


def test_default_config_is_the_papers():
  c = load_config("pix2pix")
  m = c.model
  assert (m.netG, m.netD, m.norm, m.gan_mode, m.use_dropout) == (
      "unet_256", "basic", "batch", "vanilla", True)
  assert (m.lambda_L1, c.batch_size, c.data.load_size, c.data.crop_size) == (100.0, 1, 286, 256)
  assert (m.ngf, m.ndf, m.n_layers_D, m.upsample, m.dtype) == (64, 64, 3, "transpose", "float32")
  assert (c.optimizer.lr, c.optimizer.beta1, c.optimizer.n_epochs, c.optimizer.n_epochs_decay) == (
      2e-4, 0.5, 100, 100)


@pytest.mark.slow
def test_discriminator_updates_first_and_generator_sees_the_updated_one():
  c = _config()
  c.model.norm, c.model.use_dropout = "instance", False
  shapes = {"A": (128, 128, 3), "B": (128, 128, 3)}
  state = pix2pix.create_state(c, jax.random.key(0), shapes, 4)
  batch = _batch()
  new, m = jax.jit(pix2pix.make_train_step(c, 4))(state, batch, jax.random.key(0))
  models = pix2pix.build_models(c)
  fake = models["G"].apply({"params": state.params["G"]}, batch["A"])
  d = lambda p, b: models["D"].apply({"params": p}, jnp.concatenate([batch["A"], b], -1))
  sp = jax.nn.softplus
  # D terms: old D on the real and the fake pair (BCE with logits).
  assert float(m["D_real"]) == pytest.approx(float(jnp.mean(sp(-d(state.params["D"], batch["B"])))),
                                             rel=1e-5)
  assert float(m["D_fake"]) == pytest.approx(float(jnp.mean(sp(d(state.params["D"], fake)))),
                                             rel=1e-5)
  # G's adversarial term uses the *updated* D; L1 is weighted by 100.
  assert float(m["G_GAN"]) == pytest.approx(float(jnp.mean(sp(-d(new.params["D"], fake)))),
                                            rel=1e-4)
  assert float(m["G_L1"]) == pytest.approx(100 * float(jnp.mean(jnp.abs(fake - batch["B"]))),
                                           rel=1e-5)


@pytest.mark.slow
def test_batch_norm_and_dropout_default_path():
  c = _config()
  shapes = {"A": (128, 128, 3), "B": (128, 128, 3)}
  state = pix2pix.create_state(c, jax.random.key(0), shapes, 4)
  new, m = jax.jit(pix2pix.make_train_step(c, 4))(state, _batch(), jax.random.key(0))
  assert all(np.isfinite(float(v)) for v in m.values())
  for net in ("G", "D"):
    before = jax.tree_util.tree_leaves(state.batch_stats[net])
    after = jax.tree_util.tree_leaves(new.batch_stats[net])
    assert before and any(not np.allclose(a, b) for a, b in zip(before, after))


def test_aligned_folder_layout(tmp_path):
  c = load_config("pix2pix")
  c.data.path = str(tmp_path)
  with pytest.raises(FileNotFoundError, match="has no train/ folder"):
    aligned_domains(c.data)
  (tmp_path / "train").mkdir()
  ab = np.zeros((10, 16, 3), np.uint8)
  ab[:, 8:] = 200
  Image.fromarray(ab).save(tmp_path / "train" / "1.png")
  a, b = aligned_domains(c.data)
  assert a.load(0).shape == b.load(0).shape == (10, 8, 3)
  assert a.load(0).max() == 0 and b.load(0).min() == 200


@pytest.mark.slow
def test_loop_and_translate(tmp_path, caplog):
  c = _config()
  c.num_train_steps, c.log_every_steps, c.sample_every_steps = 3, 1, 3
  c.checkpoint_every_steps, c.num_sample_images = 2, 1
  wd = str(tmp_path / "wd")
  metrics = train_and_evaluate(c, wd)
  assert {"G_GAN", "G_L1", "D_real", "D_fake"} <= set(metrics)
  assert sorted(os.listdir(os.path.join(wd, "checkpoints"))) == ["2", "3"]
  Image.fromarray(np.full((50, 70), 128, np.uint8), "L").save(tmp_path / "g.png")
  with caplog.at_level(logging.WARNING):
    (out,) = translate_images(wd, str(tmp_path / "g.png"), str(tmp_path / "out"), "AtoB")
  assert [r.getMessage() for r in caplog.records] == [f"{tmp_path}/g.png: converted L to RGB"]
  assert Image.open(out).size == (70, 50)
  with pytest.raises(ValueError, match=r"direction must be one of \['AtoB'\] for pix2pix"):
    translate_images(wd, str(tmp_path / "g.png"), str(tmp_path / "out"), "BtoA")
