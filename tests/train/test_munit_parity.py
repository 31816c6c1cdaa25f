"""Three MUNIT and three UNIT training steps against the official code, in float64.

`tests/fixtures/official_munit_steps.npz` (written by
`tests/fixtures/make/munit_steps.py` from NVlabs/MUNIT commit a82e222,
`MUNIT_Trainer`) and `official_unit_steps.npz` (`tests/fixtures/make/unit_steps.py`,
mingyuliutw/UNIT commit 28d5982, `UNIT_Trainer`) hold three iterations of the
official `train.py` loop (`update_learning_rate`, `dis_update`, `gen_update`)
at tiny widths (gen dim 2, n_res 1, MUNIT style_dim 2 and mlp_dim 8; dis dim 4,
n_layer 2, 3 scales, LSGAN), Adam 1e-4 (0.5, 0.999) with weight decay 1e-4 and
the step schedule (gamma 0.5, step_size 2: the rate halves from the second
iteration), batch 1, 32x32 images (A RGB, B grey). MUNIT uses the loss weights
of the official summer2winter config (recon_x_cyc_w 10, so the explicit cycle
runs), UNIT the official ones (gan_w 1, recon_x_w 10, recon_kl_w 0.01,
recon_x_cyc_w 10, recon_kl_cyc_w 0.01). Inputs are uint8 arrays u, fed to both
sides as u / 127.5 - 1 in float64 (exact).

Our step starts from the official initial weights, runs on the same batches
and takes the random codes the official updates drew (`draws=`: MUNIT's style
codes, UNIT's unit Gaussian noise added to each latent by `VAEGen.encode`).
After steps 1 and 3 every loss term, the learning rate, every parameter and
both Adam moments of both optimizers must agree with the official ones to
1e-10 * max(1, |official|). (The official AdaIN layers' running_mean /
running_var are dummies that never change; our model has none.)
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from i2ijax.models.munit import variables_from_torch
from i2ijax.train import munit
from tests.helpers import lean_jit, load_config
from tests.parity import (Mismatches, adam_moments, check_adam, check_arrays, entries, images,
                          is_buffer, load_fixture, nhwc)

KINDS = ("munit", "unit")
NETS = {"G": ("gen_a", "gen_b"), "D": ("dis_a", "dis_b")}
OPTIMIZERS = {"G": "g_opt_state", "D": "d_opt_state"}
# Official loss name prefix (after gen_) -> the weight our weighted term carries.
WEIGHTS = {
    "munit": (("recon_x", "recon_x_w"), ("recon_s", "recon_s_w"), ("recon_c", "recon_c_w"),
              ("cycrecon_x", "recon_x_cyc_w"), ("adv", "gan_w"), ("vgg", "vgg_w")),
    "unit": (("recon_x", "recon_x_w"), ("recon_kl_cyc", "recon_kl_cyc_w"),
             ("recon_kl", "recon_kl_w"), ("cyc_x", "recon_x_cyc_w"), ("adv", "gan_w"),
             ("vgg", "vgg_w")),
}
SAVED = (1, 3)


@pytest.fixture(scope="module", params=KINDS)
def kind(request):
  return request.param


@pytest.fixture(scope="module")
def fixture(kind):
  return load_fixture(kind)


def official_config(kind):
  """The fixture's settings: our official defaults at tiny widths (MUNIT: the summer2winter
  weights)."""
  c = load_config(kind)
  c.data.input_nc, c.data.output_nc = 3, 1
  c.data.load_size = c.data.crop_size = 32
  c.model.gen.update(dim=2, n_res=1)
  if kind == "munit":
    c.model.gen.update(mlp_dim=8, style_dim=2)
    c.model.recon_x_cyc_w = 10.0
  c.model.dis.update(dim=4, n_layer=2)
  c.optimizer.step_size = 2
  c.model.param_dtype = "float64"
  return c


def config_value(config, hp_key: str):
  """Our config's value of an official hyperparameter key (None: no counterpart)."""
  top = {"batch_size": config.batch_size, "input_dim_a": config.data.input_nc,
         "input_dim_b": config.data.output_nc}
  if hp_key in top:
    return top[hp_key]
  parts = hp_key.split("/")
  if parts[0] in ("gen", "dis"):
    return config.model[parts[0]].get(parts[1])
  if parts[0] in config.optimizer:
    return config.optimizer[parts[0]]
  return config.model.get(parts[0])


def ours(torch_key: str, value) -> tuple[tuple[str, ...], np.ndarray]:
  """(our parameter path, value in our layout) of one official state_dict entry."""
  (path, leaf), = jax.tree_util.tree_flatten_with_path(variables_from_torch({torch_key: value}))[0]
  return tuple(k.key for k in path), leaf


def batch(fixture, t):
  return {k: images(fixture, f"batch/{t}/{k}") for k in ("A", "B")}


def draws(fixture, t):
  """The official draws of step t in our layout: style codes [N, dim, 1, 1] -> [N, dim],
  latent noise NCHW -> NHWC."""
  return {k: jnp.asarray(v[:, :, 0, 0] if v.shape[2:] == (1, 1) else nhwc(v))
          for k, v in entries(fixture, f"draw/{t}").items()}


def initial_state(config, fixture):
  """A fresh state (zero Adam moments, step 0) holding the official initial weights."""
  abstract = jax.eval_shape(lambda k: munit.create_state(config, k, munit.image_shapes(config), 1),
                            jax.random.key(0))
  state = jax.tree_util.tree_map(lambda s: jnp.zeros(s.shape, s.dtype), abstract)
  params = {player: {net: variables_from_torch(entries(fixture, f"init/{net}")) for net in nets}
            for player, nets in NETS.items()}
  shapes = lambda tree: jax.tree_util.tree_map(lambda a: (a.shape, str(a.dtype)), tree)
  assert shapes(params) == shapes(abstract.params)
  return state.replace(params=jax.tree_util.tree_map(jnp.asarray, params))


def official_losses(fixture, t, kind) -> dict:
  """{our metric: official value}: the trainer's unweighted terms times the official weight
  (meta/hp), as our step logs them."""
  hp = lambda key: float(fixture[f"meta/hp/{key}"])
  out = {}
  for name, value in entries(fixture, f"step{t}/loss").items():
    if name.startswith("dis_"):
      out["D_" + name[4:]] = value
      continue
    term = name[4:]
    if term == "total":
      out["G_total"] = value
      continue
    weight = next(w for prefix, w in WEIGHTS[kind] if term.startswith(prefix))
    if hp(weight) == 0:
      assert value == 0, name  # the official trainer logs 0 for a switched-off term
      continue
    out["G_" + term] = hp(weight) * value
  return out


def compare(config, fixture) -> Mismatches:
  """Runs our step from the official initial state on the fixture's batches and draws;
  returns the comparisons with the official step 1 and step 3."""
  mm = Mismatches()
  with jax.enable_x64(True):
    state = initial_state(config, fixture)
    step = lean_jit(munit.make_train_step(config, 1))
    for t in range(1, 4):
      state, metrics = step(state, batch(fixture, t), jax.random.key(0), draws=draws(fixture, t))
      if t not in SAVED:
        continue
      losses = official_losses(fixture, t, config.model_name)
      assert set(losses) <= set(metrics), sorted(set(losses) - set(metrics))
      assert {k for k in metrics if k.startswith(("G_", "D_")) and "_norm" not in k} == set(losses)
      for name, value in losses.items():
        mm.check(f"step{t}/loss/{name}", metrics[name], value)
      mm.check(f"step{t}/lr", metrics["lr"], fixture[f"step{t}/lr"])
      for player, nets in NETS.items():
        mu, nu = adam_moments(getattr(state, OPTIMIZERS[player]))
        for net in nets:
          official = {k: v for k, v in entries(fixture, f"step{t}/{net}").items()
                      if not is_buffer(k)}
          check_arrays(mm, f"step{t}/{net}", official, state.params[player][net], ours)
          check_adam(mm, fixture, f"step{t}/adam/{net}", mu[net], nu[net], ours)
  return mm


def test_fixture_settings_are_our_config(fixture, kind):
  """Every official hyperparameter of the fixture has our config's value: the official
  defaults besides the documented tiny sizes and schedule step (and the official AdaIN
  buffers stay dummies)."""
  c = official_config(kind)
  assert str(fixture["meta/trainer"]) == {"munit": "MUNIT_Trainer", "unit": "UNIT_Trainer"}[kind]
  for key, value in entries(fixture, "meta/hp").items():
    if key in ("init", "display_size"):  # our init is not compared (weights are loaded)
      continue
    assert config_value(c, key) == value.item(), key
  default = load_config(kind)
  m = default.model
  if kind == "munit":
    assert (m.gan_w, m.recon_x_w, m.recon_s_w, m.recon_c_w, m.vgg_w) == (1, 10, 1, 1, 0)
  else:
    assert (m.gan_w, m.recon_x_w, m.recon_kl_w, m.recon_x_cyc_w, m.recon_kl_cyc_w, m.vgg_w) == (
        1, 10, 0.01, 10, 0.01, 0)
  assert default.optimizer.to_dict() == {**c.optimizer.to_dict(), "step_size": 100_000}
  for t in SAVED:
    for net in NETS["G"]:
      for key, value in entries(fixture, f"step{t}/{net}").items():
        if is_buffer(key):
          assert np.array_equal(value, fixture[f"init/{net}/{key}"]), key


def test_three_steps_match_the_official_ones(fixture, kind):
  compare(official_config(kind), fixture).assert_ok()


def test_draws_replace_the_steps_own_codes(fixture, kind):
  c = official_config(kind)
  name = {"munit": "gen_s_b", "unit": "gen_n_b_recon"}[kind]
  with jax.enable_x64(True):
    b = batch(fixture, 1)
    codes = munit.step_codes(c, b, jax.random.key(0), draws(fixture, 1))
    assert {k: v.dtype for k, v in codes.items()} == {k: jnp.float64 for k in codes}
    np.testing.assert_array_equal(codes[name], draws(fixture, 1)[name])
    own = munit.draw_codes(c, b, jax.random.key(0))
    assert set(own) == set(codes) and own[name].dtype == jnp.float64
    with pytest.raises(ValueError, match=f"not drawn by the {kind} step"):
      munit.step_codes(c, b, jax.random.key(0), {"s_c": codes[name]})
    with pytest.raises(ValueError, match=f"draws\\['{name}'\\] has shape"):
      munit.step_codes(c, b, jax.random.key(0), {name: codes[name][:, :1]})


@pytest.mark.slow
@pytest.mark.parametrize("kind, key, value, term", [
    ("munit", "recon_x_cyc_w", 10.5, "cycrecon_x_a"),
    ("unit", "recon_kl_w", 0.0105, "recon_kl_a"),
])
def test_a_wrong_loss_weight_fails_the_comparison(kind, key, value, term):
  c = official_config(kind)
  c.model[key] = value
  with pytest.raises(AssertionError, match=term):
    compare(c, load_fixture(kind)).assert_ok()
