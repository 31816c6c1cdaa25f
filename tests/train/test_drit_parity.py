"""DRIT++ against the official code in float64: forward and seven training batches.

`tests/fixtures/official_drit_steps.npz` is written by
`tests/fixtures/make/drit_steps.py` from HsinYingLee/DRIT commit f19f50a
(`train.main()` with its defaults at widths / 32, `--n_ep 3 --n_ep_decay 0`,
4 batches per epoch: content-D-only, content-D-only, full, full, content-D-only,
content-D-only, full). Our step starts from the official initial weights,
runs on the same batches and random draws, and after every batch each loss
the official model reports and the rate, and after batches 3 and 7 every
parameter and (batch 7) every Adam moment, must agree to 1e-10 * max(1,
|official|).
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from i2ijax.models import drit as models
from i2ijax.train import drit
from tests.helpers import load_config
from tests.parity import Mismatches, adam_moments, entries, load_fixture, nhwc

DATASET_SIZE = 8  # 4 batches of 2 per epoch
# official optimizer -> (our Adam state, our network)
OPTIMIZERS = {"disA_opt": ("dis", "disA"), "disA2_opt": ("dis", "disA2"),
              "disContent_opt": ("disContent", None), "enc_c_opt": ("enc_c_gen", "enc_c"),
              "enc_a_opt": ("enc_a", None), "gen_opt": ("enc_c_gen", "gen")}


@pytest.fixture(scope="module")
def fixture():
  return load_fixture("drit")


def official_config():
  """Our official defaults at the fixture's sizes."""
  c = load_config("drit")
  c.model.ch = 2
  c.optimizer.n_epochs = 0  # --n_ep_decay 0
  c.optimizer.n_epochs_decay = 3  # --n_ep 3
  c.model.param_dtype = "float64"
  return c


def templates(config):
  abstract = jax.eval_shape(
      lambda k: drit.create_state(config, k, drit.image_shapes(config), DATASET_SIZE),
      jax.random.key(0))
  return abstract


def official_params(fixture, prefix, template):
  return {net: models.variables_from_torch(entries(fixture, f"{prefix}/{net}"), template[net])
          for net in drit.NETS}


def batches(fixture):
  """The fixture's batches, regenerated from its seed as the recording script made them."""
  rng = np.random.default_rng(int(fixture["meta/batch_seed"]))
  size, n = int(fixture["meta/size"]), int(fixture["meta/batch"])
  out = []
  for _ in range(7):
    b = {d: rng.integers(0, 256, (n, 3, size, size), np.uint8) for d in ("A", "B")}
    out.append({d: jnp.asarray(nhwc(v).astype(np.float64) / 127.5 - 1.0) for d, v in b.items()})
  return out


def draws(fixture):
  """Per batch, the official draws (numpy's generator in call order) by our names."""
  rng = np.random.default_rng(int(fixture["meta/draw_seed"]))
  out = []
  for t in range(1, 8):
    shapes = [tuple(int(d) for d in s if d) for s in fixture[f"batch{t}/draws"]]
    values = [nhwc(rng.standard_normal(s)) for s in shapes]
    names = drit.DRAWS[:len(values)]
    assert len(values) in (2, len(drit.DRAWS)), shapes
    assert all(("noise" in k) == (v.ndim == 4) for k, v in zip(names, values))
    out.append({k: jnp.asarray(v) for k, v in zip(names, values)})
  return out


def compare(config, fixture, last: int = 7) -> Mismatches:
  """Runs batches 1..last (the recorded 7 by default) and compares them."""
  mm = Mismatches()
  with jax.enable_x64(True):
    abstract = templates(config)
    params = jax.tree_util.tree_map(jnp.asarray,
                                    official_params(fixture, "init", abstract.params))
    shapes = lambda tree: jax.tree_util.tree_map(lambda a: (a.shape, str(a.dtype)), tree)
    assert shapes(params) == shapes(abstract.params)
    # A fresh state is all zeros but the parameters (Adam: count 0, moments 0).
    state = jax.tree_util.tree_map(lambda s: jnp.zeros(s.shape, s.dtype),
                                   abstract).replace(params=params)
    step = jax.jit(drit.make_train_step(config, DATASET_SIZE), static_argnames=("phase",))
    for t, (batch, d) in enumerate(zip(batches(fixture)[:last], draws(fixture)), start=1):
      phase = drit.full_update(config, t - 1, DATASET_SIZE)
      assert phase == (len(d) == len(drit.DRAWS)), t
      state, metrics = step(state, batch, jax.random.key(0), draws=d, phase=phase)
      official = entries(fixture, f"batch{t}/loss")
      assert set(official) <= set(metrics), sorted(set(official) - set(metrics))
      for name, value in official.items():
        mm.check(f"batch{t}/loss/{name}", metrics[name], value)
      mm.check(f"batch{t}/lr", metrics["lr"], fixture[f"batch{t}/lr"])
      if f"after{t}/gen/dec_share.0.model.1.weight" not in fixture:
        continue
      want = official_params(fixture, f"after{t}", abstract.params)
      for net in drit.NETS:
        for path, value in _leaves(want[net]):
          mm.check(f"after{t}/{net}/{'/'.join(path)}", _get(state.params[net], path), value)
      if t == 7:
        for opt, (group, net) in OPTIMIZERS.items():
          mu, nu = adam_moments(state.opt_state[group])
          mu, nu = (mu[net], nu[net]) if net else (mu, nu)
          official_net = net or group
          moments = entries(fixture, f"after7/adam/{opt}/{official_net}")
          for which, ours in (("m", mu), ("v", nu)):
            sd = {k[:-2]: v for k, v in moments.items() if k.endswith("/" + which)}
            tree = models.variables_from_torch(sd, abstract.params[official_net])
            for path, value in _leaves(tree):
              mm.check(f"after7/adam/{opt}/{'/'.join(path)}/{which}", _get(ours, path), value)
  return mm


def _leaves(tree, prefix=()):
  for k, v in tree.items():
    if isinstance(v, dict):
      yield from _leaves(v, prefix + (k,))
    else:
      yield prefix + (k,), v


def _get(tree, path):
  for p in path:
    tree = tree[p]
  return tree


def test_fixture_counts_are_ours(fixture):
  """The official networks at their default widths have our parameter counts (also the
  issue's numbers)."""
  from i2ijax.models.layers import count_params
  c = load_config("drit")
  abstract = templates(c)
  ours = {net: count_params(abstract.params[net]) for net in drit.NETS}
  assert {k: int(v) for k, v in entries(fixture, "meta/counts").items()} == {
      "enc_c": ours["enc_c"], "enc_a": ours["enc_a"], "gen": ours["gen"],
      "disA": ours["disA"], "disContent": ours["disContent"]}
  assert (ours["enc_c"], ours["enc_a"], ours["gen"], ours["disA"], ours["disContent"]) == (
      9_018_112, 2_688_160, 9_564_710, 8_271_171, 10_683_649)


def test_forward_matches_the_official_networks(fixture):
  c = official_config()
  nets = drit.build_models(c)
  mm = Mismatches()
  with jax.enable_x64(True):
    params = official_params(fixture, "init", templates(c).params)
    x = batches(fixture)[0]
    xa, xb = x["A"][:1], x["B"][:1]
    corner = lambda y: y[:, :64, :64]
    apply = lambda net, *a, **k: nets[net].apply({"params": params[net]}, *a, **k)
    ca = apply("enc_c", "A", corner(xa), None, method="encode")
    cb = apply("enc_c", "B", corner(xb), None, method="encode")
    mm.check("content_A", ca, nhwc(fixture["forward/content_A"]))
    mm.check("content_B", cb, nhwc(fixture["forward/content_B"]))
    for d, xd in (("A", xa), ("B", xb)):
      mu, logvar = apply("enc_a", d, xd, method="encode")
      mm.check(f"mu_{d}", mu, fixture[f"forward/mu_{d}"])
      mm.check(f"logvar_{d}", logvar, fixture[f"forward/logvar_{d}"])
    z = jnp.asarray(fixture["forward/z"])
    mm.check("gen_A", apply("gen", "A", cb, z, method="decode"), nhwc(fixture["forward/gen_A"]))
    mm.check("gen_B", apply("gen", "B", ca, z, method="decode"), nhwc(fixture["forward/gen_B"]))
    full_content = apply("enc_c", "A", xa, None, method="encode")
    mm.check("disContent", apply("disContent", full_content), fixture["forward/disContent"])
    for k, y in enumerate(apply("disA", xa)):
      mm.check(f"disA_{k}", y, nhwc(fixture[f"forward/disA_{k}"]))
  mm.assert_ok()


def test_seven_batches_match_the_official_ones(fixture):
  compare(official_config(), fixture).assert_ok()


@pytest.mark.slow
def test_a_wrong_content_discriminator_rate_fails_the_comparison(fixture):
  """lr / 2.4 instead of / 2.5: batch 1's update of disContent differs, so batch 2's loss does
  (two content-only batches: only the cheap program compiles)."""
  c = official_config()
  c.model.content_lr_divisor = 2.4
  mm = compare(c, fixture, last=2)
  assert any("batch2/loss/disContent" in what for _, what, _ in mm.bad), mm.bad[:3]
  assert not any("batch1/" in what for _, what, _ in mm.bad), mm.bad[:3]
  with pytest.raises(AssertionError, match="differ from the official step"):
    mm.assert_ok()
