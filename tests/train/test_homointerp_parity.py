"""HomoInterpGAN against the official optimizer, in float64: three training steps.

`tests/fixtures/official_homointerp_steps.npz` (written by
`tests/fixtures/make/homointerp_steps.py` from yingcong/HomoInterpGAN commit
b32f4af) holds the official networks at 1/32 width (VGG nChannel 2: a
16-channel relu5_1; decoder, interpolator, KG transform and discriminator
scaled alike), 128 px images, batch 2, attribute groups "A@B,C" (3
interpolator branches), and `optimize_parameters` for global steps 0, 1, 2:
the encoder and interpolator update in step 0 only (n_discrim 5). Our step
starts from the official initial weights and the same VGG19 file, takes the
same batches and the official draws (v, the permutation, alpha), and every
loss term of every step, every parameter and BatchNorm running statistic
after steps 1 and 3, and every Adam moment after step 3 must agree with the
official ones to 1e-10 * max(1, |official|).

Except where the exact gradient is zero: the bias of a conv that a
normalisation follows (the discriminator's convs before its instance norms,
the decoder's before its BatchNorms) cancels in the norm, so both sides'
gradients there are float noise (about 1e-11 next to the penalty's large
gradients), which Adam turns into steps of up to the learning rate in random
directions. Those biases, and the BatchNorm running means they shift, are
held to the envelope of such steps, 2 * lr per update so far.
"""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from i2ijax.train import homointerp
from tests.helpers import lean_jit, load_config
from tests.parity import (Mismatches, adam_moments, align_by_order, check_adam, check_arrays,
                          entries, images, load_aligned, load_fixture, nhwc, param_locator,
                          to_flax, tree_from_torch)

NETS = ("E", "T", "Dec", "D", "KG")
STEPS = 3


def normalised_away(net: str, key: str, arrays) -> bool:
  """Whether official `key` of `net` is a conv bias a norm cancels (or a running mean it
  shifts): D's convs 0, 3, 6 (each before an InstanceNorm2d), Dec's convs i with a
  BatchNorm2d at i + 1 (every conv but the last) and those norms' running means."""
  if net == "D":
    return key in ("model.0.bias", "model.3.bias", "model.6.bias")
  if net == "Dec":
    if key.endswith("running_mean"):
      return True
    parts = key.split(".")
    if parts[-1] == "bias" and parts[-2].isdigit():
      return f"module.model.{int(parts[-2]) + 1}.running_mean" in arrays
  return False


@pytest.fixture(scope="module")
def fixture():
  return load_fixture("homointerp")


def official_config(fixture):
  """`configs/homointerp.py` (the official defaults) at the fixture's widths and sizes."""
  meta = lambda k: fixture[f"meta/{k}"].item()
  scale = meta("width_scale")
  c = load_config("homointerp")
  c.data.crop_size = meta("image_size")
  c.model.attrs = meta("attr")
  c.model.vgg_width = meta("vgg_nchannel")
  assert 8 * c.model.vgg_width == 512 // scale
  c.model.d_conv_dim = 256 // scale
  c.model.n_discrim = meta("n_discrim")
  c.model.param_dtype = "float64"
  c.batch_size = meta("batch_size")
  return c


def batch_and_draws(fixture, t):
  labels = [fixture[f"batch/{t}/label/{g}"] for g in range(2)]
  batch = {"x": images(fixture, f"batch/{t}/x"),
           "label": jnp.asarray(np.concatenate(labels, axis=1), jnp.float64)}
  draws = {"v": jnp.asarray(fixture[f"draw/{t}/v"]), "perm": jnp.asarray(fixture[f"draw/{t}/perm"]),
           "alpha": jnp.asarray(nhwc(fixture[f"draw/{t}/alpha"]))}
  return batch, draws


def compare(config, fixture, steps: int = STEPS) -> tuple[Mismatches, Mismatches]:
  """(the comparisons at 1e-10, those of the biases norms cancel at their noise envelope)."""
  mm = Mismatches()
  noise = {}
  with jax.enable_x64(True):
    state = homointerp.create_state(config, jax.random.key(0), homointerp.image_shapes(config), 2)
    stats = {n: state.batch_stats.get(n, {}) for n in NETS}
    paths, params, new_stats = load_aligned(fixture, state.params, stats, NETS)
    vgg_sd = entries(fixture, "vgg")
    vgg_paths = align_by_order(vgg_sd, {k: v.shape for k, v in vgg_sd.items()},
                               {"params": state.params["E"]})
    vgg = tree_from_torch(vgg_sd, vgg_paths, {"params": state.params["E"]},
                          cast=lambda a: jnp.asarray(a, jnp.float64))["params"]
    # The encoder starts from the VGG19 file, as the teacher and the perceptual network.
    for key, value in entries(fixture, "init/E").items():
      mm.check(f"init/E/{key}", value, vgg_sd[key.replace("module.model.", "")])
    if config.model.decoder_path:  # Dec as our reader loaded it from the official state_dict
      params = {**params, "Dec": state.params["Dec"]}
      new_stats = {**new_stats, "Dec": state.batch_stats["Dec"]}
    state = state.replace(params=params, batch_stats={"Dec": new_stats["Dec"]}, vgg=vgg)
    step_fn = homointerp.make_train_step(config, 2)
    compiled = {}
    for t in range(1, steps + 1):
      batch, draws = batch_and_draws(fixture, t)
      phase = homointerp.encoder_updates(config, t - 1)
      if phase not in compiled:
        compiled[phase] = lean_jit(functools.partial(step_fn, phase=phase))
      state, metrics = compiled[phase](state, batch, jax.random.key(0), draws=draws)
      official = entries(fixture, f"step{t}/loss")
      expected = {"dec", "dec_per", "dec_mse", "discrim", "discrim_gp", "discrim_gan",
                  "discrim_cls", "KGTransform"}
      if phase:
        expected |= {"enc_int", "enc_int_gan", "enc_int_cls", "enc_int_all", "enc_int_mse",
                     "enc_int_per", "enc_int_KG"}
      assert set(official) == expected, sorted(official)
      for name, value in official.items():
        mm.check(f"step{t}/loss/{name}", metrics[name], value)
      if t not in (1, STEPS):
        continue
      envelope = Mismatches(rtol=2 * config.optimizer.lr * t)
      noise[t] = envelope
      for net in NETS:
        ours = {"params": state.params[net], "batch_stats": state.batch_stats.get(net, {})}
        arrays = entries(fixture, f"step{t}/{net}")
        locate = lambda key, value, net=net: (paths[net][key], to_flax(key, value))
        check_arrays(mm, f"step{t}/{net}",
                     {k: v for k, v in arrays.items() if not normalised_away(net, k, arrays)}, ours, locate)
        check_arrays(envelope, f"step{t}/{net}",
                     {k: v for k, v in arrays.items() if normalised_away(net, k, arrays)}, ours, locate)
        if t == STEPS:
          mu, nu = adam_moments(state.opt_state[net])
          check_adam(mm, fixture, f"step{t}/adam/{net}", mu, nu, param_locator(paths[net]))
  return mm, noise


def _official_decoder_file(fixture, directory) -> str:
  """The official decoder's initial state_dict as a file, saved as DataParallel saves it
  (`module.` prefix, BatchNorm's `num_batches_tracked` counters)."""
  sd = entries(fixture, "init/Dec")
  sd.update({k.replace("running_mean", "num_batches_tracked"): np.array(0)
             for k in sd if k.endswith("running_mean")})
  path = str(directory / "homo-decoder.npz")
  np.savez(path, **sd)
  return path


def test_steps_match_the_official_optimizer(fixture, tmp_path):
  """The decoder starts from the official state_dict through `model.decoder_path` (the
  other networks through the test's creation-order alignment)."""
  config = official_config(fixture)
  config.model.decoder_path = _official_decoder_file(fixture, tmp_path)
  mm, noise = compare(config, fixture)
  mm.assert_ok()
  for envelope in noise.values():
    assert envelope.checked == 3 + 2 * 12  # D's 3 biases; Dec's 12 biases and running means
    envelope.assert_ok()


@pytest.mark.slow
def test_the_paper_classifier_switch_fails_the_comparison(fixture):
  """`d_cls_features = "real"` (the paper's classifier) is not the released step."""
  config = official_config(fixture)
  config.model.d_cls_features = "real"
  mm, _ = compare(config, fixture, steps=1)
  with pytest.raises(AssertionError, match="differ from the official step"):
    mm.assert_ok()
  wrong = {what for _, what, _ in mm.bad}
  assert "step1/loss/discrim_cls" in wrong
  assert "step1/loss/dec" not in wrong  # the decoder steps first and does not see D


def test_the_official_decoder_file_is_read(fixture, tmp_path):
  """`model.decoder_path` puts the official decoder's weights where the creation-order
  alignment of the parity test puts them; a file of another width is named."""
  config = official_config(fixture)
  path = _official_decoder_file(fixture, tmp_path)
  side, channels = homointerp.feature_side(config), homointerp.feature_channels(config)
  with jax.enable_x64(True):  # the config's float64 parameters, really float64
    # Eager init: its dicts keep creation order, which the alignment follows.
    zeros = homointerp.build_models(config)["Dec"].init(jax.random.key(0),
                                                        jnp.zeros((2, side, side, channels)))
    _, params, stats = load_aligned(fixture, {"Dec": zeros["params"]},
                                    {"Dec": zeros["batch_stats"]}, ["Dec"])
    got_params, got_stats = homointerp.load_decoder(path, config, jnp.float64)
  assert jax.tree.structure(got_params) == jax.tree.structure(params["Dec"])
  for want, got in ((params["Dec"], got_params), (stats["Dec"], got_stats)):
    for a, b in zip(jax.tree.leaves(want), jax.tree.leaves(got)):
      assert b.dtype == jnp.float64
      np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
  config.model.vgg_width = 4
  with pytest.raises(ValueError, match=r"homo-decoder.npz \(config.model.decoder_path, "
                                       r"vgg_width=4\): weights do not fit.*shape mismatches"):
    homointerp.load_decoder(path, config, jnp.float32)
  with pytest.raises(FileNotFoundError, match=r"missing.pth.*config.model.decoder_path"):
    homointerp.load_decoder(str(tmp_path / "missing.pth"), config, jnp.float32)
