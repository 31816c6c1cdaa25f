"""evaluate: the small quickstart beats the trivial baseline; folder scoring; the unpaired
and multimodal metrics (FID/KID, LPIPS diversity) with random-weight networks; clear errors."""

import glob
import json
import os

import jax
import numpy as np
import pytest
from PIL import Image
from skimage.metrics import peak_signal_noise_ratio

from i2ijax.benchmark_suite import suite_score
from i2ijax.data.images import to_uint8
from i2ijax.evaluate import Evaluator, evaluate_folders, evaluate_workdir, evaluation_tasks
from i2ijax.metrics import inception, lpips
from i2ijax.metrics.torch_weights import save_npz_state_dict
from i2ijax.registry import TranslateRequest
from i2ijax.train.loop import train_and_evaluate
from i2ijax.translate import load_state, make_translator
from tests.helpers import (TINY_CONFIGS, assert_same_states, load_config, random_state_dict,
                           short_run, weight_envs)


@pytest.mark.slow
def test_small_quickstart_beats_the_noisy_input_on_held_out_photos(tmp_path):
  """The pix2pix quickstart network on 16 training crops for 600 steps (the full
  quickstart: 64 crops, 2,400 steps) must restore the held-out photos better
  than the trivial baseline, the noisy input itself, in both PSNR and SSIM.
  (After 400 steps the PSNR of such runs still falls on either side of the
  baseline's, depending on the seed and on rounding.)"""
  c = load_config("pix2pix", "quickstart")
  c.data.embedded_images = 16
  c.num_train_steps = 600
  c.log_every_steps, c.sample_every_steps, c.checkpoint_every_steps = 200, 10**6, 10**6
  wd = str(tmp_path / "wd")
  train_and_evaluate(c, wd)
  report = evaluate_workdir(wd)
  model, baseline = report["model"], report["baseline_input"]
  assert report["images"] == 4 and report["step"] == 600
  assert model["psnr"] > baseline["psnr"] + 0.25, report
  assert model["ssim"] > baseline["ssim"] + 0.2, report
  with open(os.path.join(wd, "eval", "test_step600.json")) as f:
    assert json.load(f)["model"]["psnr"] == model["psnr"]


@pytest.mark.slow
def test_cyclegan_quickstart_keeps_the_structure(tmp_path):
  """The CycleGAN quickstart for its first 400 steps (of 800; the rate is still
  constant) must translate held-out day photos closer to their true night grade
  than the untranslated photos are, in both PSNR and SSIM: the structure is
  kept, not only the colours. With the paper's identity weight 0.5
  (`:quickstart_paper_weights`) the same 400 steps give SSIM 0.456 against the
  input's 0.544 (README "Results on the embedded tasks")."""
  c = load_config("cyclegan", "quickstart")
  c.num_train_steps = 400
  c.log_every_steps, c.sample_every_steps, c.checkpoint_every_steps = 100, 10**6, 10**6
  wd = str(tmp_path / "wd")
  train_and_evaluate(c, wd)
  ab = evaluate_workdir(wd)["tasks"]["AtoB"]
  model, baseline = ab["model"], ab["baseline_input"]
  assert model["psnr"] > baseline["psnr"] + 5, ab
  assert model["ssim"] > baseline["ssim"] + 0.02, ab


def _save(path, array):
  os.makedirs(os.path.dirname(path), exist_ok=True)
  Image.fromarray(array).save(path)


def test_folders_are_matched_by_name_and_scored(tmp_path):
  rng = np.random.default_rng(0)
  truth = rng.integers(0, 256, (2, 24, 24, 3), dtype=np.uint8)
  expected = []
  for i, t in enumerate(truth):
    _save(str(tmp_path / "ref" / f"{i}.png"), t)
    _save(str(tmp_path / "out" / f"{i}.png"), t)  # a perfect translation
    noisy = np.clip(t.astype(int) + rng.integers(-30, 31, t.shape), 0, 255).astype(np.uint8)
    _save(str(tmp_path / "base" / f"{i}.png"), noisy)
    expected.append(peak_signal_noise_ratio(t, noisy, data_range=255))
  r = evaluate_folders(str(tmp_path / "out"), str(tmp_path / "ref"), str(tmp_path / "base"))
  assert r["images"] == 2 and np.isinf(r["model"]["psnr"]) and r["model"]["ssim"] == pytest.approx(1)
  assert r["baseline_input"]["psnr"] == pytest.approx(np.mean(expected), rel=1e-5)
  assert r["baseline_input"]["ssim"] < 0.99
  _save(str(tmp_path / "out" / "extra.png"), truth[0])
  with pytest.raises(ValueError, match=r"out \(--input\) has images the other folders lack: \['extra'\]"):
    evaluate_folders(str(tmp_path / "out"), str(tmp_path / "ref"))




@pytest.fixture(autouse=True)
def no_weights_from_the_environment(monkeypatch):
  for env in weight_envs():
    monkeypatch.delenv(env, raising=False)


@pytest.fixture(scope="module")
def weights(tmp_path_factory):
  """{"inception", "lpips"}: .npz files of random FID Inception and LPIPS (alex) weights."""
  folder = tmp_path_factory.mktemp("weights")
  paths = {"inception": str(folder / "inception.npz"), "lpips": str(folder / "lpips_alex.npz")}
  save_npz_state_dict(paths["inception"],
                      random_state_dict(inception.inception_state_dict_shapes()))
  save_npz_state_dict(paths["lpips"], random_state_dict(lpips.lpips_state_dict_shapes("alex"), 1))
  return paths


def _cyclegan_config():
  """The 4-step tiny CycleGAN run of tests/train/test_loop.py (one compilation for both)."""
  c = short_run(TINY_CONFIGS["cyclegan"](), 4)
  c.model.pool_size = 3
  return c


@pytest.fixture(scope="module")
def cyclegan_runs(tmp_path_factory):
  """{"evaluated": a run with config.eval_every_steps = 2, "plain": the same run without}."""
  root = tmp_path_factory.mktemp("cyclegan")
  c = _cyclegan_config()
  c.eval_every_steps = 2
  train_and_evaluate(c, str(root / "evaluated"))
  train_and_evaluate(_cyclegan_config(), str(root / "plain"))
  return {"evaluated": str(root / "evaluated"), "plain": str(root / "plain")}


@pytest.mark.slow
def test_periodic_evaluation_writes_scalars_and_leaves_training_unchanged(cyclegan_runs):
  """config.eval_every_steps = 2: eval/ scalars and reports at steps 2 and 4 with the training
  writer, equal to evaluating the saved checkpoint; the trained state equals a run without."""
  wd = cyclegan_runs["evaluated"]
  scalars = read_eval_scalars(wd)
  assert [s for s, _ in scalars["eval/AtoB/psnr"]] == [2, 4]
  assert {"eval/AtoB/ssim", "eval/AtoB/classifier_accuracy", "eval/BtoA/classifier_accuracy",
          "eval/AtoB/baseline_psnr"} <= set(scalars)
  assert not any("fid" in k for k in scalars)  # no Inception weights configured
  for step in (2, 4):
    with open(os.path.join(wd, "eval", f"test_step{step}.json")) as f:
      assert json.load(f)["tasks"]["AtoB"]["model"]["psnr"] == pytest.approx(
          dict(scalars["eval/AtoB/psnr"])[step])
  row = suite_score(wd)  # the step-4 checkpoint, evaluated afresh
  assert (row["model"], row["step"], row["score_name"]) == ("cyclegan", 4, "AtoB psnr")
  assert row["score"] == pytest.approx(dict(scalars["eval/AtoB/psnr"])[4], rel=1e-5)
  assert row["baseline"] == pytest.approx(dict(scalars["eval/AtoB/baseline_psnr"])[4], rel=1e-5)
  assert_same_states(wd, cyclegan_runs["plain"], _cyclegan_config(), atol=0)


@pytest.mark.slow
def test_cyclegan_fid_kid_ground_truth_classifier_and_skips(cyclegan_runs, weights):
  """Day -> night CycleGAN: FID/KID per direction (FID is symmetric, so both directions'
  identity baselines, real A against real B, agree), PSNR/SSIM against the known truth
  (AtoB only), classifier accuracy; without weights FID/KID are skipped, naming the variable."""
  wd = cyclegan_runs["plain"]
  r = evaluate_workdir(wd, inception_weights=weights["inception"])
  assert r["model_name"] == "cyclegan" and r["step"] == 4 and set(r["tasks"]) == {"AtoB", "BtoA"}
  ab, ba = r["tasks"]["AtoB"], r["tasks"]["BtoA"]
  assert (ab["source"], ab["target"], ab["images"], ab["outputs_per_image"]) == (
      "day", "night", 4, 1)
  for t in (ab, ba):
    for part in ("model", "baseline_input"):
      assert np.isfinite(t[part]["fid"]) and t[part]["fid"] >= -1e-6 and np.isfinite(t[part]["kid"])
      assert 0 <= t[part]["classifier_accuracy"] <= 1
  assert ab["baseline_input"]["fid"] == pytest.approx(ba["baseline_input"]["fid"], rel=1e-6)
  assert ab["baseline_input"]["fid"] > 1e-3  # day against night, not a domain against itself
  assert ab["baseline_input"]["kid"] == pytest.approx(ba["baseline_input"]["kid"], rel=1e-6)
  assert ab["model"]["fid"] != ab["baseline_input"]["fid"]  # the translations were scored
  assert {"psnr", "ssim"} <= set(ab["model"]) and "psnr" not in ba["model"]
  assert ab["baseline_input"]["psnr"] < 30 and "skipped" not in r  # every metric computed
  with open(os.path.join(wd, "eval", "test_step4.json")) as f:
    assert json.load(f)["tasks"]["AtoB"]["model"]["fid"] == ab["model"]["fid"]

  r2 = evaluate_workdir(wd)  # no weights: the same translations, FID/KID skipped
  assert "fid" not in r2["tasks"]["AtoB"]["model"]
  assert inception.WEIGHTS_ENV in r2["skipped"]["fid_kid"]
  assert r2["tasks"]["AtoB"]["model"]["psnr"] == ab["model"]["psnr"]
  scalars = read_eval_scalars(wd)
  assert scalars["eval/AtoB/psnr"] == [(4, pytest.approx(ab["model"]["psnr"]))] * 2
  assert scalars["eval/BtoA/fid"] == [(4, pytest.approx(ba["model"]["fid"]))]
  assert scalars["eval/AtoB/baseline_classifier_accuracy"][0][1] == pytest.approx(
      ab["baseline_input"]["classifier_accuracy"])


@pytest.mark.slow
def test_munit_lpips_diversity_is_over_the_translate_styles(tmp_path, weights):
  """MUNIT (day <-> duotone): K styles per input; LPIPS diversity equals the mean pairwise
  LPIPS of `translate`'s K outputs; FID/KID over all K outputs; no truth on style domains."""
  wd = str(tmp_path / "munit")
  train_and_evaluate(short_run(TINY_CONFIGS["munit"](), 2), wd)  # as tests/train/test_munit.py
  r = evaluate_workdir(wd, num_styles=3, inception_weights=weights["inception"],
                       lpips_backbone=weights["lpips"])
  ab = r["tasks"]["AtoB"]
  assert (ab["source"], ab["target"], ab["outputs_per_image"]) == ("day", "duotone", 3)
  translate, config, _ = make_translator(wd, "AtoB", num_styles=3, seed=0)
  inputs = evaluation_tasks(config)[0][0].inputs
  outs = np.stack([np.stack(translate(x)) for x in inputs])
  ours = np.stack(Evaluator(config, num_styles=3).translate(load_state(wd, config)[1])[0])
  assert ours.shape == outs.shape == (4, 3, 32, 32, 3)
  assert np.abs(ours.astype(int) - outs).max() <= 1
  outs = outs.astype(np.float32) / 127.5 - 1
  expected = lpips.mean_pairwise_lpips(lpips.load_lpips("alex", weights["lpips"]), outs)
  assert ab["model"]["lpips_diversity"] == pytest.approx(expected, rel=1e-3) and expected > 0
  for t in r["tasks"].values():
    assert np.isfinite(t["model"]["fid"]) and np.isfinite(t["model"]["kid"])
    assert "psnr" not in t["model"] and "lpips_diversity" not in t["baseline_input"]
  assert "psnr_ssim" in r["skipped"] and "lpips_diversity" not in r["skipped"]

  r2 = evaluate_workdir(wd, num_styles=3, write_scalars=False)
  assert lpips.ENV_BACKBONE in r2["skipped"]["lpips_diversity"]
  assert inception.WEIGHTS_ENV in r2["skipped"]["fid_kid"]
  assert r2["tasks"]["AtoB"]["model"] == {
      "classifier_accuracy": ab["model"]["classifier_accuracy"]}


@pytest.mark.slow
def test_stargan_v2_per_domain_translations_are_translates(weights):
  """StarGAN v2 (random networks): one task per target domain from the other domains'
  test images, K latent-guided styles each; style k equals `translate --seed=k`."""
  from types import SimpleNamespace
  from i2ijax.train import stargan_v2
  c = TINY_CONFIGS["stargan_v2"]()
  shapes = jax.eval_shape(
      lambda k: stargan_v2.create_state(c, k, stargan_v2.image_shapes(c), 1).ema,
      jax.random.key(0))
  rng = np.random.default_rng(0)

  def he_normal(path, s):  # kernels He-scaled (styles then change the outputs a lot), scales 1
    if len(s.shape) >= 2:
      return (rng.standard_normal(s.shape) * np.sqrt(2 / np.prod(s.shape[:-1]))).astype(np.float32)
    scale = jax.tree_util.keystr(path[-1:]) == "['scale']"
    return np.ones(s.shape, np.float32) if scale else np.zeros(s.shape, np.float32)
  # The EMA networks are all that translations read.
  state = SimpleNamespace(ema=jax.tree_util.tree_map_with_path(he_normal, shapes))
  ev = Evaluator(c, num_styles=2, lpips_backbone=weights["lpips"])
  outputs = ev.translate(state)
  r = ev(state, outputs)
  assert list(r["tasks"]) == ["to_day", "to_night", "to_duotone"]
  night = r["tasks"]["to_night"]
  assert (night["source"], night["images"], night["outputs_per_image"]) == ("day+duotone", 8, 2)
  task = ev.tasks[1]
  assert np.abs(outputs[1][5][0].astype(int) - outputs[1][5][1]).mean() > 10  # styles differ
  for k in range(2):
    g = stargan_v2.translator(c, TranslateRequest(domain=1, seed=k))
    x = task.inputs[5].astype(np.float32) / 127.5 - 1
    y = np.asarray(g.apply(g.params(state), x[None]))[0]
    assert np.abs(outputs[1][5][k].astype(int) - to_uint8(y)).max() <= 1
  for part in ("model", "baseline_input"):
    acc = [t[part]["classifier_accuracy"] for t in r["tasks"].values()]
    assert r["mean"][part]["classifier_accuracy"] == pytest.approx(np.mean(acc))
  assert all(t["model"]["lpips_diversity"] > 0 for t in r["tasks"].values())
  assert "fid_kid" in r["skipped"]


def test_nothing_to_score_is_refused_with_a_pointer(tmp_path):
  c = load_config("cyclegan", "quickstart")
  c.data.source = "folder"
  (tmp_path / "config.json").write_text(c.to_json())
  with pytest.raises(ValueError, match=f"nothing to score.*{inception.WEIGHTS_ENV}"
                                       ".*--input/--reference"):
    evaluate_workdir(str(tmp_path))


def read_eval_scalars(workdir: str) -> dict:
  """{tag: [(step, value), ...]} of the eval/ scalars in the workdir's TensorBoard events."""
  import tensorflow as tf
  out = {}
  for path in sorted(glob.glob(os.path.join(workdir, "events.out.tfevents.*"))):
    for event in tf.compat.v1.train.summary_iterator(path):
      for v in event.summary.value:
        if v.tag.startswith("eval/"):
          out.setdefault(v.tag, []).append((event.step, float(tf.make_ndarray(v.tensor))))
  return out


@pytest.mark.parametrize("n1,n2", [(5, 9), (40, 64), (10, 100)])
def test_small_sample_fid_equals_the_covariance_root_formula(n1, n2):
  """The Gram-matrix form used for fewer features than dimensions gives the FID of
  `fid_from_statistics` (D = 64 here; 100 features take the D x D path itself)."""
  from i2ijax.metrics.fid import fid_of_features
  from i2ijax.metrics.fid import FeatureStatistics, fid_from_statistics
  rng = np.random.default_rng(n1)
  x, y = rng.normal(size=(n1, 64)) * 3 + 1, rng.normal(size=(n2, 64)) ** 2
  expected = fid_from_statistics(FeatureStatistics(64).update(x), FeatureStatistics(64).update(y))
  assert fid_of_features(x, y) == pytest.approx(expected, rel=1e-6)
  assert fid_of_features(x, x) == pytest.approx(0, abs=1e-8)
