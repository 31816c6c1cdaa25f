"""StarGAN against the official solver, in float64: the forward pass and three training steps.

`tests/fixtures/official_stargan_steps.npz` (written by
`tests/fixtures/make/stargan_steps.py` from yunjey/stargan commit 94dd002)
holds three official runs at tiny widths (32 px, G 2-4-8 with 2 residual
blocks, D 3-6-12, batch 3, n_critic 1 so G steps every iteration, distinct
loss weights lambda_cls 1.3, lambda_rec 9.7, lambda_gp 10.3, g_lr 1e-4, d_lr
2e-4 and the official decay over the last 2 iterations, stepped every
iteration): CelebA-style multi-label data (c_dim 5, BCE), RaFD-style
single-label data (4 classes, softmax cross-entropy), and joint training on
both (mask vectors, 2 iterations). Our step starts from the official initial
weights and running statistics, takes the same batches and the official
draws (torch.randperm of the labels, torch.rand of the penalty's alphas), and
after steps 1 and 3 (joint: 1 and 2) every loss term, every parameter, every
instance-norm running mean and variance, and both Adam moments of both
optimizers must agree with the official ones to 1e-10 * max(1, |official|).
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from i2ijax.train import stargan
from tests.helpers import lean_jit, load_config
from tests.parity import (Mismatches, adam_moments, check_adam, check_arrays, entries, images,
                          load_aligned, load_fixture, nhwc, param_locator, to_flax)

NETS = ("G", "D")
LOSS_NAMES = ("D_loss", "D_loss_real", "D_loss_fake", "D_loss_cls", "D_loss_gp", "G_loss",
              "G_loss_fake", "G_loss_rec", "G_loss_cls")
RUNS = {"celeba": (3, (1, 3)), "rafd": (3, (1, 3)), "joint": (2, (1, 2))}


@pytest.fixture(scope="module")
def fixture():
  return load_fixture("stargan")


def official_config(fixture, run: str):
  """`configs/stargan.py` (the official CelebA defaults) at the fixture's sizes and weights."""
  meta = lambda k: fixture[f"meta/{k}"].item()
  c = load_config("stargan")
  c.data.crop_size = meta("image_size")
  m, o = c.model, c.optimizer
  m.g_conv_dim, m.d_conv_dim = meta("g_conv_dim"), meta("d_conv_dim")
  m.g_repeat_num, m.d_repeat_num = meta("g_repeat_num"), meta("d_repeat_num")
  m.n_critic = meta("n_critic")
  m.lambda_cls, m.lambda_rec, m.lambda_gp = meta("lambda_cls"), meta("lambda_rec"), meta("lambda_gp")
  o.g_lr, o.d_lr = meta("g_lr"), meta("d_lr")
  o.num_iters_decay, o.lr_update_step = meta("num_iters_decay"), meta("lr_update_step")
  c.batch_size = meta("batch_size")
  c.num_train_steps = RUNS[run][0]
  m.param_dtype = "float64"
  if run == "rafd":
    m.attrs = ",".join(f"class{k}" for k in range(meta("c2_dim")))
    m.groups = ""
    m.single_label = True
  if run == "joint":
    m.c2_dim = meta("c2_dim")
  return c


def one_hot(labels, k):
  return np.eye(k)[np.asarray(labels)]


def batch_and_draws(fixture, run, t, c2_dim):
  """Our batch and draws of iteration t (labels of single-label data one-hot)."""
  def part(prefix, draw):
    label = fixture[f"{prefix}/label"]
    if label.dtype.kind == "i":
      label = one_hot(label, c2_dim)
    return (images(fixture, f"{prefix}/x"), jnp.asarray(label, jnp.float64),
            {"perm": jnp.asarray(fixture[f"{draw}/perm"]),
             "alpha": jnp.asarray(nhwc(fixture[f"{draw}/alpha"]))})
  if run != "joint":
    x, label, draws = part(f"{run}/batch/{t}", f"{run}/draw/{t}")
    return {"x": x, "label": label}, draws
  x, label, d1 = part(f"joint/batch/{t}/CelebA", f"joint/draw/{t}/CelebA")
  x2, label2, d2 = part(f"joint/batch/{t}/RaFD", f"joint/draw/{t}/RaFD")
  return {"x": x, "label": label, "x2": x2, "label2": label2}, [d1, d2]


def loss_names(run):
  """{official loss key: our metric} of one iteration."""
  if run != "joint":
    return {n: n for n in LOSS_NAMES}
  return {f"{ds}/{n}": f"data{k}_{n}" for k, ds in enumerate(("CelebA", "RaFD")) for n in LOSS_NAMES}


def compare(config, fixture, run) -> Mismatches:
  mm = Mismatches()
  steps, saved = RUNS[run]
  c2_dim = fixture["meta/c2_dim"].item()
  with jax.enable_x64(True):
    state = stargan.create_state(config, jax.random.key(0), stargan.image_shapes(config), 3)
    inits = {net: {"params": state.params[net], "batch_stats": state.batch_stats[net]}
             for net in NETS}
    fx = {k[len(run) + 1:]: v for k, v in fixture.items() if k.startswith(run + "/")}
    paths, params, stats = load_aligned(fx, state.params, state.batch_stats, NETS)
    assert set(paths["G"]) >= {k for k in entries(fx, "init/G") if k.endswith("running_var")}
    state = state.replace(params=params, batch_stats=stats)
    step = lean_jit(stargan.make_train_step(config, 3))
    for t in range(1, steps + 1):
      batch, draws = batch_and_draws(fixture, run, t, c2_dim)
      # The rates the official iteration t used.
      for name, key in (("d_lr", "d"), ("g_lr", "g")):
        lr = stargan.learning_rate_at(config, config.optimizer[name], t - 1)
        mm.check(f"step{t}/lr/{key}", lr, fx[f"step{t}/lr/{key}"])
      state, metrics = step(state, batch, jax.random.key(0), draws=draws)
      official = entries(fx, f"step{t}/loss")
      names = loss_names(run)
      assert set(official) == set(names), sorted(official)
      for name, value in official.items():
        mm.check(f"{run}/step{t}/loss/{name}", metrics[names[name]], value)
      if t not in saved:
        continue
      for net in NETS:
        ours = {"params": state.params[net], "batch_stats": state.batch_stats[net]}
        check_arrays(mm, f"{run}/step{t}/{net}", entries(fx, f"step{t}/{net}"), ours,
                     lambda key, value, net=net: (paths[net][key], to_flax(key, value)))
        mu, nu = adam_moments(state.opt_state[net])
        check_adam(mm, fx, f"step{t}/adam/{net}", mu, nu, param_locator(paths[net]))
    del inits
  return mm


@pytest.mark.parametrize("run", sorted(RUNS))
def test_steps_match_the_official_solver(fixture, run):
  compare(official_config(fixture, run), fixture, run).assert_ok()


def test_forward_matches_the_official_networks_with_running_statistics(fixture):
  config = official_config(fixture, "celeba")
  mm = Mismatches()
  with jax.enable_x64(True):
    state = stargan.create_state(config, jax.random.key(0), stargan.image_shapes(config), 3)
    fx = {k[len("celeba/"):]: v for k, v in fixture.items() if k.startswith("celeba/")}
    paths, params, stats = load_aligned(fx, state.params, state.batch_stats, NETS)
    nets = stargan.build_models(config)
    x = images(fixture, "forward/x")
    c = jnp.asarray(fixture["forward/c"])
    # Training mode (the official code's only mode): instance statistics, running stats updated.
    out, upd = nets["G"].apply({"params": params["G"], "batch_stats": stats["G"]}, x, c,
                               train=True, mutable=["batch_stats"])
    mm.check("forward/G_train_out", out, nhwc(fixture["forward/G_train_out"]))
    after = entries(fixture, "forward/G_after")
    assert len(after) == 2 * 9  # 9 instance norms at g_repeat_num 2
    for key, value in after.items():
      path = paths["G"][key]
      assert path[0] == "batch_stats"
      node = upd["batch_stats"]
      for name in path[1:]:
        node = node[name]
      mm.check(f"forward/G_after/{key}", node, value)
    # Eval mode (`G.eval()`): the updated running statistics normalise.
    out_eval = nets["G"].apply({"params": params["G"], "batch_stats": upd["batch_stats"]}, x, c,
                               train=False)
    mm.check("forward/G_eval_out", out_eval, nhwc(fixture["forward/G_eval_out"]))
    assert float(jnp.max(jnp.abs(out_eval - out))) > 1e-3  # the two modes really differ
    src, cls = nets["D"].apply({"params": params["D"]}, x)
    mm.check("forward/D_src", src, nhwc(fixture["forward/D_src"]))
    mm.check("forward/D_cls", cls, fixture["forward/D_cls"])
  mm.assert_ok()


@pytest.mark.slow
def test_a_wrong_reconstruction_weight_fails_the_comparison(fixture):
  config = official_config(fixture, "celeba")
  config.model.lambda_rec = 9.8
  mm = compare(config, fixture, "celeba")
  with pytest.raises(AssertionError, match="differ from the official step"):
    mm.assert_ok()
  wrong = {what for _, what, _ in mm.bad}
  assert "celeba/step1/loss/G_loss" in wrong
  assert "celeba/step1/loss/D_loss" not in wrong  # D steps first and does not see the weight
