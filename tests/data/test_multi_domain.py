"""StarGAN v2 data: random_resized_crop, K labelled domains and the source/reference examples."""

import ml_collections
import numpy as np
import pytest
from PIL import Image

from i2ijax.data import images as image_io
from i2ijax.data import sources
from i2ijax.data.embedded import STYLES, fit_domain_classifier, style_domains
from i2ijax.data.pipeline import Batches, MultiDomainExamples, make_transform, validate_data_config
from i2ijax.data.sources import ArrayDomain, multi_domain_sources


def _cfg(**kw):
  return ml_collections.ConfigDict(kw)


def _rrc_cfg(**kw):
  return _cfg(**{"preprocess": "random_resized_crop", "load_size": 0, "crop_size": 8,
                 "flip": True, **kw})


def test_random_resized_crop_shape_range_and_probability():
  image = np.random.default_rng(0).integers(0, 256, (50, 80, 3), dtype=np.uint8)
  pre = lambda seed, **kw: image_io.preprocess(
      image, np.random.default_rng(seed), mode="random_resized_crop", load_size=0, crop_size=32,
      **{"flip": False, **kw})
  out = pre(1, flip=True, randcrop_prob=1.0)
  assert out.shape == (32, 32, 3) and out.dtype == np.float32
  assert out.min() >= -1 and out.max() <= 1
  # randcrop_prob=0: a plain bilinear resize to crop_size x crop_size (and maybe a flip).
  plain = np.asarray(Image.fromarray(image).resize((32, 32), Image.BILINEAR), np.float32)
  plain = plain / 127.5 - 1.0
  np.testing.assert_array_equal(pre(0, randcrop_prob=0.0), plain)
  flipped = [pre(s, randcrop_prob=0.0, flip=True) for s in range(20)]
  assert all(np.array_equal(f, plain) or np.array_equal(f, plain[:, ::-1]) for f in flipped)
  assert any(np.array_equal(f, plain[:, ::-1]) for f in flipped)
  # The crop happens with probability randcrop_prob. No box of 80-100% of this 50 x 80 image
  # with aspect 0.9..1.1 fits, so it is always torchvision's fallback, the center 50 x 55.
  center = np.asarray(Image.fromarray(image[:, 12:67]).resize((32, 32), Image.BILINEAR),
                      np.float32) / 127.5 - 1.0
  outs = [pre(s) for s in range(200)]
  assert all(np.array_equal(o, plain) or np.array_equal(o, center) for o in outs)
  assert 70 < sum(np.array_equal(o, center) for o in outs) < 130
  assert all(np.array_equal(pre(s, randcrop_prob=1.0), center) for s in range(20))


def test_random_resized_crop_box_follows_torchvision():
  areas, ratios = [], []
  for seed in range(300):
    top, left, h, w = image_io.random_resized_crop_box(200, 200, np.random.default_rng(seed))
    assert 0 <= top and top + h <= 200 and 0 <= left and left + w <= 200
    areas.append(h * w / 40000)
    ratios.append(w / h)
  # Area fraction in [0.8, 1] and aspect in [0.9, 1.1] up to rounding (boxes that would
  # not fit are redrawn, so large areas are rarer than uniform), both spread out.
  assert 0.79 < min(areas) < 0.81 and 0.9 < max(areas) <= 1.0
  assert 0.89 < min(ratios) < 0.92 and 1.08 < max(ratios) < 1.11
  # No box of 80-100% of the area with aspect 0.9..1.1 fits a 10 x 100 strip: the center
  # crop clamped to the largest ratio (torchvision's fallback).
  assert image_io.random_resized_crop_box(10, 100, np.random.default_rng(0)) == (0, 44, 10, 11)


def test_random_resized_crop_config():
  validate_data_config(_rrc_cfg())
  validate_data_config(_rrc_cfg(randcrop_prob=0.0))
  with pytest.raises(ValueError, match=r"config.data.randcrop_prob=1.5 must be in \[0, 1\]"):
    validate_data_config(_rrc_cfg(randcrop_prob=1.5))
  with pytest.raises(ValueError, match="config.data.preprocess='zoom' is not one of .*"
                                       "random_resized_crop"):
    validate_data_config(_rrc_cfg(preprocess="zoom"))
  image = np.random.default_rng(0).integers(0, 256, (20, 30, 3), dtype=np.uint8)
  plain = np.asarray(Image.fromarray(image).resize((8, 8), Image.BILINEAR), np.float32) / 127.5 - 1
  transform = make_transform(_rrc_cfg(randcrop_prob=0.0, flip=False))  # the key is passed on
  np.testing.assert_array_equal(transform(image, np.random.default_rng(0)), plain)


def _write_domain(directory, colour, n):
  directory.mkdir(parents=True)
  for i in range(n):
    Image.fromarray(np.full((6, 7, 3), colour, np.uint8)).save(directory / f"{i}.png")


def test_folder_layout_labels_and_errors(tmp_path):
  c = _cfg(source="folder", path=str(tmp_path), input_nc=3)
  _write_domain(tmp_path / "train" / "wild", (0, 0, 200), 2)
  _write_domain(tmp_path / "train" / "wild" / "more", (0, 0, 200), 3)  # found recursively
  _write_domain(tmp_path / "train" / "dog", (0, 200, 0), 3)
  _write_domain(tmp_path / "train" / "cat", (200, 0, 0), 1)
  (tmp_path / "train" / ".ipynb_checkpoints").mkdir()  # hidden: not a domain
  (tmp_path / "train" / "README.txt").write_text("not a domain")
  names, domains = multi_domain_sources(c, "train")
  assert names == ["cat", "dog", "wild"]  # label = index in sorted order
  assert [len(d) for d in domains] == [1, 3, 5]
  assert [tuple(d.load(0)[0, 0]) for d in domains] == [(200, 0, 0), (0, 200, 0), (0, 0, 200)]
  assert multi_domain_sources(c, "train", num_domains=3)[0] == names
  with pytest.raises(ValueError, match=r"config.model.num_domains=2 but .*train has 3 domains"):
    multi_domain_sources(c, "train", num_domains=2)

  with pytest.raises(FileNotFoundError, match=r"has no test/ \(or val/\) folder"):
    multi_domain_sources(c, "test")
  _write_domain(tmp_path / "val" / "cat", (200, 0, 0), 1)
  with pytest.raises(ValueError, match=r"val has 1 domain folder\(s\) \['cat'\].*at least 2"):
    multi_domain_sources(c, "test")  # no test/: falls back to val/
  (tmp_path / "val" / "dog").mkdir()
  with pytest.raises(ValueError, match=r"no usable image in .*val/dog \(0 files\)"):
    multi_domain_sources(c, "val")
  _write_domain(tmp_path / "val" / "dog" / "x", (0, 200, 0), 1)
  names, domains = multi_domain_sources(c, "test")
  assert names == ["cat", "dog"] and domains[1].name.endswith("val/dog")

  c.path = str(tmp_path / "nowhere")
  with pytest.raises(FileNotFoundError, match="nowhere' is not a directory"):
    multi_domain_sources(c, "train")
  c.path = ""
  with pytest.raises(ValueError, match="config.data.path is empty"):
    multi_domain_sources(c, "train")
  c.source = "web"
  with pytest.raises(ValueError, match="config.data.source must be folder, tfds or embedded"):
    multi_domain_sources(c, "train")


def _solid_domains(sizes):
  """Domain k, image i: a solid 8x8 image of colour (40 k + 20, 10 i, 0)."""
  return [ArrayDomain(f"d{k}", [np.full((8, 8, 3), (40 * k + 20, 10 * i, 0), np.uint8)
                                for i in range(n)]) for k, n in enumerate(sizes)]


def _ids(x):
  """(domain, image) of a transformed solid image (crop, resize and flip keep it solid)."""
  r, g = np.round((x[0, 0, :2] + 1.0) * 127.5).astype(int)
  return (r - 20) // 40, g // 10


def test_multi_domain_examples_balanced_with_same_domain_references():
  sizes = (1, 3, 12)
  ex = MultiDomainExamples(_solid_domains(sizes), seed=5, transform=make_transform(_rrc_cfg()))
  assert ex.size == 16 and ex.domain_names == ["d0", "d1", "d2"]
  n = 3000
  y_src, y_ref, same, partner = np.zeros(3), np.zeros(3), 0, {}
  for g in range(n):
    e = ex(g)
    assert set(e) == {"x_src", "y_src", "x_ref", "x_ref2", "y_ref"}
    assert type(e["y_src"]) is np.int32 and type(e["y_ref"]) is np.int32
    assert e["x_src"].shape == e["x_ref"].shape == e["x_ref2"].shape == (8, 8, 3)
    (ks, _), (kr, ir), (kr2, ir2) = _ids(e["x_src"]), _ids(e["x_ref"]), _ids(e["x_ref2"])
    assert ks == e["y_src"] and kr == kr2 == e["y_ref"]  # the reference pair shares y_ref
    assert partner.setdefault((kr, ir), ir2) == ir2  # a fixed partner per reference image
    y_src[ks] += 1
    y_ref[kr] += 1
    same += ks == kr
  # Balanced over domains although they hold 1, 3 and 12 images; source and reference independent.
  np.testing.assert_allclose(y_src / n, 1 / 3, atol=0.04)
  np.testing.assert_allclose(y_ref / n, 1 / 3, atol=0.04)
  assert abs(same / n - 1 / 3) < 0.04
  for k, size in enumerate(sizes):  # every image is used; the partners permute each domain
    mine = {i: j for (d, i), j in partner.items() if d == k}
    assert sorted(mine) == sorted(mine.values()) == list(range(size))
  with pytest.raises(ValueError, match="at least 2 domains, got 1"):
    MultiDomainExamples(_solid_domains((3,)), seed=0, transform=make_transform(_rrc_cfg()))


def test_multi_domain_examples_are_deterministic_and_batch():
  domains = _solid_domains((4, 5, 6))
  transform = make_transform(_rrc_cfg(crop_size=6))
  ex = MultiDomainExamples(domains, seed=1, transform=transform)
  again = MultiDomainExamples(domains, seed=1, transform=transform)
  other = MultiDomainExamples(domains, seed=2, transform=transform)
  keys = ("x_src", "y_src", "x_ref", "x_ref2", "y_ref")
  for g in (0, 7, 123):
    for k in keys:
      np.testing.assert_array_equal(ex(g)[k], again(g)[k])
  ids = lambda e: [_ids(e[k]) for k in ("x_src", "x_ref", "x_ref2")]
  assert [ids(ex(g)) for g in range(10)] != [ids(other(g)) for g in range(10)]
  batch = Batches(ex, 4)(2)
  assert batch["y_src"].dtype == batch["y_ref"].dtype == np.int32
  assert batch["y_src"].shape == (4,) and batch["x_ref2"].shape == (4, 6, 6, 3)
  np.testing.assert_array_equal(batch["y_ref"], [ex(8 + i)["y_ref"] for i in range(4)])


def test_tfds_multi_domain_source(monkeypatch, tmp_path):
  import tensorflow_datasets as tfds
  c = _cfg(source="tfds", tfds_name="cats_vs_dogs", tfds_data_dir=str(tmp_path))
  with pytest.raises(FileNotFoundError, match="cats_vs_dogs.*is not prepared.*tfds build"):
    multi_domain_sources(c, "train")
  monkeypatch.setattr(sources, "_tfds_is_prepared", lambda builder: True)
  c.tfds_data_dir = ""
  with tfds.testing.mock_data(num_examples=10):
    names, domains = multi_domain_sources(c, "test")  # no test split: validation
    assert names == ["cat", "dog"] and sum(len(d) for d in domains) == 10
    assert domains[1].name == "cats_vs_dogs:validation:dog"
    image = domains[0].load(len(domains[0]) - 1)
    assert image.dtype == np.uint8 and image.ndim == 3 and image.shape[2] == 3
    with pytest.raises(ValueError, match="num_domains=3 but TFDS dataset 'cats_vs_dogs' has 2"):
      multi_domain_sources(c, "train", num_domains=3)
    c.tfds_label_key = "image/filename"
    with pytest.raises(ValueError, match="'image/filename' .* not a ClassLabel: set "
                                         "config.data.tfds_label_key"):
      multi_domain_sources(c, "train")
    c.tfds_label_key, c.tfds_image_key = "label", "picture"
    with pytest.raises(ValueError, match="no feature 'picture'; its features are"):
      multi_domain_sources(c, "train")


def test_embedded_style_domains():
  names, train = style_domains(24, 32, "train")
  assert names == ["day", "night", "duotone"] and [len(d) for d in train] == [24] * 3
  assert all(d.load(i).shape == (32, 32, 3) and d.load(i).dtype == np.uint8
             for d in train for i in range(24))
  assert all(np.array_equal(a, b) for d, e in zip(train, style_domains(24, 32, "train")[1])
             for a, b in zip(d.arrays, e.arrays))  # deterministic
  _, test = style_domains(16, 32, "test")
  flat = lambda ds: [a.tobytes() for d in ds for a in d.arrays]
  assert len(set(flat(train))) == 72 and not set(flat(train)) & set(flat(test))
  # Domains: night is dark, duotone has one hue (pixels on a line in RGB), day neither;
  # nearest centroid (train centroids, standardised features) separates the test split.
  predict = fit_domain_classifier(train)
  predicted = np.concatenate([predict(np.stack(d.arrays)) for d in test])
  assert (predicted == np.repeat(np.arange(3), 16)).mean() >= 0.9
  # Within-domain style variety: one crop under different style draws changes colour visibly...
  crop = train[0].load(0)
  for name in names:
    means = np.stack([STYLES[name](crop, np.random.default_rng(s)).reshape(-1, 3).mean(0)
                      for s in range(12)])
    assert means.std(0).max() > 8, name  # (0..255 scale)
  # ...and the chromaticity (mean colour / its brightness) spreads within each domain.
  for d in train:
    means = np.stack([a.reshape(-1, 3).mean(0) for a in d.arrays]) + 1.0
    assert (means / means.sum(1, keepdims=True)).std(0).max() > 0.03, d.name


def test_embedded_multi_domain_source():
  c = _cfg(source="embedded", embedded_images=8, load_size=24, input_nc=3)
  names, domains = multi_domain_sources(c, "train")
  assert names == ["day", "night", "duotone"] and [len(d) for d in domains] == [8] * 3
  assert [len(d) for d in multi_domain_sources(c, "test")[1]] == [4] * 3  # max(4, 8 // 4)
  assert domains[2].load(0).shape == (24, 24, 3)
  with pytest.raises(ValueError, match="num_domains=2 but the embedded dataset has 3 domains"):
    multi_domain_sources(c, "train", num_domains=2)
