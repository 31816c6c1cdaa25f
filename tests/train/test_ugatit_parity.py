"""U-GAT-IT against the official code in float64: forward and three training iterations.

`tests/fixtures/official_ugatit_steps.npz` is written by
`tests/fixtures/make/ugatit_steps.py` from znxlwm/UGATIT-pytorch commit
b8c4251 (`UGATIT.build_model` and `UGATIT.train`, `main.py`'s defaults at ch
2, n_res 2, 64 px, batch 2, 4 iterations, a 6-layer global D; plus a 7-layer
global D's forward at 128 px). Our step starts from the official initial
weights and spectral-norm vectors, runs on the same batches, and after
iterations 1 and 3 every loss term, the rate, every parameter, every u/v
vector and (iteration 3) both Adam moments must agree to 1e-10 * max(1,
|official|).
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from i2ijax.models import ugatit as models
from i2ijax.train import ugatit
from tests.helpers import lean_jit, load_config
from tests.parity import Mismatches, adam_moments, entries, images, load_fixture, nhwc

NETS = ugatit.GENERATORS + ugatit.DISCRIMINATORS
SAVED = (1, 3)


@pytest.fixture(scope="module")
def fixture():
  return load_fixture("ugatit")


def official_config():
  """Our official defaults at the fixture's sizes."""
  c = load_config("ugatit")
  c.model.ch = 2
  c.model.n_res = 2
  c.model.n_layers_global = 6
  c.data.load_size = c.data.crop_size = 64
  c.batch_size = 2
  c.num_train_steps = 4
  c.model.param_dtype = "float64"
  return c


def variables(fixture, prefix):
  return jax.tree_util.tree_map(jnp.asarray,
                                models.variables_from_torch(entries(fixture, prefix)))


def locate(torch_key: str, value: np.ndarray):
  """(collection, path) of ours and the official value in our layout."""
  tree = models.variables_from_torch({torch_key: value})
  (collection, sub), = [(k, v) for k, v in tree.items() if v]  # the one non-empty collection
  path, leaf = [], sub
  while isinstance(leaf, dict):
    (name, leaf), = leaf.items()
    path.append(name)
  return collection, tuple(path), leaf


def get(tree, path):
  for p in path:
    tree = tree[p]
  return tree


def initial_state(config, fixture):
  abstract = jax.eval_shape(
      lambda k: ugatit.create_state(config, k, ugatit.image_shapes(config), 1), jax.random.key(0))
  state = jax.tree_util.tree_map(lambda s: jnp.zeros(s.shape, s.dtype), abstract)
  loaded = {net: variables(fixture, f"init/{net}") for net in NETS}
  params = {net: loaded[net]["params"] for net in NETS}
  stats = {net: loaded[net]["batch_stats"] for net in NETS}
  shapes = lambda tree: jax.tree_util.tree_map(lambda a: (a.shape, str(a.dtype)), tree)
  assert shapes(params) == shapes(abstract.params)
  assert shapes(stats) == shapes(abstract.batch_stats)
  return state.replace(params=params, batch_stats=stats)


def official_losses(fixture, t, hp) -> dict:
  """{our metric: official value}: the recorded unweighted values, summed and weighted as
  the official L_D and L_G."""
  raw = entries(fixture, f"step{t}/loss")
  out = {}
  for tag in ("GA", "LA", "GB", "LB"):
    for kind in ("ad", "ad_cam"):
      out[f"D_{kind}_{tag}"] = hp.adv_weight * (raw[f"D_{kind}_{tag}_real"]
                                                + raw[f"D_{kind}_{tag}_fake"])
      out[f"G_{kind}_{tag}"] = hp.adv_weight * raw[f"G_{kind}_{tag}"]
  for d in ("A", "B"):
    out[f"G_recon_{d}"] = hp.cycle_weight * raw[f"G_recon_{d}"]
    out[f"G_identity_{d}"] = hp.identity_weight * raw[f"G_identity_{d}"]
    out[f"G_cam_{d}"] = hp.cam_weight * (raw[f"G_cam_{d}_fake"] + raw[f"G_cam_{d}_identity"])
  out["D_total"] = sum(v for k, v in out.items() if k.startswith("D_"))
  out["G_total"] = sum(v for k, v in out.items() if k.startswith("G_"))
  return out


def compare(config, fixture) -> Mismatches:
  mm = Mismatches()
  with jax.enable_x64(True):
    state = initial_state(config, fixture)
    step = lean_jit(ugatit.make_train_step(config, 1))
    for t in range(1, 4):
      batch = {k: images(fixture, f"batch/{t}/{k}") for k in ("A", "B")}
      state, metrics = step(state, batch, jax.random.key(0))
      if t not in SAVED:
        continue
      for name, value in official_losses(fixture, t, config.model).items():
        mm.check(f"step{t}/loss/{name}", metrics[name], value)
      mm.check(f"step{t}/lr", metrics["lr"], fixture[f"step{t}/lr"])
      trees = {"params": state.params, "batch_stats": state.batch_stats}
      for net in NETS:
        for key, value in entries(fixture, f"step{t}/{net}").items():
          collection, path, want = locate(key, value)
          mm.check(f"step{t}/{net}/{key}", get(trees[collection][net], path), want)
      if t == 3:
        for player, opt_state in (("G", state.g_opt_state), ("D", state.d_opt_state)):
          mu, nu = adam_moments(opt_state)
          nets = ugatit.GENERATORS if player == "G" else ugatit.DISCRIMINATORS
          covered = 0
          for net in nets:
            for key, value in entries(fixture, f"step3/adam/{net}").items():
              torch_key, which = key.rsplit("/", 1)
              _, path, want = locate(torch_key, value)
              mm.check(f"step3/adam/{net}/{key}", get((mu if which == "m" else nu)[net], path),
                       want)
              covered += 1
          assert covered == 2 * len(jax.tree_util.tree_leaves(mu))
  return mm


def test_fixture_settings_are_our_defaults(fixture):
  """The fixture ran main.py's defaults except the documented sizes, and those are ours."""
  c = official_config()
  hp = {k: v.item() for k, v in entries(fixture, "meta/hp").items()}
  assert hp.pop("ch") == c.model.ch and hp.pop("n_res") == c.model.n_res
  assert hp.pop("img_size") == c.data.crop_size and hp.pop("batch_size") == c.batch_size
  assert hp.pop("iteration") == c.num_train_steps
  assert int(fixture["meta/global_layers"]) == c.model.n_layers_global
  default = load_config("ugatit")
  m, o = default.model, default.optimizer
  assert hp == {"light": m.light, "print_freq": default.sample_every_steps,
                "save_freq": default.checkpoint_every_steps, "decay_flag": o.lr_policy == "official",
                "lr": o.lr, "weight_decay": o.weight_decay, "adv_weight": m.adv_weight,
                "cycle_weight": m.cycle_weight, "identity_weight": m.identity_weight,
                "cam_weight": m.cam_weight, "n_dis": 6, "img_ch": default.data.input_nc}
  assert (m.ch, m.n_res, m.n_layers_global, m.n_layers_local) == (64, 4, 7, 5)
  assert (default.data.crop_size, default.data.load_size, default.batch_size,
          default.num_train_steps) == (256, 286, 1, 1_000_000)
  assert (o.beta1, o.beta2) == (0.5, 0.999)


def test_forward_matches_the_official_networks(fixture):
  c = official_config()
  nets = ugatit.build_models(c)
  mm = Mismatches()
  with jax.enable_x64(True):
    x = images(fixture, "batch/1/A")
    for net in NETS:
      v = variables(fixture, f"init/{net}")
      if net.startswith("gen"):
        out = nets[net].apply({"params": v["params"]}, x)
      else:
        out = nets[net].apply(v, x, update=False)
      for name, y in zip(("out", "cam_logit", "heatmap"), out):
        mm.check(f"{net}/{name}", y, nhwc(fixture[f"forward/{net}/{name}"]))
    d7 = models.Discriminator(c.model.ch, 7, param_dtype=jnp.float64)
    out = d7.apply(variables(fixture, "forward/disG7/init"), images(fixture, "forward/disG7/x"),
                   update=False)
    for name, y in zip(("out", "cam_logit", "heatmap"), out):
      mm.check(f"disG7/{name}", y, nhwc(fixture[f"forward/disG7/{name}"]))
  mm.assert_ok()


def test_three_iterations_match_the_official_ones(fixture):
  compare(official_config(), fixture).assert_ok()


@pytest.mark.slow
def test_a_wrong_cam_weight_fails_the_comparison(fixture):
  c = official_config()
  c.model.cam_weight = 1000.5
  mm = compare(c, fixture)
  assert any("loss/G_cam_A" in what for _, what, _ in mm.bad), mm.bad[:3]
  with pytest.raises(AssertionError, match="differ from the official step"):
    mm.assert_ok()
