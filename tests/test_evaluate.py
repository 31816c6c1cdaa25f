"""evaluate: the small quickstart beats the trivial baseline; folder scoring; the unpaired
and multimodal metrics (FID/KID, LPIPS diversity) with random-weight networks; the
multi-label (StarGAN) tasks, truths, baselines and attribute classifier, and translate's
--attrs; clear errors."""

import glob
import json
import os

import jax
import numpy as np
import pytest
from PIL import Image
from skimage.metrics import peak_signal_noise_ratio

from i2ijax.benchmark_suite import suite_score
from i2ijax.checkpoint import load_config as workdir_config
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
@pytest.mark.quickstart
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
@pytest.mark.quickstart
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


# ---------------------------------------------------------------- multi-label (StarGAN)
def _stargan_config():
  """The tiny StarGAN (32 px embedded attribute photos, 8 held-out crops) with a 30-step
  attribute classifier."""
  c = TINY_CONFIGS["stargan"]()
  c.eval_classifier_steps = 30
  return c


@pytest.fixture(scope="module")
def stargan_run(tmp_path_factory):
  """The workdir of a 2-step tiny StarGAN run."""
  wd = str(tmp_path_factory.mktemp("stargan") / "wd")
  train_and_evaluate(short_run(_stargan_config(), 2), wd)
  return wd


def test_multi_label_tasks_are_the_single_attribute_changes():
  """One task per direction of a single-attribute change on the held-out photos: each input
  is a test image without the target value, its target differs from its own label in the
  changed attribute (and, for a tint, the other tint) only, and its truth is the source's
  exact rendering of that target."""
  from i2ijax.data.attributes import attribute_source
  from i2ijax.train.stargan import target_values
  c = _stargan_config()
  tasks, domains = evaluation_tasks(c)
  assert [t.name for t in tasks] == ["Warm_Tint=1", "Cool_Tint=1", "Dark=1", "Dark=0",
                                     "Faded=1", "Faded=0", "Vignette=1", "Vignette=0"]
  source = attribute_source(c.data, "test", c.model.attrs)
  labels = np.stack([source.label(i) for i in range(len(source))])
  tints = {0, 1}
  for t in tasks:
    k, v = t.attribute, t.value
    rows = np.flatnonzero(labels[:, k] != v)  # the inputs, in the test split's order
    assert len(t.inputs) == len(rows) > 0 and t.target == t.real_domain == t.name
    assert t.source == f"{source.names[k]}={int(1 - v)}" and set(t.input_domains) == {t.source}
    assert len(domains[t.source]) == len(t.inputs)
    assert len(domains[t.name]) == len(source) - len(t.inputs)
    fixed = target_values(c, t.attrs)  # what the task's translator sets
    for j, i in enumerate(rows):
      np.testing.assert_array_equal(t.inputs[j], source.load(i))
      np.testing.assert_array_equal(t.labels[j], labels[i])
      changed = set(np.flatnonzero(t.target_labels[j] != labels[i]))
      assert k in changed and changed <= ({k} | tints if k in tints else {k}), (t.name, changed)
      assert t.target_labels[j][k] == v
      assert all(t.target_labels[j][a] == val for a, val in fixed.items())
      np.testing.assert_array_equal(t.truths[j], source.truth(i, t.target_labels[j]))
    assert set(fixed) == ({k} | tints if k in tints else {k})


@pytest.mark.slow
def test_multi_label_report_truth_baseline_and_classifier(stargan_run):
  """The report of a tiny StarGAN run: every task's PSNR/SSIM against the truth and
  classifier accuracy, beside the identity baseline (the input's PSNR against the truth,
  computed here directly), their means, and the classifier's test accuracy; the translations
  are those of the model's translator with the input's own labels."""
  import jax.numpy as jnp
  from i2ijax.benchmark_suite import format_table, headline
  from i2ijax.evaluate.tasks import task_translator, translate_task
  from i2ijax.metrics.attribute_classifier import fit_attribute_classifier
  from i2ijax.train import stargan
  wd = stargan_run
  r = evaluate_workdir(wd)
  names = ["Warm_Tint=1", "Cool_Tint=1", "Dark=1", "Dark=0", "Faded=1", "Faded=0",
           "Vignette=1", "Vignette=0"]
  assert r["model_name"] == "stargan" and r["step"] == 2 and list(r["tasks"]) == names
  assert set(r["classifier"]) == {"steps", "test_accuracy", "mean_test_accuracy"}
  assert r["classifier"]["steps"] == 30
  assert list(r["classifier"]["test_accuracy"]) == ["Warm_Tint", "Cool_Tint", "Dark", "Faded",
                                                    "Vignette"]
  assert os.path.isfile(os.path.join(wd, "attribute_classifier", "params.msgpack"))
  c = workdir_config(wd)
  tasks, _ = evaluation_tasks(c)
  clf = fit_attribute_classifier(c, wd)  # the cached one
  assert clf.fit_seconds is None and clf.info() == r["classifier"]
  for t in tasks:
    got = r["tasks"][t.name]
    assert (got["source"], got["target"], got["images"], got["outputs_per_image"]) == (
        t.source, t.name, len(t.inputs), 1)
    assert set(got["model"]) == set(got["baseline_input"]) == {"psnr", "ssim",
                                                                "classifier_accuracy"}
    direct = np.mean([peak_signal_noise_ratio(truth, x, data_range=255)
                      for x, truth in zip(t.inputs, t.truths)])
    assert got["baseline_input"]["psnr"] == pytest.approx(direct, rel=1e-5)
    base_acc = np.mean(clf.decide(np.stack(t.inputs))[:, t.attribute] == t.value)
    assert got["baseline_input"]["classifier_accuracy"] == pytest.approx(base_acc)
  for part in ("model", "baseline_input"):
    assert r["mean"][part]["psnr"] == pytest.approx(
        np.mean([r["tasks"][n][part]["psnr"] for n in names]))
  assert "psnr_ssim" not in r.get("skipped", {}) and "fid_kid" in r["skipped"]

  # The evaluation's translations are the translator's, given each input's own labels.
  _, state = load_state(wd, c)
  t = tasks[2]  # Dark=1
  outs = translate_task(task_translator(c, t), state, t)
  tr = stargan.translator(c, TranslateRequest(attrs="Dark=1"))
  x = t.inputs[0].astype(np.float32) / 127.5 - 1
  y = tr.apply(tr.params(state), jnp.asarray(x[None]), labels=jnp.asarray(t.labels[0][None]))
  assert np.abs(outs[0][0].astype(int) - to_uint8(np.asarray(y))[0]).max() <= 1
  h = headline(r)
  assert (h["score_name"], h["score"], h["baseline"]) == (
      "mean psnr", r["mean"]["model"]["psnr"], r["mean"]["baseline_input"]["psnr"])
  assert list(h["task_scores"]) == names
  row = format_table([{"model": "stargan", "step": 2, "wall_s": 1.0, **h}])
  assert row.splitlines()[1].split()[:5] == ["stargan", "2", "mean", "psnr",
                                             f"{h['score']:.4f}"]


@pytest.mark.slow
def test_translate_attrs_one_output_else_every_change(stargan_run, tmp_path):
  """--attrs: one output; none: one output per attribute (NAME_00k.png = the change of
  attribute k); an unknown attribute is refused, naming the model's attributes."""
  from i2ijax.translate import translate_images
  rng = np.random.default_rng(1)
  _save(str(tmp_path / "in" / "a.png"), rng.integers(0, 256, (40, 48, 3), dtype=np.uint8))
  src = str(tmp_path / "in" / "a.png")
  one = translate_images(stargan_run, src, str(tmp_path / "one"),
                         attrs="Warm_Tint=0,Cool_Tint=1,Dark=1")
  assert [os.path.basename(p) for p in one] == ["a.png"]
  assert np.asarray(Image.open(one[0])).shape == (32, 32, 3)
  every = translate_images(stargan_run, str(tmp_path / "in"), str(tmp_path / "all"))
  assert [os.path.basename(p) for p in every] == [f"a_{k:03d}.png" for k in range(5)]
  with pytest.raises(ValueError, match=r"unknown attribute 'Nope'.*'Warm_Tint', 'Cool_Tint', "
                                       r"'Dark', 'Faded', 'Vignette'"):
    translate_images(stargan_run, src, str(tmp_path / "bad"), attrs="Nope=1")


def test_single_label_domain_by_class_name():
  """--domain names a class of a single-label model (config.model.attrs, no data read)."""
  from i2ijax import registry
  from i2ijax.translate import make_request
  c = load_config("stargan", "rafd")
  spec = registry.get("stargan")
  assert make_request(c, spec, domain="happy").domain == 4
  assert make_request(c, spec, domain="2").domain == 2
  with pytest.raises(ValueError, match=r"unknown class 'bored'.*'angry'"):
    make_request(c, spec, domain="bored")


def test_single_label_tasks_are_one_per_class(tmp_path):
  """Class-folder data (RaFD's layout): task "<class>" over the other classes' test images,
  translated with --domain = the class; no truth, so no PSNR."""
  from i2ijax.evaluate.tasks import task_translator
  rng = np.random.default_rng(0)
  counts = {"angry": 2, "happy": 3, "sad": 1}
  for split in ("train", "test"):
    for cls, n in counts.items():
      for i in range(n):
        _save(str(tmp_path / split / cls / f"{i}.png"),
              rng.integers(0, 256, (40, 36, 3), dtype=np.uint8))
  c = load_config("stargan", "rafd")
  c.data.path, c.data.center_crop, c.data.crop_size = str(tmp_path), 0, 32
  c.model.d_repeat_num = 3
  c.model.attrs = "angry,happy,sad"
  tasks, domains = evaluation_tasks(c)
  assert [t.name for t in tasks] == ["angry", "happy", "sad"]
  assert {k: len(v) for k, v in domains.items()} == counts
  happy = tasks[1]
  assert (happy.source, happy.domain, happy.attribute, happy.value, happy.attrs) == (
      "angry+sad", 1, 1, 1.0, "")
  assert happy.input_domains == ["angry", "angry", "sad"] and happy.truths is None
  assert all(x.shape == (32, 32, 3) for x in happy.inputs)
  for source, target in zip(happy.labels, happy.target_labels):
    assert source[1] == 0 and source.sum() == 1
    np.testing.assert_array_equal(target, [0, 1, 0])
  assert task_translator(c, happy).num_outputs == 1


def test_summary_and_scalars_keep_every_baseline_and_part_of_a_task():
  from i2ijax.evaluate.reports import report_scalars, summary
  report = {"tasks": {
      "Faded_0": {"source": "x", "images": 2, "outputs_per_image": 1,
                  "model": {"classifier_accuracy": 0.5},
                  "baseline_input": {"classifier_accuracy": 0.25}},
      "reconstruction": {"images": 2,
                         "encoder": {"identity_distance": 723.0, "psnr": 14.5, "ssim": 0.25},
                         "optimised": {"identity_distance": 513.0, "psnr": 15.5, "ssim": 0.5}}}}
  # IcGAN's inversion: a model score, another baseline and an extra part.
  report["tasks"]["inversion"] = {"images": 2, "model": {"psnr": 18.0},
                                  "baseline_random_z": {"psnr": 16.0},
                                  "encoder_y": {"accuracy": 0.75}}
  text = summary(report)
  assert "encoder identity_distance" in text and "723.0000" in text
  assert "optimised psnr" in text and "15.5000" in text
  lines = text.splitlines()
  assert [line.split() for line in lines if "random_z" in line or "encoder_y" in line] == [
      ["encoder_y", "accuracy", "0.7500", "-"], ["psnr", "(random_z)", "-", "16.0000"]]
  scalars = report_scalars(report)
  assert scalars["eval/reconstruction/encoder_identity_distance"] == 723.0
  assert scalars["eval/reconstruction/optimised_ssim"] == 0.5
  assert scalars["eval/Faded_0/classifier_accuracy"] == 0.5
  assert scalars["eval/Faded_0/baseline_classifier_accuracy"] == 0.25
  assert scalars["eval/inversion/baseline_random_z_psnr"] == 16.0
  assert scalars["eval/inversion/encoder_y_accuracy"] == 0.75
  assert "eval/Faded_0/source_images" not in scalars and len(scalars) == 11
