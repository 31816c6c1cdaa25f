"""Three CycleGAN training steps against the official code, in float64.

`tests/fixtures/official_cyclegan_steps.npz` (written by
`tests/fixtures/make/cyclegan_steps.py` from junyanz/pytorch-CycleGAN-and-pix2pix
commit 2a7afba) holds the official defaults at tiny widths: resnet_9blocks
generators (ngf 1), basic PatchGANs (ndf 2, n_layers_D 3), instance norm, no
dropout, LSGAN, lambda_A = lambda_B = 10, lambda_identity 0.5, pool_size 50,
Adam 2e-4 (0.5, 0.999), batch 1, 32x32 images. Its inputs are uint8 arrays u,
fed to both sides as u / 127.5 - 1 in float64 (exact).

Our step starts from the official initial weights and runs on the same three
batches. After steps 1 and 3 every loss term, every parameter, both Adam
moments of both optimizers and the two image pools must agree with the
official ones to 1e-10 * max(1, |official|). The step draws no random number
the official one would: the pools (50 images) are still filling, so both
sides store each fake and hand it to the discriminator unchanged.

One exception, the conv biases that feed an instance norm (listed by the
fixture script from the official modules as `meta/roundoff_only/<net>`): the
norm subtracts each channel's mean, so their exact gradient is 0 and both
sides compute rounding noise of ~1e-14 instead (about 1e-15 times the
weights' gradients). Adam turns that into steps of lr * g / (|g| + eps) ~ 2e4 g, so
these biases wander to ~5e-10 on either side, independently. Their Adam
moments are compared as everything else; their values must stay within
ROUNDOFF_BOUND of their initial 0 on both sides (a real Adam step moves a
parameter by ~lr = 2e-4).
"""

import jax
import numpy as np
import pytest

from i2ijax.train import cyclegan
from tests.helpers import lean_jit, load_config
from tests.parity import (Mismatches, SAVED, adam_moments, check_adam, check_losses, entries,
                          get_path, images, load_aligned, load_fixture, nhwc, param_locator,
                          run_steps, to_flax)

NETS = ("G_A", "G_B", "D_A", "D_B")
OPTIMIZERS = {"g_opt_state": ("G_A", "G_B"), "d_opt_state": ("D_A", "D_B")}
# Official loss name -> our metric.
LOSSES = {"G_A": "G_A", "G_B": "G_B", "cycle_A": "cycle_A", "cycle_B": "cycle_B",
          "idt_A": "idt_A", "idt_B": "idt_B", "D_A": "D_A", "D_B": "D_B"}
ROUNDOFF_BOUND = 1e-8


@pytest.fixture(scope="module")
def fixture():
  return load_fixture("cyclegan")


def official_config():
  """The official TrainOptions defaults of the fixture (`configs/cyclegan.py` is the paper's)."""
  c = load_config("cyclegan")
  c.model.ngf, c.model.ndf = 1, 2
  c.data.load_size = c.data.crop_size = 32
  c.model.param_dtype = "float64"
  return c


def batch(fixture, t):
  return {k: images(fixture, f"batch/{t}/{k}") for k in ("A", "B")}


def compare(config, fixture) -> Mismatches:
  """Runs our step from the official initial state on the fixture's batches; returns the
  comparisons with the official step 1 and step 3."""
  mm = Mismatches()
  with jax.enable_x64(True):
    state = cyclegan.create_state(config, jax.random.key(0), cyclegan.image_shapes(config), 3)
    paths, params, stats = load_aligned(fixture, state.params, state.batch_stats, NETS)
    state = state.replace(params=params, batch_stats=stats)
    step = lean_jit(cyclegan.make_train_step(config, 3))
    for t, state, metrics in run_steps(step, state, lambda t: batch(fixture, t)):
      if t not in SAVED:
        continue
      check_losses(mm, fixture, t, metrics, LOSSES)
      for net in NETS:
        ours = {"params": state.params[net], "batch_stats": state.batch_stats[net]}
        roundoff = set(fixture[f"meta/roundoff_only/{net}"].tolist())
        for key, value in entries(fixture, f"step{t}/{net}").items():
          mine = get_path(ours, paths[net][key])
          if key in roundoff:
            for side, v in (("ours", mine), ("official", value)):
              excess = np.maximum(np.abs(np.asarray(v)) - ROUNDOFF_BOUND, 0.0)
              mm.check(f"step{t}/{net}/{key} ({side}) beyond {ROUNDOFF_BOUND:g} of 0", excess,
                       np.zeros_like(excess))
          else:
            mm.check(f"step{t}/{net}/{key}", mine, to_flax(key, value))
      for opt_name, nets in OPTIMIZERS.items():
        mu, nu = adam_moments(getattr(state, opt_name))
        for net in nets:
          check_adam(mm, fixture, f"step{t}/adam/{net}", mu[net], nu[net], param_locator(paths[net]))
    for name, pool in (("fake_A", state.pool_A), ("fake_B", state.pool_B)):
      official = nhwc(fixture[f"step3/pool/{name}"])
      assert int(pool.count) == len(official)
      mm.check(f"step3/pool/{name}", pool.images[:len(official)], official)
  return mm


def test_fixture_is_the_official_default_config(fixture):
  c = official_config()
  m = c.model
  assert (m.netG, m.netD, m.n_layers_D, m.norm, m.use_dropout, m.gan_mode) == (
      "resnet_9blocks", "basic", 3, "instance", False, "lsgan")
  assert (m.lambda_A, m.lambda_B, m.lambda_identity, m.pool_size, c.batch_size) == (
      10.0, 10.0, 0.5, 50, 1)
  o = c.optimizer
  assert (o.lr, o.beta1, o.beta2, o.weight_decay) == (2e-4, 0.5, 0.999, 0.0)
  assert str(fixture["meta/argv"]) == "--ngf 1 --ndf 2 --crop_size 32 --load_size 32"


def test_three_steps_match_the_official_ones(fixture):
  compare(official_config(), fixture).assert_ok()


@pytest.mark.slow
def test_a_wrong_cycle_weight_fails_the_comparison(fixture):
  c = official_config()
  c.model.lambda_A = 10.5
  mm = compare(c, fixture)
  with pytest.raises(AssertionError, match="differ from the official step"):
    mm.assert_ok()
  wrong = {what for _, what, _ in mm.bad}
  assert {"step1/loss/cycle_A", "step1/loss/idt_B"} <= wrong
  assert "step1/loss/cycle_B" not in wrong
