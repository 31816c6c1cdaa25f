"""Three DiscoGAN iterations against the official training script, in float64.

`tests/fixtures/official_discogan_steps.npz` (written by
`tests/fixtures/make/discogan_steps.py`, which runs `main()` of
SKTBrain/DiscoGAN's `image_translation.py`, commit f044178) holds the official
defaults at width 2 (every 64 of `model.py` made 2), 64 px, batch 2, with
gan_curriculum 2: iteration 0 updates both discriminators at rate 0.01,
iteration 1 both generators at 0.01, iteration 2 both generators at 0.5. Its
inputs are uint8 arrays u, fed to the official code as u / 255 and to ours as
u / 127.5 - 1 (mapped to (x + 1) / 2 inside the step), in float64.

After iteration 0's update the official script renders its test images by
running the generators in training mode (AB = G_B(test A), BA = G_A(test B),
ABA = G_A(AB), BAB = G_B(BA)), which moves their running averages; the
comparison replays that pass on the stored test images (`sample/`) after our
first step. (Our sample grids leave the running averages alone.)

After iterations 1 and 3 every loss term, every parameter and running
statistic of the four networks and both Adam moments of the stepped optimizers
must agree with the official ones to 1e-10 * max(1, |official|); the
generators' Adam moments are still zero after iteration 1 (no generator step).
"""

import jax
import jax.numpy as jnp
import pytest

from i2ijax.train import discogan
from i2ijax.train.common import apply_module
from tests.helpers import lean_jit, load_config
from tests.parity import (Mismatches, SAVED, STEPS, adam_moments, check_adam, check_losses,
                          entries, get_path, images, load_aligned, load_fixture, param_locator,
                          to_flax)

NETS = ("G_A", "G_B", "D_A", "D_B")
OPTIMIZERS = {"g_opt_state": ("G_A", "G_B"), "d_opt_state": ("D_A", "D_B")}
LOSSES = {name: name for name in ("gen_loss_A", "gen_loss_B", "fm_loss_A", "fm_loss_B",
                                  "recon_loss_A", "recon_loss_B", "dis_loss_A", "dis_loss_B")}
LOSSES.update({"gen_loss": "G_total", "dis_loss": "D_total"})


@pytest.fixture(scope="module")
def fixture():
  return load_fixture("discogan")


def official_config():
  """The official defaults at the fixture's width, batch and curriculum."""
  c = load_config("discogan")
  c.model.ngf = c.model.ndf = 2
  c.model.gan_curriculum = 2
  c.batch_size = 2
  c.model.param_dtype = "float64"
  return c


def official_test_images_pass(config, state, fixture):
  """`state` after the official rendering of the test images (training-mode generators)."""
  nets, stats = discogan.build_models(config), dict(state.batch_stats)

  def g(name, x):
    y, stats[name] = apply_module(nets[name], state.params[name], stats[name], x, train=True)
    return y

  ab = g("G_B", discogan.to_unit_range(images(fixture, "sample/A")))
  ba = g("G_A", discogan.to_unit_range(images(fixture, "sample/B")))
  g("G_A", ab)
  g("G_B", ba)
  return state.replace(batch_stats=stats)


def compare(config, fixture, static_phases=True) -> Mismatches:
  mm = Mismatches()
  with jax.enable_x64(True):
    state = discogan.create_state(config, jax.random.key(0), discogan.image_shapes(config), 6)
    paths, params, stats = load_aligned(fixture, state.params, state.batch_stats, NETS)
    state = state.replace(params=params, batch_stats=stats)
    step = lean_jit(discogan.make_train_step(config, 6), static_argnames="phase")
    for t in range(1, STEPS + 1):
      batch = {k: images(fixture, f"batch/{t}/{k}") for k in ("A", "B")}
      phase = discogan.step_phase(config, t - 1) if static_phases else None
      state, metrics = step(state, batch, jax.random.key(0), phase=phase)
      if t in SAVED:
        check_step(mm, fixture, t, state, metrics, paths)
      if t == 1:
        state = official_test_images_pass(config, state, fixture)
  return mm


def check_step(mm, fixture, t, state, metrics, paths):
  """Compares the losses, networks and Adam moments after iteration t with the official ones."""
  check_losses(mm, fixture, t, metrics, LOSSES)
  for net in NETS:
    ours = {"params": state.params[net], "batch_stats": state.batch_stats[net]}
    for key, value in entries(fixture, f"step{t}/{net}").items():
      mm.check(f"step{t}/{net}/{key}", get_path(ours, paths[net][key]), to_flax(key, value))
  for opt_name, nets in OPTIMIZERS.items():
    mu, nu = adam_moments(getattr(state, opt_name))
    for net in nets:
      if entries(fixture, f"step{t}/adam/{net}"):
        check_adam(mm, fixture, f"step{t}/adam/{net}", mu[net], nu[net],
                   param_locator(paths[net]))
      else:  # not stepped yet
        for leaf in jax.tree_util.tree_leaves((mu[net], nu[net])):
          mm.check(f"step{t}/adam/{net} (unstepped)", leaf, jnp.zeros_like(leaf))


def test_fixture_is_the_official_default_config(fixture):
  c = load_config("discogan")
  m, o = c.model, c.optimizer
  assert (m.model_arch, m.lambda_gan, m.lambda_fm, m.starting_rate, m.default_rate,
          m.gan_curriculum, m.update_interval) == ("discogan", 0.1, 0.9, 0.01, 0.5, 10000, 3)
  assert (o.lr, o.beta1, o.beta2, o.weight_decay, o.lr_policy) == (
      2e-4, 0.5, 0.999, 1e-5, "constant")
  assert (c.batch_size, c.data.crop_size, c.data.flip, m.ngf, m.ndf) == (64, 64, False, 64, 64)
  assert str(fixture["meta/argv"]) == ("--cuda false --task_name facescrub --batch_size 2 "
                                       "--epoch_size 1 --gan_curriculum 2 --n_test 2")


def test_three_iterations_match_the_official_ones(fixture):
  compare(official_config(), fixture).assert_ok()


@pytest.mark.slow
def test_traced_phase_matches_too_and_a_wrong_rate_fails(fixture):
  compare(official_config(), fixture, static_phases=False).assert_ok()
  c = official_config()
  c.model.default_rate = 0.45  # only the third iteration runs at the default rate
  mm = compare(c, fixture)
  with pytest.raises(AssertionError, match="differ from the official step"):
    mm.assert_ok()
  wrong = {what.split("/")[0] for _, what, _ in mm.bad}
  assert wrong == {"step3"}, wrong
