"""Three pix2pix training steps against the official code, in float64.

`tests/fixtures/official_pix2pix_steps.npz` (written by
`tests/fixtures/make/pix2pix_steps.py` from junyanz/pytorch-CycleGAN-and-pix2pix
commit 2a7afba) holds the official pix2pix defaults at tiny widths: U-Net
generator (unet_128, ngf 1), basic PatchGAN on concat(A, B) (ndf 2,
n_layers_D 3), batch norm, vanilla GAN, lambda_L1 100, Adam 2e-4 (0.5, 0.999),
batch 1, 128x128 images, and dropout OFF: the official dropout masks come from
torch's random generator and cannot be matched, so the fixture is recorded with
`--no_dropout` and the step draws no random number. Its inputs are uint8
arrays u, fed to both sides as u / 127.5 - 1 in float64 (exact).

Our step starts from the official initial weights and running statistics and
runs on the same three batches. After steps 1 and 3 every loss term, every
parameter and batch-norm running mean and variance, and both Adam moments of
both optimizers must agree with the official ones to
1e-10 * max(1, |official|). (With batch norm no conv has a bias that a norm
cancels, so, unlike CycleGAN's instance norm, no parameter holds pure
rounding noise.)
"""

import jax
import pytest

from i2ijax.train import pix2pix
from tests.helpers import lean_jit, load_config
from tests.parity import (Mismatches, SAVED, adam_moments, check_adam, check_arrays, check_losses,
                          entries, images, load_aligned, load_fixture, param_locator, run_steps,
                          to_flax)

NETS = ("G", "D")
OPTIMIZERS = {"g_opt_state": "G", "d_opt_state": "D"}
# Official loss name -> our metric.
LOSSES = {"G_GAN": "G_GAN", "G_L1": "G_L1", "D_real": "D_real", "D_fake": "D_fake"}


@pytest.fixture(scope="module")
def fixture():
  return load_fixture("pix2pix")


def official_config():
  """The official pix2pix TrainOptions defaults of the fixture (`configs/pix2pix.py` is the
  paper's) with unet_128, tiny widths and dropout off."""
  c = load_config("pix2pix")
  c.model.netG = "unet_128"
  c.model.ngf, c.model.ndf = 1, 2
  c.model.use_dropout = False
  c.data.load_size = c.data.crop_size = 128
  c.model.param_dtype = "float64"
  return c


def batch(fixture, t):
  return {k: images(fixture, f"batch/{t}/{k}") for k in ("A", "B")}


def compare(config, fixture) -> Mismatches:
  """Runs our step from the official initial state on the fixture's batches; returns the
  comparisons with the official step 1 and step 3."""
  mm = Mismatches()
  with jax.enable_x64(True):
    state = pix2pix.create_state(config, jax.random.key(0), pix2pix.image_shapes(config), 3)
    paths, params, stats = load_aligned(fixture, state.params, state.batch_stats, NETS)
    state = state.replace(params=params, batch_stats=stats)
    step = lean_jit(pix2pix.make_train_step(config, 3))
    for t, state, metrics in run_steps(step, state, lambda t: batch(fixture, t)):
      if t not in SAVED:
        continue
      check_losses(mm, fixture, t, metrics, LOSSES)
      for net in NETS:
        ours = {"params": state.params[net], "batch_stats": state.batch_stats[net]}
        values = entries(fixture, f"step{t}/{net}")
        assert any(k.endswith("running_var") for k in values)
        check_arrays(mm, f"step{t}/{net}", values, ours,
                     lambda key, value, net=net: (paths[net][key], to_flax(key, value)))
      for opt_name, net in OPTIMIZERS.items():
        mu, nu = adam_moments(getattr(state, opt_name))
        check_adam(mm, fixture, f"step{t}/adam/{net}", mu, nu, param_locator(paths[net]))
  return mm


def test_fixture_is_the_official_default_config(fixture):
  c = official_config()
  m = c.model
  assert (m.netD, m.n_layers_D, m.norm, m.gan_mode, m.lambda_L1, c.batch_size) == (
      "basic", 3, "batch", "vanilla", 100.0, 1)
  o = c.optimizer
  assert (o.lr, o.beta1, o.beta2, o.weight_decay) == (2e-4, 0.5, 0.999, 0.0)
  assert str(fixture["meta/argv"]) == (
      "--netG unet_128 --ngf 1 --ndf 2 --crop_size 128 --load_size 128 --no_dropout")


def test_three_steps_match_the_official_ones(fixture):
  compare(official_config(), fixture).assert_ok()


@pytest.mark.slow
def test_a_wrong_l1_weight_fails_the_comparison(fixture):
  c = official_config()
  c.model.lambda_L1 = 101.0
  mm = compare(c, fixture)
  with pytest.raises(AssertionError, match="differ from the official step"):
    mm.assert_ok()
  wrong = {what for _, what, _ in mm.bad}
  assert "step1/loss/G_L1" in wrong
  # The discriminator updates first: its step-1 terms do not see the weight.
  assert not {"step1/loss/D_real", "step1/loss/D_fake"} & wrong
