"""The benchmark suite's scores on hand-made translations with known answers and its
headline score (a trained run's is in test_evaluate)."""

import numpy as np
import pytest
from skimage.metrics import peak_signal_noise_ratio, structural_similarity

from i2ijax.benchmark_suite import (format_table, format_task_scores, headline,
                                    suite_config, suite_tasks)
from i2ijax.data.embedded import night_grade
from i2ijax.evaluate import Evaluator
from tests.helpers import TINY_CONFIGS, load_config, weight_envs


@pytest.fixture(autouse=True)
def no_weights_from_the_environment(monkeypatch):
  for env in weight_envs():
    monkeypatch.delenv(env, raising=False)


def test_exact_night_grade_is_perfect_and_the_identity_is_the_baseline():
  """On day -> night the truth is night_grade(x): a "model" that applies it scores PSNR inf,
  SSIM 1 and classifier accuracy 1; the identity baseline is the day input against the truth."""
  ev = Evaluator(TINY_CONFIGS["cyclegan"]())
  ab, ba = ev.tasks
  assert (ab.name, ab.source, ab.target, len(ab.inputs)) == ("AtoB", "day", "night", 4)
  assert ba.truths is None  # night -> day has no unique answer
  identity_ba = [[x] for x in ba.inputs]
  r = ev(None, [[[night_grade(x)] for x in ab.inputs], identity_ba])
  model, base = r["tasks"]["AtoB"]["model"], r["tasks"]["AtoB"]["baseline_input"]
  assert np.isinf(model["psnr"]) and model["ssim"] == pytest.approx(1, abs=1e-6)
  truths = [night_grade(x) for x in ab.inputs]
  assert base["psnr"] == pytest.approx(np.mean([peak_signal_noise_ratio(t, x, data_range=255)
                                               for x, t in zip(ab.inputs, truths)]), rel=1e-5)
  assert base["ssim"] == pytest.approx(np.mean([
      structural_similarity(t, x, data_range=255, channel_axis=-1, gaussian_weights=True,
                            sigma=1.5, use_sample_covariance=False)
      for x, t in zip(ab.inputs, truths)]), abs=2e-4)
  assert base["psnr"] < 20 and base["ssim"] < 0.8
  assert model["classifier_accuracy"] == 1 and base["classifier_accuracy"] == 0
  # The identity "model" scores exactly its baseline.
  assert r["tasks"]["BtoA"]["model"] == r["tasks"]["BtoA"]["baseline_input"]
  # A near miss (a darker grade) lands between the identity and the truth.
  near = ev(None, [[[night_grade(x, gamma=2.1)] for x in ab.inputs], identity_ba])
  assert base["psnr"] + 5 < near["tasks"]["AtoB"]["model"]["psnr"] < np.inf
  h = headline(r)
  assert (h["score_name"], h["score"], h["baseline"]) == ("AtoB psnr", np.inf, base["psnr"])
  assert (h["ssim"], h["baseline_ssim"]) == (model["ssim"], base["ssim"])
  row = format_table([{"model": "cyclegan", "step": 800, "wall_s": 200.0, **headline(near)}])
  assert row.splitlines()[1].split() == [
      "cyclegan", "800", "AtoB", "psnr", f"{near['tasks']['AtoB']['model']['psnr']:.4f}",
      f"{base['psnr']:.4f}", f"{near['tasks']['AtoB']['model']['ssim']:.4f}",
      f"{base['ssim']:.4f}", "200.0"]


def test_domain_classifier_score_on_the_style_domains():
  """StarGAN v2's score: the fraction of translations the classifier fitted on the training
  domains assigns to the target. Real target-domain images score high, the inputs low."""
  c = load_config("stargan_v2", "quickstart")
  ev = Evaluator(c, num_styles=1)
  assert [t.name for t in ev.tasks] == ["to_day", "to_night", "to_duotone"]
  n = len(ev.domain_images["day"])
  real = [[[ev.domain_images[t.target][i % n]] for i in range(len(t.inputs))] for t in ev.tasks]
  r = ev(None, real)
  for name, task in r["tasks"].items():
    assert task["images"] == 2 * n and task["model"]["classifier_accuracy"] >= 0.85, name
    assert task["baseline_input"]["classifier_accuracy"] <= 0.15, name
  identity = ev(None, [[[x] for x in t.inputs] for t in ev.tasks])
  assert identity["mean"]["model"] == identity["mean"]["baseline_input"]
  h = headline(r)
  assert h["score_name"] == "mean classifier_accuracy" and h["score"] > h["baseline"] + 0.7
  assert h["ssim"] is None and h["baseline_ssim"] is None  # no truth to compare with


def test_suite_config_sets_the_task():
  c = suite_config(load_config("munit", "quickstart"), steps=30)
  assert c.data.embedded_domains == "" and c.num_train_steps == 30
  assert suite_config(load_config("pix2pix", "quickstart")).num_train_steps == -1
  with pytest.raises(ValueError, match="embedded data"):
    suite_config(load_config("cyclegan"))


def test_attribute_changes_score_against_their_truth():
  """StarGAN's task: every single-attribute change of the held-out attribute photos, scored
  against its exact rendering. The truth itself scores PSNR inf and SSIM 1; the identity
  scores its baseline; a partial change (the changed attributes at strength 0.6) lands
  between. The headline is the mean PSNR over the changes, with each change's PSNR."""
  c = TINY_CONFIGS["stargan"]()
  c.eval_classifier_steps = 30
  ev = Evaluator(c)
  names = [t.name for t in ev.tasks]
  assert names == ["Warm_Tint=1", "Cool_Tint=1", "Dark=1", "Dark=0", "Faded=1", "Faded=0",
                   "Vignette=1", "Vignette=0"]
  r = ev(None, [[[y] for y in t.truths] for t in ev.tasks])
  assert r["classifier"]["steps"] == 30 and set(r["mean"]) == {"model", "baseline_input"}
  for name in names:
    model, base = r["tasks"][name]["model"], r["tasks"][name]["baseline_input"]
    assert np.isinf(model["psnr"]) and model["ssim"] == pytest.approx(1, abs=1e-6)
    assert base["psnr"] < 40 and 0 <= base["classifier_accuracy"] <= 1
  identity = ev(None, [[[x] for x in t.inputs] for t in ev.tasks])
  assert identity["mean"]["model"] == identity["mean"]["baseline_input"]
  from i2ijax.data.attributes import attribute_source
  src = attribute_source(c.data, "test", c.model.attrs)
  partial = []  # the changed attributes at strength 0.6 of the way to the target
  for t in ev.tasks:
    rows = [i for i in range(len(src)) if src.label(i)[t.attribute] != t.value]
    partial.append([[src.truth(i, lab + 0.6 * (tgt - lab))]
                    for i, lab, tgt in zip(rows, t.labels, t.target_labels)])
  near = ev(None, partial)
  assert (identity["mean"]["model"]["psnr"] + 3 < near["mean"]["model"]["psnr"] < np.inf)
  h = headline(near)
  assert (h["score_name"], h["score"], h["baseline"]) == (
      "mean psnr", near["mean"]["model"]["psnr"], near["mean"]["baseline_input"]["psnr"])
  assert (h["ssim"], h["baseline_ssim"]) == (near["mean"]["model"]["ssim"],
                                             near["mean"]["baseline_input"]["ssim"])
  assert list(h["task_scores"]) == names
  assert h["task_scores"]["Dark=1"] == {
      "psnr": near["tasks"]["Dark=1"]["model"]["psnr"],
      "baseline_psnr": near["tasks"]["Dark=1"]["baseline_input"]["psnr"]}
  row = {"model": "stargan", "step": 2000, "wall_s": 300.0, **h}
  assert format_table([row]).splitlines()[1].split() == [
      "stargan", "2000", "mean", "psnr", f"{h['score']:.4f}", f"{h['baseline']:.4f}",
      f"{h['ssim']:.4f}", f"{h['baseline_ssim']:.4f}", "300.0"]
  lines = format_task_scores(row).splitlines()
  assert len(lines) == 8 and lines[2].split()[:3] == ["stargan", "Dark=1", "psnr"]
  assert "stargan" in suite_tasks() and suite_tasks()["stargan"] == "embedded attribute photos"
