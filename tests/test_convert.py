"""Official PyTorch checkpoints in and out (`i2ijax.convert`).

The checkpoints in tests/fixtures/official_checkpoints/ were saved by the official code
(`tests/fixtures/make/torch_checkpoints.py`), with its outputs on a fixed input.
"""

import json
import os
import shutil

import jax.numpy as jnp
import numpy as np
import pytest

from i2ijax import checkpoint, convert, registry
from i2ijax.metrics.torch_weights import load_torch_state_dict
from i2ijax.registry import TranslateRequest
from tests.helpers import (load_config, short_run, tiny_cyclegan_config, tiny_stargan_v2_config,
                           tiny_ugatit_config)

FIX = os.path.join(os.path.dirname(__file__), "fixtures", "official_checkpoints")
CYCLEGAN = [os.path.join(FIX, "cyclegan", f"latest_net_{n}.pth")
            for n in ("G_A", "G_B", "D_A", "D_B")]
PIX2PIX = [os.path.join(FIX, "pix2pix", f"latest_net_{n}.pth") for n in ("G", "D")]
STARGAN = [os.path.join(FIX, "stargan", f"1000-{n}.ckpt") for n in ("G", "D")]
UGATIT = os.path.join(FIX, "ugatit", "tiny_params_0001000.pt")
DRIT = os.path.join(FIX, "drit", "01000.pth")
HOMOINTERP = [os.path.join(FIX, "homointerp", f"{n}-1000.pth")
              for n in ("encoder", "interp_net", "decoder", "discrim", "KGTransform")]
STARGAN_V2 = [os.path.join(FIX, "stargan_v2", f"001000_{n}.ckpt") for n in ("nets", "nets_ema")]
SNAPSHOTS = {kind: [os.path.join(FIX, kind, f"{n}_00001000.pt") for n in ("gen", "dis")]
             for kind in ("munit", "unit")}


@pytest.fixture(scope="module")
def official():
  with np.load(os.path.join(FIX, "forward.npz")) as f:
    return {k: f[k] for k in f.files}


def cyclegan_config():
  return tiny_cyclegan_config(32)  # resnet_6blocks, ngf 8, ndf 8, instance norm: the files'


def pix2pix_config():
  c = load_config("pix2pix", "quickstart")  # unet_128, batch norm, dropout, basic PatchGAN
  c.model.ngf = c.model.ndf = 2
  return c


def stargan_config():
  c = load_config("stargan")  # the CelebA attributes, c_dim 5
  c.model.g_conv_dim = c.model.d_conv_dim = 8
  c.model.g_repeat_num, c.model.d_repeat_num = 2, 3
  c.data.crop_size = c.data.load_size = 32
  return c


def munit_config(kind):
  """The networks of tests/fixtures/make/munit_steps.py's tiny hyper-parameters, RGB."""
  c = load_config(kind)
  c.model.gen.update(dim=2, n_downsample=2, n_res=1)
  if kind == "munit":
    c.model.gen.update(mlp_dim=8, style_dim=2)
  c.model.dis.update(dim=4, n_layer=2, num_scales=3)
  c.data.crop_size = c.data.load_size = 32
  return c


def translate(config, workdir, image, **request):
  spec, state = checkpoint.load_state(workdir, config)
  tr = spec.translator(config, TranslateRequest(**request))
  x = jnp.asarray(image.astype(np.float32) / 127.5 - 1)
  out = tr.apply(tr.params(state), x)
  return np.asarray(out["image"] if isinstance(out, dict) else out)


def official_arrays(path):
  return {k: v for k, v in load_torch_state_dict(path).items()
          if not k.endswith("num_batches_tracked")}


def test_cyclegan_files_translate_as_the_official_forward_and_round_trip(official, tmp_path):
  config, wd = cyclegan_config(), str(tmp_path / "wd")
  record = convert.convert_in(config, CYCLEGAN, wd)
  assert record["from"] == dict(zip(("G_A", "G_B", "D_A", "D_B"), CYCLEGAN))
  assert record["fresh"] == [] and not record["translate_only"]
  with open(os.path.join(wd, "converted.json")) as f:
    assert json.load(f) == record
  for direction, net in (("AtoB", "G_A"), ("BtoA", "G_B")):
    out = translate(config, wd, official["input/32"], direction=direction)
    np.testing.assert_allclose(out, official[f"cyclegan/{net}"], rtol=0, atol=1e-5)
  # --to=torch: the official layout, bit for bit (dtype included).
  written = convert.convert_out(wd, str(tmp_path / "out"))
  assert [os.path.basename(p) for p in written] == [
      f"0_net_{n}.pth" for n in ("G_A", "G_B", "D_A", "D_B")]
  for path, original in zip(written, CYCLEGAN):
    ours, theirs = load_torch_state_dict(path), official_arrays(original)
    assert list(ours) == list(theirs)
    for k in theirs:
      assert ours[k].dtype == theirs[k].dtype and ours[k].tobytes() == theirs[k].tobytes(), k


def test_pix2pix_files_with_batch_norm_statistics(official, tmp_path):
  config, wd = pix2pix_config(), str(tmp_path / "wd")
  convert.convert_in(config, [f"D={PIX2PIX[1]}", PIX2PIX[0]], wd)  # NET=FILE or by name
  out = translate(config, wd, official["input/128"])  # eval mode, as the official --eval
  np.testing.assert_allclose(out, official["pix2pix/G"], rtol=0, atol=1e-5)
  for path, original in zip(convert.convert_out(wd, str(tmp_path / "out")), PIX2PIX):
    ours, theirs = load_torch_state_dict(path), official_arrays(original)
    assert sorted(ours) == sorted(theirs)
    assert any(k.endswith("running_var") for k in ours)
    assert all(ours[k].tobytes() == theirs[k].tobytes() for k in theirs)


def test_stargan_files_with_instance_norm_statistics(official, tmp_path):
  config, wd = stargan_config(), str(tmp_path / "wd")
  assert convert.convert_in(config, STARGAN, wd)["from"] == {"G": STARGAN[0], "D": STARGAN[1]}
  _, state = checkpoint.load_state(wd, config)
  stats = state.batch_stats["G"]["RunningInstanceNorm_0"]
  assert np.array_equal(np.asarray(stats["var"]),
                        official_arrays(STARGAN[0])["main.1.running_var"])
  label = official["stargan/label"][0]
  attrs = ",".join(f"{n}={int(v)}" for n, v in zip(config.model.attrs.split(","), label))
  out = translate(config, wd, official["input/32"], attrs=attrs)
  # float32 through 12 normalised layers: a few of the 3,072 outputs differ from PyTorch's by
  # up to about 1.1e-5 with some XLA builds and flags
  np.testing.assert_allclose(out, official["stargan/G"], rtol=0, atol=3e-5)
  written = convert.convert_out(wd, str(tmp_path / "out"))
  assert [os.path.basename(p) for p in written] == ["0-G.ckpt", "0-D.ckpt"]
  for path, original in zip(written, STARGAN):
    ours, theirs = load_torch_state_dict(path), official_arrays(original)
    assert list(ours) == list(theirs) and all(ours[k].tobytes() == theirs[k].tobytes()
                                              for k in theirs)


@pytest.mark.parametrize("kind", ["munit", "unit"])
def test_munit_and_unit_snapshots_of_several_state_dicts(official, tmp_path, kind):
  config, wd = munit_config(kind), str(tmp_path / "wd")
  gen, dis = SNAPSHOTS[kind]
  record = convert.convert_in(config, [gen, dis], wd)
  assert record["from"] == {"gen_a": gen, "gen_b": gen, "dis_a": dis, "dis_b": dis}
  request = {"direction": "AtoB"}
  if kind == "munit":  # the official test.py with a style image
    request["references"] = (official["reference/32"][0].astype(np.float32) / 127.5 - 1,)
  out = translate(config, wd, official["input/32"], **request)
  np.testing.assert_allclose(out, official[f"{kind}/AtoB"], rtol=0, atol=1e-5)
  written = convert.convert_out(wd, str(tmp_path / "out"))
  assert [os.path.basename(p) for p in written] == ["gen_00000000.pt", "dis_00000000.pt"]
  for path, original in zip(written, (gen, dis)):
    ours = load_torch_state_dict(path, nested=True)
    theirs = load_torch_state_dict(original, nested=True)
    assert list(ours) == ["a", "b"] == list(theirs)
    for d in "ab":  # every official key (the AdaIN layers' unused statistics included)
      assert sorted(ours[d]) == sorted(theirs[d])
      assert all(ours[d][k].tobytes() == theirs[d][k].tobytes() for k in theirs[d])
  with pytest.raises(ValueError, match=r"has no state_dict 'a' for gen_a \(it holds one flat"):
    convert.convert_in(config, [f"gen_a={STARGAN[0]}"], str(tmp_path / "wd2"))


def test_stargan_v2_networks_and_their_moving_averages(official, tmp_path):
  config = tiny_stargan_v2_config(32)  # the fixture's widths
  ref = (official["reference/32"][0].astype(np.float32) / 127.5 - 1,)
  # The released files are the moving averages alone: they translate, and do not train.
  wd = str(tmp_path / "ema")
  record = convert.convert_in(config, STARGAN_V2[1:], wd)
  assert set(record["from"]) == {"G_ema", "F_ema", "E_ema"} and record["translate_only"]
  out = translate(config, wd, official["input/32"], domain=1, references=ref)
  np.testing.assert_allclose(out, official["stargan_v2/reference"], rtol=0, atol=1e-5)
  wd = str(tmp_path / "both")
  record = convert.convert_in(config, STARGAN_V2, wd)
  assert record["fresh"] == [] and not record["translate_only"]
  _, state = checkpoint.load_state(wd, config)
  kernel = lambda tree: np.asarray(tree["G"]["from_rgb"]["kernel"])
  assert not np.array_equal(kernel(state.params), kernel(state.ema))  # two different files
  written = convert.convert_out(wd, str(tmp_path / "out"))
  assert [os.path.basename(p) for p in written] == ["000000_nets.ckpt", "000000_nets_ema.ckpt"]
  for path, original in zip(written, STARGAN_V2):
    ours = load_torch_state_dict(path, nested=True)
    theirs = load_torch_state_dict(original, nested=True)
    assert list(ours) == list(theirs)
    for net in theirs:
      assert sorted(ours[net]) == sorted(theirs[net])
      assert all(ours[net][k].tobytes() == theirs[net][k].tobytes() for k in theirs[net])


def test_ugatit_params_file_with_spectral_norms(official, tmp_path):
  config, wd = tiny_ugatit_config(32), str(tmp_path / "wd")  # light, ch 4, 1 block, D 5 / 4
  record = convert.convert_in(config, [UGATIT], wd)
  assert set(record["from"]) == {"genA2B", "genB2A", "disGA", "disGB", "disLA", "disLB"}
  out = translate(config, wd, official["input/32"], direction="AtoB")
  np.testing.assert_allclose(out, official["ugatit/AtoB"], rtol=0, atol=1e-5)
  (written,) = convert.convert_out(wd, str(tmp_path / "out"))
  assert os.path.basename(written) == "wd_params_0000000.pt"
  ours = load_torch_state_dict(written, nested=True)
  theirs = load_torch_state_dict(UGATIT, nested=True)
  assert list(ours) == list(theirs)
  for net in theirs:
    assert sorted(ours[net]) == sorted(theirs[net])
    assert all(ours[net][k].tobytes() == theirs[net][k].tobytes() for k in theirs[net])


def test_drit_file_with_optimizer_states_and_counts(official, tmp_path):
  from i2ijax.train import drit
  config = load_config("drit")  # the official networks at the fixture's width
  config.model.ch = 2
  wd = str(tmp_path / "wd")
  record = convert.convert_in(config, [DRIT], wd)  # the optimizers' states are not read
  assert record["fresh"] == [] and len(record["from"]) == 8
  _, state = checkpoint.load_state(wd, config)
  nets, p = drit.Nets(config), state.params
  x, ref = (jnp.asarray(official[k].astype(np.float32) / 127.5 - 1)
            for k in ("input/64", "reference/64"))
  content = nets.content(p, "A", x)
  mu, logvar = nets.attribute(p, "B", ref)
  for name, ours in (("content", content), ("mu", mu), ("logvar", logvar),
                     ("AtoB", nets.decode(p, "B", content, mu))):
    np.testing.assert_allclose(np.asarray(ours), official[f"drit/{name}"], rtol=0, atol=1e-5,
                               err_msg=name)
  (written,) = convert.convert_out(wd, str(tmp_path / "out"))
  ours = load_torch_state_dict(written, nested=True)
  theirs = load_torch_state_dict(DRIT, nested=True)
  assert list(ours) == list(theirs)  # the eight networks (not the optimizers' states)
  for net in theirs:
    assert sorted(ours[net]) == sorted(theirs[net])
    assert all(ours[net][k].tobytes() == theirs[net][k].tobytes() for k in theirs[net])


def test_homointerp_files_of_dataparallel_wrappers(official, tmp_path):
  from i2ijax.train import homointerp
  config = load_config("homointerp")  # the official networks at 1/32 width, groups "A@B,C"
  config.model.attrs, config.model.vgg_width, config.model.d_conv_dim = "A@B,C", 2, 8
  config.data.crop_size = 128
  wd = str(tmp_path / "wd")
  record = convert.convert_in(config, HOMOINTERP, wd)
  assert record["from"] == dict(zip(("E", "T", "Dec", "D", "KG"), HOMOINTERP))
  _, state = checkpoint.load_state(wd, config)
  nets = homointerp.build_models(config)
  x, r = (jnp.asarray(official[k].astype(np.float32) / 127.5 - 1)
          for k in ("input/128", "reference/128"))
  p = state.params
  f1, f2 = (nets["E"].apply({"params": p["E"]}, homointerp.to_vgg_space(i))[-1] for i in (x, r))
  f = nets["T"].apply({"params": p["T"]}, f1, f2, jnp.asarray(official["homointerp/v"]))
  y = nets["Dec"].apply({"params": p["Dec"], "batch_stats": state.batch_stats["Dec"]}, f,
                        train=False)
  np.testing.assert_allclose(np.asarray(y), official["homointerp/y"], rtol=0, atol=1e-5)
  written = convert.convert_out(wd, str(tmp_path / "out"))
  assert [os.path.basename(p) for p in written] == [
      f"{n}-0.pth" for n in ("encoder", "interp_net", "decoder", "discrim", "KGTransform")]
  for path, original in zip(written, HOMOINTERP):
    ours, theirs = load_torch_state_dict(path), official_arrays(original)
    assert list(ours) == list(theirs)  # "module." keys where the official has them
    assert all(ours[k].tobytes() == theirs[k].tobytes() for k in theirs)


def test_an_old_release_is_a_translate_only_workdir(official, tmp_path):
  """A pre-0.4 single generator (instance-norm running statistics, `module.` keys, the
  legacy format): read as G_A, the statistics dropped as the official loader does."""
  config, wd = cyclegan_config(), str(tmp_path / "wd")
  old = os.path.join(FIX, "cyclegan", "old_style_G.pth")
  keys = list(load_torch_state_dict(old))
  assert keys[0].startswith("module.") and any(k.endswith("running_mean") for k in keys)
  record = convert.convert_in(config, [old], wd)
  assert record["from"] == {"G_A": old} and record["translate_only"]
  assert record["fresh"] == ["G_B", "D_A", "D_B"]
  out = translate(config, wd, official["input/32"], direction="AtoB")
  np.testing.assert_allclose(out, official["cyclegan/G_A"], rtol=0, atol=1e-5)
  from i2ijax.train.loop import train_and_evaluate
  with pytest.raises(ValueError, match=r"translate-only workdir \(converted without G_B"):
    train_and_evaluate(short_run(config, 2), wd)
  assert sorted(os.listdir(checkpoint.checkpoint_dir(wd))) == ["0"]  # nothing written


@pytest.mark.parametrize("case,files,change,message", [
    ("wrong model", [PIX2PIX[0]], {}, r"missing keys: model\.1\.weight.*unexpected keys: "
                                       r"model\.model\.0\.weight"),
    ("wrong netG", CYCLEGAN[:1], {"netG": "resnet_9blocks"},
     r"missing keys: model\.16\.conv_block\.1\.weight.*unexpected keys: model\.16\.weight"),
    ("wrong ngf", CYCLEGAN[:1], {"ngf": 16},
     r"shape mismatches: model\.1\.weight: \(8, 3, 7, 7\) instead of \(16, 3, 7, 7\)"),
])
def test_files_that_do_not_fit_are_named_key_by_key(tmp_path, case, files, change, message):
  config = cyclegan_config()
  for k, v in change.items():
    config.model[k] = v
  wd = str(tmp_path / "wd")
  with pytest.raises(ValueError, match=message) as e:
    convert.convert_in(config, files, wd)
  assert files[0] in str(e.value) and "(G_A)" in str(e.value), case
  assert not os.path.exists(checkpoint.checkpoint_dir(wd)) or not os.listdir(
      checkpoint.checkpoint_dir(wd))


def test_truncated_files_and_other_files_are_refused_by_name(tmp_path):
  with open(CYCLEGAN[0], "rb") as f:
    data = f.read()
  truncated = tmp_path / "latest_net_G_A.pth"
  truncated.write_bytes(data[:len(data) // 2])
  text = tmp_path / "notes_net_G_B.pth"
  text.write_text("not a checkpoint\n")
  for path, message in ((truncated, "latest_net_G_A.pth: "), (text, "unknown weights format")):
    with pytest.raises(ValueError, match=message):
      convert.convert_in(cyclegan_config(), [str(path)], str(tmp_path / "wd"))
  with pytest.raises(ValueError, match="two files for network G_A"):
    convert.convert_in(cyclegan_config(), [CYCLEGAN[0], f"G_A={CYCLEGAN[1]}"],
                       str(tmp_path / "wd"))
  wd = str(tmp_path / "done")
  convert.convert_in(cyclegan_config(), CYCLEGAN, wd)
  with pytest.raises(ValueError, match="already holds checkpoints"):
    convert.convert_in(cyclegan_config(), CYCLEGAN, wd)


def test_every_model_with_official_pytorch_code_declares_its_layout():
  with_layout = sorted(m for m in registry.MODELS if registry.get(m).torch_networks)
  assert {"cyclegan", "pix2pix", "stargan", "munit", "unit", "stargan_v2",
          "ugatit", "drit", "homointerp"} == set(with_layout)
  c = cyclegan_config()
  c.model.upsample = "resize_conv"
  with pytest.raises(ValueError, match="config.model.upsample='resize_conv' has no official"):
    convert.networks_of(c)


@pytest.mark.slow
def test_a_converted_cyclegan_workdir_fine_tunes_through_main(tmp_path):
  from i2ijax.train.loop import train_and_evaluate
  wd = str(tmp_path / "wd")
  record = convert.convert_in(cyclegan_config(), CYCLEGAN[:2], wd)
  assert record["fresh"] == ["D_A", "D_B"] and not record["translate_only"]
  config = short_run(cyclegan_config(), 2)
  train_and_evaluate(config, wd)
  _, start = checkpoint.load_state(wd, config, 0)
  _, end = checkpoint.load_state(wd, config, 2)
  assert int(end.step) == 2
  g0 = official_arrays(CYCLEGAN[0])["model.1.weight"]
  np.testing.assert_array_equal(np.asarray(start.params["G_A"]["Conv_0"]["conv"]["kernel"]),
                                g0.transpose(2, 3, 1, 0))
  moved = np.asarray(end.params["G_A"]["Conv_0"]["conv"]["kernel"]) - g0.transpose(2, 3, 1, 0)
  assert 0 < np.abs(moved).max() < 1e-2  # two Adam steps of 2e-4 from the official weights
  shutil.rmtree(wd)
