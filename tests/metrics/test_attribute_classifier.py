"""The attribute classifier that judges multi-label translations: it learns the embedded
attributes well enough to beat the majority guess on held-out photos, and its cache
round-trips."""

import json
import os

import numpy as np
import pytest

from i2ijax.metrics.attribute_classifier import (CACHE_DIR, attribute_accuracy,
                                                 fit_attribute_classifier, fit_hash,
                                                 real_test_images)
from tests.helpers import tiny_stargan_config


def _config(steps=200):
  """32 px embedded attribute photos, 256 training crops, a short fit."""
  c = tiny_stargan_config(32)
  c.data.embedded_images = 256
  c.eval_classifier_steps = steps
  return c


def test_short_fit_beats_the_majority_guess_and_the_cache_round_trips(tmp_path):
  c = _config()
  clf = fit_attribute_classifier(c, str(tmp_path))
  images, labels = real_test_images(c)
  assert images.shape == (64, 32, 32, 3) and labels.shape == (64, 5)
  assert clf.names == ["Warm_Tint", "Cool_Tint", "Dark", "Faded", "Vignette"]
  # The accuracies kept are those of the classifier on the held-out photos.
  decisions = clf.decide(images)
  assert set(np.unique(decisions)) <= {0.0, 1.0}
  acc, mean = attribute_accuracy(decisions, labels, clf.names, False)
  assert acc == clf.accuracy and mean == pytest.approx(clf.mean_accuracy)
  majority = np.maximum(labels.mean(0), 1 - labels.mean(0))
  assert clf.mean_accuracy > majority.mean() + 0.05, (clf.accuracy, majority)
  # The tints are learned first (at 200 steps Dark and Faded, which both lower the midtone
  # contrast, are not yet).
  assert min(clf.accuracy["Warm_Tint"], clf.accuracy["Cool_Tint"]) > 0.85, clf.accuracy
  probs = clf.predict(images)
  assert probs.shape == (64, 5) and ((probs >= 0) & (probs <= 1)).all()

  with open(os.path.join(tmp_path, CACHE_DIR, "info.json")) as f:
    info = json.load(f)
  assert info["steps"] == 200 and info["test_accuracy"] == clf.accuracy
  assert info["hash"] == fit_hash(c, 200)
  again = fit_attribute_classifier(c, str(tmp_path))  # read back, not retrained
  assert again.fit_seconds is None and again.info() == clf.info()
  np.testing.assert_array_equal(again.logits(images), clf.logits(images))
  # Another step count (or seed) is another fit.
  assert fit_hash(_config(201), 201) != info["hash"]
  c.seed += 1
  assert fit_hash(c, 200) != info["hash"]
  with pytest.raises(ValueError, match=r"uint8 \[N, 32, 32, 3\].*config.data.crop_size=32"):
    clf.predict(images[:, :16])


def test_single_label_accuracy_is_per_class_and_steps_are_checked():
  decisions = np.eye(3)[[0, 0, 1, 2, 2]]
  labels = np.eye(3)[[0, 1, 1, 2, 0]]
  acc, mean = attribute_accuracy(decisions, labels, ["a", "b", "c"], True)
  assert acc == {"a": 0.5, "b": 0.5, "c": 1.0} and mean == pytest.approx(2 / 3)
  c = _config(0)
  with pytest.raises(ValueError, match="config.eval_classifier_steps=0"):
    fit_attribute_classifier(c)
