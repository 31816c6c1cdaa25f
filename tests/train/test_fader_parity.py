"""Fader Networks against the official Trainer, in float64: the forward passes and three
training iterations.

`tests/fixtures/official_fader_steps.npz` (written by
`tests/fixtures/make/fader_steps.py` from facebookresearch/FaderNetworks commit
cdd9e50) holds an official run at tiny widths (32 px, n_layers 3, widths
3-6-10, latent discriminator convs 10-10, hid_dim 7, attributes Male and
Smiling, batch 3, lambda_ae 1.3, lambda_lat_dis 0.37 ramped over 2 iterations,
clip_grad_norm 0.265, Adam 2e-4 / 3e-4 with beta1 0.5), with every BatchNorm
re-drawn. Each iteration is the official `lat_dis_step` on its own batch
(dropout 0.3 with recorded masks, which our step takes as draws), then
`autoencoder_step` on another batch against the updated, eval-mode latent
discriminator. After iterations 1 and 3 every loss, the lambda, the gradient
norms before clipping, every parameter, every BatchNorm running mean and
variance, and both Adam moments of both optimizers must agree with the official
ones to 1e-10 * max(1, |official|).
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from i2ijax.models.fader import autoencoder_torch_layers, latent_discriminator_torch_layers
from i2ijax.train import fader
from i2ijax.train.loop import jit_once
from tests.helpers import lean_jit, load_config
from i2ijax.convert import torch_keys
from i2ijax.registry import TorchNetwork
from tests.parity import (Mismatches, adam_moments, check_adam, check_arrays, entries, images,
                          load_fixture, nhwc, param_locator, set_path, to_flax)

NETS = ("ae", "lat_dis")


@pytest.fixture(scope="module")
def fixture():
  return load_fixture("fader")


def official_config(fixture):
  """`configs/fader.py` (the official defaults) at the fixture's sizes and weights."""
  meta = lambda k: fixture[f"meta/{k}"].item()
  c = load_config("fader")
  c.data.crop_size = meta("img_sz")
  m = c.model
  m.attrs = "Male,Smiling"
  for key in ("init_fm", "max_fm", "n_layers", "hid_dim", "lat_dis_dropout", "lambda_ae",
              "lambda_lat_dis", "lambda_schedule", "clip_grad_norm"):
    m[key] = meta(key)
  c.optimizer.ae_lr, c.optimizer.dis_lr = meta("ae_lr"), meta("dis_lr")
  c.batch_size = meta("batch_size")
  m.param_dtype = "float64"
  return c


def batch_and_draws(fixture, t):
  """Our batch and dropout masks of iteration t."""
  label = lambda k: jnp.asarray(fixture[f"batch/{t}/{k}"])
  batch = {"x": images(fixture, f"batch/{t}/x"), "label": label("label"),
           "x_lat": images(fixture, f"batch/{t}/x_lat")[:, None],
           "label_lat": label("label_lat")[:, None]}
  masks = [jnp.asarray(nhwc(fixture[f"draw/{t}/mask{k}"])) for k in range(2)]
  return batch, {"lat_masks": [masks]}


def layer_maps(config) -> dict:
  m = config.model
  return {"ae": autoencoder_torch_layers(m.n_layers),
          "lat_dis": latent_discriminator_torch_layers(5 - m.n_layers)}


def aligned_state(config, fixture):
  """Our state with the official initial weights, placed by the declared {our layer:
  official module} maps (`convert.torch_keys`), which must cover every official key with
  matching shapes; returns (state, {net: {official key: our path from the variables}})."""
  state = jit_once(lambda key: fader.create_state(config, key, fader.image_shapes(config), 3))(
      jax.random.key(0))
  paths, params, stats = {}, {}, {}
  for net, layers in layer_maps(config).items():
    variables = {"params": state.params[net], "batch_stats": state.batch_stats[net]}
    keys = torch_keys(variables, TorchNetwork(net, (), "", layers))
    init = entries(fixture, f"init/{net}")
    assert set(keys) == {k for k in init if not k.endswith("num_batches_tracked")}
    tree = jax.tree_util.tree_map(np.asarray, variables)
    paths[net] = {}
    for key, (collection, path, shape, _) in keys.items():
      assert tuple(init[key].shape) == shape, (key, init[key].shape, shape)
      paths[net][key] = (collection, *path)
      set_path(tree, (collection, *path), jnp.asarray(to_flax(key, init[key]), jnp.float64))
    params[net], stats[net] = tree["params"], tree["batch_stats"]
  return state.replace(params=params, batch_stats=stats), paths


def compare(config, fixture) -> Mismatches:
  mm = Mismatches()
  with jax.enable_x64(True):
    state, paths = aligned_state(config, fixture)
    step = lean_jit(fader.make_train_step(config, 3))
    lambda_ae = config.model.lambda_ae
    for t in range(1, 4):
      batch, draws = batch_and_draws(fixture, t)
      state, metrics = step(state, batch, jax.random.key(0), draws=draws)
      mm.check(f"step{t}/lambda", metrics["lambda_lat"], fixture[f"step{t}/lambda"])
      mm.check(f"step{t}/loss/lat_dis", metrics["lat_dis_loss"], fixture[f"step{t}/loss/lat_dis"])
      mm.check(f"step{t}/loss/rec", lambda_ae * metrics["rec_loss"], fixture[f"step{t}/loss/rec"])
      mm.check(f"step{t}/loss/lat", metrics["lat_loss"], fixture[f"step{t}/loss/lat"])
      total = fixture[f"step{t}/loss/rec"] + fixture[f"step{t}/lambda"] * fixture[f"step{t}/loss/lat"]
      mm.check(f"step{t}/loss/ae_total", metrics["ae_loss"], total)
      for net in NETS:
        mm.check(f"step{t}/norm/{net}", metrics[f"{net}_grad_norm"], fixture[f"step{t}/norm/{net}"])
      if t not in (1, 3):
        continue
      for net in NETS:
        ours = {"params": state.params[net], "batch_stats": state.batch_stats[net]}
        check_arrays(mm, f"step{t}/{net}", entries(fixture, f"step{t}/{net}"), ours,
                     lambda key, value, net=net: (paths[net][key], to_flax(key, value)))
        mu, nu = adam_moments(state.opt_state[net])
        check_adam(mm, fixture, f"step{t}/adam/{net}", mu, nu, param_locator(paths[net]))
  return mm


def test_three_iterations_match_the_official_trainer(fixture):
  config = official_config(fixture)
  # The fixture exercises what it claims: the ramp (0, half, full), clipping that binds in
  # some autoencoder steps and not in others, and the discriminator's eval-mode dropout in
  # every autoencoder step (2 layers x 3 steps) plus the forward extra's 2.
  lambdas = [float(fixture[f"step{t}/lambda"]) for t in (1, 2, 3)]
  assert lambdas == pytest.approx([0.0, 0.185, 0.37])
  ae_norms = [float(fixture[f"step{t}/norm/ae"]) for t in (1, 2, 3)]
  clip = config.model.clip_grad_norm
  assert ae_norms[0] < clip < ae_norms[1] < ae_norms[2]
  assert int(fixture["meta/eval_dropout_calls"]) == 8
  compare(config, fixture).assert_ok()


def test_forward_matches_the_official_networks(fixture):
  config = official_config(fixture)
  mm = Mismatches()
  with jax.enable_x64(True):
    state, _ = aligned_state(config, fixture)
    nets = fader.build_models(config)
    AE, D = nets["ae"], nets["lat_dis"]
    x = images(fixture, "forward/x")
    code = jnp.asarray(fixture["forward/y"])
    v = {"params": state.params["ae"], "batch_stats": state.batch_stats["ae"]}
    (z, out), upd = AE.apply(v, x, code, train=True, mutable=["batch_stats"])
    mm.check("forward/ae_train_z", z, nhwc(fixture["forward/ae_train_z"]))
    mm.check("forward/ae_train_out", out, nhwc(fixture["forward/ae_train_out"]))
    # Eval mode normalises with the running averages that train-mode forward updated.
    z_eval, out_eval = AE.apply({"params": v["params"], **upd}, x, code, train=False)
    mm.check("forward/ae_eval_z", z_eval, nhwc(fixture["forward/ae_eval_z"]))
    mm.check("forward/ae_eval_out", out_eval, nhwc(fixture["forward/ae_eval_out"]))
    assert float(jnp.max(jnp.abs(out_eval - out))) > 1e-3  # the two modes really differ
    logits = D.apply({"params": state.params["lat_dis"],
                      "batch_stats": state.batch_stats["lat_dis"]}, z_eval, train=False)
    mm.check("forward/lat_dis_eval", logits, fixture["forward/lat_dis_eval"])
  mm.assert_ok()


@pytest.mark.slow
def test_an_unflipped_encoder_loss_fails_the_comparison(fixture, monkeypatch):
  """The flipped labels matter: with the true labels in the encoder's latent loss the
  comparison fails; in iteration 1 (lambda 0) only in that loss's value, from iteration 2
  on in the weights too."""
  real = fader.losses.pairwise_attribute_loss
  monkeypatch.setattr(fader.losses, "pairwise_attribute_loss",
                      lambda logits, labels, flip=False: real(logits, labels, False))
  mm = compare(official_config(fixture), fixture)
  wrong = {what for _, what, _ in mm.bad}
  assert "step2/loss/lat" in wrong and "step3/ae/enc_layers.0.0.weight" in wrong
  assert {w for w in wrong if w.startswith("step1/")} == {"step1/loss/lat"}
  with pytest.raises(AssertionError, match="differ from the official step"):
    mm.assert_ok()


@pytest.mark.slow
def test_unclipped_gradients_fail_the_comparison(fixture):
  """Clipping matters: without it the discriminator's first update (norm 1.75 > 0.265)
  already differs, while the autoencoder's first (norm 0.263, unclipped) does not."""
  config = official_config(fixture)
  config.model.clip_grad_norm = 0.0
  mm = compare(config, fixture)
  wrong = {what for _, what, _ in mm.bad}
  assert "step1/lat_dis/proj_layers.2.bias" in wrong
  assert "step1/adam/lat_dis/proj_layers.2.bias/m" in wrong
  assert not any(w.startswith("step1/ae/") or w.startswith("step1/adam/ae/") for w in wrong)
  with pytest.raises(AssertionError, match="differ from the official step"):
    mm.assert_ok()
