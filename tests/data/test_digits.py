"""The embedded labelled digits (two renderings of scikit-learn's 8x8 digits) and their
unpaired labelled examples."""

import numpy as np
import pytest

from i2ijax.data import digits


def test_domains_and_splits_are_disjoint_and_cover_the_digits():
  parts = {(d, s): digits.digit_indices(d, s) for d in digits.DOMAINS for s in ("train", "test")}
  every = np.concatenate(list(parts.values()))
  assert len(every) == 1797 and len(np.unique(every)) == 1797  # no digit in two places
  assert {k: len(v) for k, v in parts.items()} == {
      ("source", "train"): 719, ("source", "test"): 180,
      ("target", "train"): 718, ("target", "test"): 180}
  np.testing.assert_array_equal(digits.digit_indices("source", "test"),
                                parts[("source", "test")])  # fixed
  with pytest.raises(ValueError, match="digit domain"):
    digits.digit_indices("other", "train")


def test_renderings_shapes_labels_and_styles():
  source = digits.embedded_digit_domain("source", "test")
  target = digits.embedded_digit_domain("target", "test")
  assert (source.channels, target.channels) == (3, 1)
  assert source.load(0).shape == (32, 32, 3) and target.load(0).shape == (32, 32, 1)
  assert source.load(0).dtype == np.uint8
  _, labels = digits.load_digits()
  idx = digits.digit_indices("source", "test")
  assert [source.label(i) for i in range(5)] == [int(labels[j]) for j in idx[:5]]
  assert sorted(set(int(source.label(i)) for i in range(len(source)))) == list(range(10))
  # Target: white strokes centred on black, nothing in the 6 px border.
  t = np.stack([target.load(i) for i in range(len(target))]).astype(float)
  assert t[:, :6].max() == 0 and t[:, -6:].max() == 0 and t[:, 6:-6, 6:-6].max() == 255
  # Source: coloured backgrounds (per-image colours, both polarities), not black.
  s = np.stack([source.load(i) for i in range(len(source))]).astype(float)
  corners = s[:, :2, :2].mean(axis=(1, 2))  # [N, 3]
  assert corners.std(axis=0).min() > 30
  assert corners.mean() > 60
  # Deterministic: rebuilding gives the same images.
  digits._EMBEDDED_CACHE.clear()
  again = digits.embedded_digit_domain("source", "test")
  np.testing.assert_array_equal(again.load(7), source.load(7))


def test_several_source_renderings_of_each_digit():
  one = digits.embedded_digit_domain("source", "test")
  three = digits.embedded_digit_domain("source", "test", renderings=3)
  n = len(one)
  assert len(three) == 3 * n
  # The first rendering is the single-rendering set; the others draw their own styles.
  np.testing.assert_array_equal(three.images[:n], one.images)
  assert [three.label(r * n + 5) for r in range(3)] == [one.label(5)] * 3
  firsts = [three.load(r * n + 5) for r in range(3)]
  assert not np.array_equal(firsts[0], firsts[1]) and not np.array_equal(firsts[1], firsts[2])
  with pytest.raises(ValueError, match="renderings=0"):
    digits.embedded_digit_domain("source", "test", renderings=0)
  with pytest.raises(ValueError, match="renderings=2 .*target"):
    digits.embedded_digit_domain("target", "test", renderings=2)


def test_labelled_unaligned_examples_are_a_function_of_the_index():
  source = digits.embedded_digit_domain("source", "test")
  target = digits.embedded_digit_domain("target", "test")
  ex = digits.LabelledUnalignedExamples(source, target, seed=3)
  a, b = ex(5), digits.LabelledUnalignedExamples(source, target, seed=3)(5)
  assert set(a) == {"A", "label_A", "B"}
  for k in a:
    np.testing.assert_array_equal(a[k], b[k])
  assert a["A"].shape == (32, 32, 3) and a["B"].shape == (32, 32, 1)
  assert a["A"].min() >= -1 and a["A"].max() <= 1 and a["label_A"].dtype == np.int32
  # One epoch visits every source image once, with its own label.
  seen = [ex(g) for g in range(len(source))]
  firsts = {tuple(e["A"][16, 16]) + (int(e["label_A"]),) for e in seen}
  assert len(seen) == ex.size == len(source)
  assert len(firsts) > 0.9 * len(source)
