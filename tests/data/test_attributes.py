"""StarGAN data: attribute sources (CelebA, class folders, TFDS, embedded), test-time labels,
the center_crop_resize transform and the multi-label examples."""

import random

import ml_collections
import numpy as np
import pytest
from PIL import Image

from i2ijax.data import attributes
from i2ijax.data import images as image_io
from i2ijax.data import sources
from i2ijax.data.attributes import (EMBEDDED_ATTRIBUTES, EMBEDDED_TEST_PHOTOS,
                                    EMBEDDED_TRAIN_PHOTOS, CelebAAttributes,
                                    ClassFolderAttributes, EmbeddedAttributes, attribute_source,
                                    render)
from i2ijax.data.pipeline import (Batches, MultiLabelExamples, make_transform,
                                  validate_data_config)


def _cfg(**kw):
  return ml_collections.ConfigDict(kw)


# --- CelebA -------------------------------------------------------------------------------

HEADER = ["5_o_Clock_Shadow", "Black_Hair", "Blond_Hair", "Brown_Hair", "Gray_Hair", "Male",
          "Young"]


def _celeba_values(i):
  """The attribute values (+-1) of image i of the generated file: a fixed pseudo-random pattern."""
  rng = np.random.default_rng(i)
  return [1 if v else -1 for v in rng.random(len(HEADER)) < 0.5]


def _write_celeba(tmp_path, n=2008, images=None):
  """A list_attr_celeba.txt of n images (blank line at the end) and the images `images` (or all)."""
  lines = [str(n), " ".join(HEADER) + " "]
  lines += [f"{i:06d}.png " + " ".join(f"{v:2d}" for v in _celeba_values(i)) for i in range(n)]
  attr = tmp_path / "list_attr_celeba.txt"
  attr.write_text("\n".join(lines) + "\n\n")
  image_dir = tmp_path / "images"
  image_dir.mkdir()
  for i in range(n) if images is None else images:
    Image.fromarray(np.full((4, 3, 3), i % 251, np.uint8)).save(image_dir / f"{i:06d}.png")
  return str(image_dir), str(attr)


def test_celeba_official_split_and_labels(tmp_path):
  n = 2008
  image_dir, attr = _write_celeba(tmp_path, n)
  # The official split, computed independently: the data lines, shuffled by random.seed(1234).
  with open(attr) as f:
    lines = [line.rstrip() for line in f][2:2 + n]
  random.seed(1234)
  random.shuffle(lines)
  want_test = [l.split()[0] for i, l in enumerate(lines) if (i + 1) < 2000]
  want_train = [l.split()[0] for i, l in enumerate(lines) if (i + 1) >= 2000]
  selected = ["Male", "Blond_Hair", "Black_Hair"]
  test = CelebAAttributes(image_dir, attr, selected, "test")
  train = CelebAAttributes(image_dir, attr, selected, "train")
  assert len(test) == 1999 and len(train) == n - 1999
  assert test.files == want_test and train.files == want_train  # same members, same order
  assert test.names == selected and test.groups == [[1, 2]] and not test.single_label
  for source in (test, train):
    for i in (0, 5, len(source) - 1):
      values = _celeba_values(int(source.files[i][:6]))
      want = [values[HEADER.index(a)] == 1 for a in selected]
      label = source.label(i)
      assert label.dtype == np.float32 and label.shape == (3,)
      np.testing.assert_array_equal(label, want)
  i = 7
  assert test.load(i).shape == (4, 3, 3) and test.load(i)[0, 0, 0] == int(test.files[i][:6]) % 251
  assert CelebAAttributes(image_dir, attr, ["Male", "Young"], "val").groups == []  # val = test
  default = CelebAAttributes(image_dir, attr, split="test")
  assert default.names == ["Black_Hair", "Blond_Hair", "Brown_Hair", "Male", "Young"]
  assert default.groups == [[0, 1, 2]]  # the hair colours: one group at test time
  c = _cfg(source="celeba", path=image_dir, attr_path=attr)
  via = attribute_source(c, "test", attrs=" Male, Blond_Hair,Black_Hair ")
  assert via.files == want_test and via.names == selected


def test_celeba_errors_name_the_key_file_and_line(tmp_path):
  image_dir, attr = _write_celeba(tmp_path, 2001, images=range(1990))
  with pytest.raises(FileNotFoundError, match=r"config.data.attr_path='nowhere.txt': no such"):
    CelebAAttributes(image_dir, "nowhere.txt")
  with pytest.raises(FileNotFoundError, match=r"config.data.path='.*nope' is not a directory"):
    CelebAAttributes(str(tmp_path / "nope"), attr)
  with pytest.raises(ValueError, match=r"config.model.attrs: \['Bald'\] not attributes of "
                                       r".*list_attr_celeba.txt.*valid names: 5_o_Clock_Shadow"):
    CelebAAttributes(image_dir, attr, ["Male", "Bald"])
  with pytest.raises(ValueError, match=r"config.model.attrs names \['Male'\] more than once"):
    CelebAAttributes(image_dir, attr, ["Male", "Young", "Male"])
  # 11 of the 2,001 images are missing; the test split (1,999) of the shuffled lines has some.
  with pytest.raises(FileNotFoundError, match=r"config.data.path=.* lacks \d+ of the 1999 test "
                                              r"images listed in .*list_attr_celeba.txt"):
    CelebAAttributes(image_dir, attr, split="test")
  text = (tmp_path / "list_attr_celeba.txt").read_text().split("\n")
  bad = list(text)
  bad[9] = bad[9].replace(" 1", " 2", 1).replace("-1", " 2", 1)
  (tmp_path / "bad.txt").write_text("\n".join(bad))
  with pytest.raises(ValueError, match=r"bad.txt line 10: value '2' is not 1 or -1"):
    for split in ("train", "test"):
      CelebAAttributes(image_dir, str(tmp_path / "bad.txt"), split=split)
  short = list(text)
  short[4] = " ".join(short[4].split()[:-1])
  (tmp_path / "short.txt").write_text("\n".join(short))
  with pytest.raises(ValueError, match=r"short.txt line 5: 7 fields, expected a file name and "
                                       r"7 values"):
    for split in ("train", "test"):
      CelebAAttributes(image_dir, str(tmp_path / "short.txt"), split=split)
  (tmp_path / "partition.txt").write_text("000001.jpg 0\n000002.jpg 0\n000003.jpg 1\n")
  with pytest.raises(ValueError, match=r"partition.txt line 1: .* is not the image count"):
    CelebAAttributes(image_dir, str(tmp_path / "partition.txt"))
  c = _cfg(source="celeba", path=image_dir, attr_path="")
  with pytest.raises(ValueError, match="config.data.attr_path is empty"):
    attribute_source(c)


# --- Class folders (RaFD) -----------------------------------------------------------------

def _write_class(directory, colour, n):
  directory.mkdir(parents=True)
  for i in range(n):
    Image.fromarray(np.full((5, 6, 3), colour, np.uint8)).save(directory / f"{i}.png")


def test_class_folder_source(tmp_path):
  _write_class(tmp_path / "train" / "sad", (0, 0, 200), 3)
  _write_class(tmp_path / "train" / "angry", (200, 0, 0), 2)
  _write_class(tmp_path / "train" / "happy", (0, 200, 0), 1)
  (tmp_path / "train" / ".hidden").mkdir()
  src = ClassFolderAttributes(str(tmp_path), "train")
  assert src.names == ["angry", "happy", "sad"] and src.single_label and len(src) == 6
  assert src.groups == [[0, 1, 2]]
  colours = {"angry": (200, 0, 0), "happy": (0, 200, 0), "sad": (0, 0, 200)}
  for i in range(6):
    label = src.label(i)
    assert label.dtype == np.float32 and label.sum() == 1  # one-hot
    assert tuple(src.load(i)[0, 0]) == colours[src.names[int(label.argmax())]]
  np.testing.assert_array_equal([src.label(i).argmax() for i in range(6)], [0, 0, 1, 2, 2, 2])
  with pytest.raises(IndexError):
    src.load(6)
  c = _cfg(source="class_folders", path=str(tmp_path))
  assert attribute_source(c, "train", "angry,happy,sad").names == src.names
  with pytest.raises(ValueError, match=r"config.model.attrs='happy,angry,sad' but .*train has "
                                       r"the attributes \['angry', 'happy', 'sad'\]"):
    attribute_source(c, "train", ["happy", "angry", "sad"])
  # test/ falls back to val/; neither is an error naming config.data.path.
  with pytest.raises(FileNotFoundError, match=r"config.data.path=.* has no test/ \(or val/\)"):
    ClassFolderAttributes(str(tmp_path), "test")
  _write_class(tmp_path / "val" / "angry", (200, 0, 0), 1)
  with pytest.raises(ValueError, match=r"val has 1 domain folder\(s\) \['angry'\]"):
    ClassFolderAttributes(str(tmp_path), "test")
  _write_class(tmp_path / "val" / "sad", (0, 0, 200), 1)
  assert ClassFolderAttributes(str(tmp_path), "test").name.endswith("val")
  # Without train/, the path itself holds the class folders (the official rafd_image_dir).
  flat = tmp_path / "flat"
  _write_class(flat / "a", (1, 1, 1), 1)
  _write_class(flat / "b", (2, 2, 2), 2)
  assert ClassFolderAttributes(str(flat), "train").names == ["a", "b"]
  with pytest.raises(ValueError, match="config.data.path is empty"):
    ClassFolderAttributes("", "train")


# --- TFDS ---------------------------------------------------------------------------------

def test_tfds_celeba_source(monkeypatch, tmp_path):
  import tensorflow_datasets as tfds
  c = _cfg(source="tfds", tfds_name="celeb_a", tfds_data_dir=str(tmp_path))
  with pytest.raises(FileNotFoundError, match="celeb_a.*is not prepared.*tfds build.*"
                                              "--config.data.source=celeba"):
    attribute_source(c, "train")
  monkeypatch.setattr(sources, "_tfds_is_prepared", lambda builder: True)
  c.tfds_data_dir = ""
  with tfds.testing.mock_data(num_examples=4):
    src = attribute_source(c, "val", "Male,Black_Hair,Gray_Hair")
    assert src.name == "celeb_a:validation" and len(src) == 4 and src.groups == [[1, 2]]
    image = src.load(3)
    assert image.dtype == np.uint8 and image.shape == (218, 178, 3)
    assert src.label(0).shape == (3,) and set(np.unique(src.label(0))) <= {0.0, 1.0}
    with pytest.raises(ValueError, match=r"config.model.attrs: \['Blue_Hair'\] not attributes "
                                         r"of TFDS dataset celeb_a.*valid names: 5_o_Clock"):
      attribute_source(c, "test", "Blue_Hair")


# --- Embedded -----------------------------------------------------------------------------

def _saturation(image):
  x = image.astype(np.float64)
  return (x - x.mean(-1, keepdims=True)).std()


def test_render_identity_and_directions():
  clean = EmbeddedAttributes(4, 48, "test").clean(1)
  np.testing.assert_array_equal(render(clean, np.zeros(5)), clean)
  one = lambda k, s=1.0: render(clean, np.eye(5)[k] * s)
  means = lambda im: im.reshape(-1, 3).astype(np.float64).mean(0)
  r, g, b = means(clean)
  wr, _, wb = means(one(0))
  cr, _, cb = means(one(1))
  assert wr / wb > 1.3 * r / b and cr / cb < r / b / 1.3  # warm raises R/B, cool lowers it
  assert means(one(2)).mean() < 0.6 * means(clean).mean()  # dark
  assert _saturation(one(3)) < 0.5 * _saturation(clean)  # faded: less chroma...
  assert one(3).std() < clean.std()  # ...and less contrast
  ratio = (one(4).astype(np.float64) + 1) / (clean.astype(np.float64) + 1)
  assert ratio[:4, :4].mean() < 0.55 and ratio[20:28, 20:28].mean() > 0.95  # corners darker
  # Continuous strengths move the image monotonically between the ends.
  assert means(one(2)).mean() < means(one(2, 0.5)).mean() < means(clean).mean()
  # Dark is not a global gain: normalising each channel over the image (instance norm) does
  # not undo it (a gain of 0.45 leaves 0.04 here, from rounding alone).
  inorm = lambda im: (im - im.mean((0, 1))) / im.std((0, 1))
  assert np.abs(inorm(one(2).astype(np.float64)) - inorm(clean.astype(np.float64))).mean() > 0.1
  with pytest.raises(ValueError, match=r"strengths must be \[5\]"):
    render(clean, np.zeros(4))
  with pytest.raises(ValueError, match=r"strengths must be in \[0, 1\]"):
    render(clean, [0, 0, 1.5, 0, 0])


def test_render_is_invertible_away_from_clipping():
  x = np.random.default_rng(0).integers(60, 170, (16, 16, 3), dtype=np.uint8)
  s = np.array([1.0, 0.0, 1.0, 1.0, 1.0])
  y = render(x, s).astype(np.float64) / 255.0
  # Undo in reverse order: tint, contrast, chroma, vignette, dark.
  y = (y - np.array(attributes.WARM_CAST)) / np.array(attributes.WARM_GAINS)
  y = 0.5 + (y - 0.5) / (1 - attributes.FADE_CONTRAST)
  m = y.mean(-1, keepdims=True)
  y = m + (y - m) / (1 - attributes.FADE_CHROMA)
  v, u = np.mgrid[-1:1:16j, -1:1:16j]
  mask = 1 - np.minimum(1.0, attributes.VIGNETTE * (u**2 + v**2))
  inner = mask > 0.3  # the vignette's black corners cannot be undone
  y = (y / np.maximum(mask, 1e-9)[..., None]).clip(0, 1) ** (1 / (1 + attributes.DARK_GAMMA))
  # Only the output's uint8 rounding (+-0.5) is lost, amplified by the inverse gains (up to
  # 1 / (0.3 * 0.5 * 0.2 * 0.45) on the chroma near the vignette's edge) and the inverse curve.
  err = np.abs(y * 255 - x)[inner]
  assert err.mean() < 20
  recovered = np.where(inner[..., None], np.clip(np.round(y * 255), 0, 255), x).astype(np.uint8)
  assert np.abs(render(recovered, s).astype(int)
                - render(x, s)).max() <= 1  # the recovered image renders to the same output


def test_embedded_attribute_set():
  assert not set(EMBEDDED_TRAIN_PHOTOS) & set(EMBEDDED_TEST_PHOTOS)
  train = EmbeddedAttributes(40, 32, "train")
  assert train.names == list(EMBEDDED_ATTRIBUTES) and train.groups == [[0, 1]]
  assert not train.single_label and len(train) == 40
  labels = np.stack([train.label(i) for i in range(40)])
  assert labels.dtype == np.float32 and set(np.unique(labels)) == {0.0, 1.0}
  assert labels[:, :2].sum(1).max() == 1  # never warm and cool at once
  assert 0 < labels[:, :2].sum(1).mean() < 1 and all(0 < m < 1 for m in labels[:, 2:].mean(0))
  for i in range(40):
    img = train.load(i)
    assert img.shape == (32, 32, 3) and img.dtype == np.uint8
    np.testing.assert_array_equal(train.truth(i, train.label(i)), img)
    np.testing.assert_array_equal(train.truth(i, np.zeros(5)), train.clean(i))
  again = EmbeddedAttributes(40, 32, "train")  # deterministic
  assert all(np.array_equal(train.load(i), again.load(i)) for i in range(40))
  np.testing.assert_array_equal(labels, np.stack([again.label(i) for i in range(40)]))
  test = EmbeddedAttributes(10, 32, "test")
  cleans = {train.clean(i).tobytes() for i in range(40)}
  assert not cleans & {test.clean(i).tobytes() for i in range(10)}
  c = _cfg(source="embedded", embedded_images=40, load_size=32)
  assert len(attribute_source(c, "train")) == 40 and len(attribute_source(c, "test")) == 10
  assert len(attribute_source(_cfg(source="embedded", embedded_images=12, load_size=8),
                              "test")) == 8  # max(8, n // 4)
  assert attribute_source(c, "train", ",".join(EMBEDDED_ATTRIBUTES)).names == train.names
  with pytest.raises(ValueError, match=r"config.model.attrs='Black_Hair,Male' but the embedded "
                                       r"attribute set has the attributes \['Warm_Tint'"):
    attribute_source(c, "train", "Black_Hair,Male")
  with pytest.raises(ValueError, match=r"config.data.source must be one of \['embedded', "
                                       r"'embedded_levels', 'celeba', 'class_folders', 'tfds'\]"):
    attribute_source(_cfg(source="folder"), "train")


# --- Test-time labels ---------------------------------------------------------------------

def test_single_changes_are_the_official_test_labels():
  # CelebA's defaults: Black, Blond, Brown hair (one group), Male, Young.
  got = np.asarray(attributes.single_changes([0, 1, 0, 1, 0], [[0, 1, 2]], False))
  want = [[1, 0, 0, 1, 0],   # black hair: on, the other colours off
          [0, 1, 0, 1, 0],   # blond (already): unchanged
          [0, 0, 1, 1, 0],   # brown
          [0, 1, 0, 0, 0],   # Male flipped
          [0, 1, 0, 1, 1]]   # Young flipped
  assert got.dtype == np.float32
  np.testing.assert_array_equal(got, want)
  # No group: every row flips one attribute.
  np.testing.assert_array_equal(np.asarray(attributes.single_changes([1, 0, 1], [], False)),
                                [[0, 0, 1], [1, 1, 1], [1, 0, 0]])
  # Two groups (the embedded tints and another pair).
  np.testing.assert_array_equal(
      np.asarray(attributes.single_changes([0, 0, 1, 0, 1], [[0, 1], [3, 4]], False)),
      [[1, 0, 1, 0, 1], [0, 1, 1, 0, 1], [0, 0, 0, 0, 1], [0, 0, 1, 1, 0], [0, 0, 1, 0, 1]])
  # Single label (RaFD): the one-hot of every class, whatever the source.
  np.testing.assert_array_equal(np.asarray(attributes.single_changes([0, 0, 1, 0], [], True)), np.eye(4))
  # A batch [N, K] gives [K, N, K]: target k of every source.
  batch = np.asarray(attributes.single_changes(np.asarray([[0, 1, 0, 1, 0], [1, 0, 0, 0, 1]]),
                                               [[0, 1, 2]], False))
  assert batch.shape == (5, 2, 5)
  np.testing.assert_array_equal(batch[:, 0], want)
  np.testing.assert_array_equal(batch[3, 1], [1, 0, 0, 1, 1])


# --- center_crop_resize -------------------------------------------------------------------

def _unit(uint8_image):
  """uint8 -> float32 in [-1, 1], as the transforms compute it."""
  return np.asarray(uint8_image).astype(np.float32) / 127.5 - 1.0


def _ccr(**kw):
  return _cfg(**{"preprocess": "center_crop_resize", "load_size": 0, "crop_size": 128,
                 "center_crop": 178, "flip": False, **kw})


def test_center_crop_resize_matches_the_official_order():
  image = np.random.default_rng(0).integers(0, 256, (218, 178, 3), dtype=np.uint8)
  out = make_transform(_ccr())(image, np.random.default_rng(0))
  assert out.shape == (128, 128, 3) and out.dtype == np.float32
  want = np.asarray(Image.fromarray(image[20:198]).resize((128, 128), Image.BILINEAR))
  np.testing.assert_array_equal(out, _unit(want))
  # The flip comes first, on the whole image: with an odd margin (179 - 178: torchvision
  # keeps columns 0..177) a flip before the crop differs from one after it.
  odd = np.random.default_rng(1).integers(0, 256, (218, 179, 3), dtype=np.uint8)
  flipped = odd[:, ::-1]
  before = _unit(Image.fromarray(np.ascontiguousarray(flipped[20:198, 0:178])).resize(
      (128, 128), Image.BILINEAR))
  after = _unit(Image.fromarray(odd[20:198, 0:178]).resize((128, 128), Image.BILINEAR))[:, ::-1]
  assert not np.array_equal(before, after)
  transform = make_transform(_ccr(flip=True))
  outs = [transform(odd, np.random.default_rng(s)) for s in range(16)]
  plain = make_transform(_ccr())(odd, None)
  assert all(np.array_equal(o, before) or np.array_equal(o, plain) for o in outs)
  assert any(np.array_equal(o, before) for o in outs) and any(
      np.array_equal(o, plain) for o in outs)
  # No centre crop: the short side to 128 (long side int(128 * 218 / 178) = 156), then the
  # centre 128 x 128.
  no_crop = make_transform(_ccr(center_crop=0))(image, None)
  resized = image_io.resize(image, 156, 128, Image.BILINEAR)
  np.testing.assert_array_equal(no_crop, _unit(resized[14:142]))
  with pytest.raises(ValueError, match=r"a 100x150 image is smaller than "
                                       r"config.data.center_crop=178"):
    make_transform(_ccr())(image[:100, :150], None)
  with pytest.raises(ValueError, match=r"config.data.center_crop=-1 must be >= 0"):
    validate_data_config(_ccr(center_crop=-1))


# --- MultiLabelExamples -------------------------------------------------------------------

class _Solid:
  """n solid 8x8 images; image i has colour (10 i, 0, 0) and label (i % 2, i % 3 == 0)."""
  name, names, groups, single_label = "solid", ["odd", "third"], [], False

  def __init__(self, n):
    self.n = n

  def __len__(self):
    return self.n

  def load(self, i):
    return np.full((8, 8, 3), (10 * i, 0, 0), np.uint8)

  def label(self, i):
    return np.array([i % 2, i % 3 == 0], np.float32)


def test_multi_label_examples_epochs_and_determinism():
  transform = make_transform(_cfg(preprocess="center_crop_resize", load_size=0, crop_size=8,
                                  center_crop=0, flip=True))
  ex = MultiLabelExamples(_Solid(7), seed=3, transform=transform)
  assert ex.size == 7 and ex.names == ["odd", "third"] and ex.groups == [] and not ex.single_label
  ids = lambda g: int(round((ex(g)["x"][0, 0, 0] + 1.0) * 127.5)) // 10
  epochs = [[ids(e * 7 + p) for p in range(7)] for e in range(3)]
  for order in epochs:
    assert sorted(order) == list(range(7))  # each epoch is a permutation of the images
  assert epochs[0] != epochs[1] or epochs[1] != epochs[2]  # a fresh one each epoch
  for g in range(14):
    e = ex(g)
    assert e["x"].dtype == e["label"].dtype == np.float32 and e["x"].shape == (8, 8, 3)
    i = ids(g)
    np.testing.assert_array_equal(e["label"], [i % 2, i % 3 == 0])
  again = MultiLabelExamples(_Solid(7), seed=3, transform=transform)
  for g in (20, 3, 0, 13):  # any order: depends only on (seed, g)
    np.testing.assert_array_equal(ex(g)["x"], again(g)["x"])
  other = MultiLabelExamples(_Solid(7), seed=4, transform=transform)
  assert [ids(g) for g in range(7)] != [int(round((other(g)["x"][0, 0, 0] + 1) * 127.5)) // 10
                                        for g in range(7)]
  batch = Batches(ex, 4)(1)
  assert batch["x"].shape == (4, 8, 8, 3) and batch["label"].shape == (4, 2)
  with pytest.raises(ValueError, match="has no images"):
    MultiLabelExamples(_Solid(0), seed=0, transform=transform)


def test_multi_label_examples_on_the_embedded_set():
  c = _cfg(source="embedded", embedded_images=8, load_size=16, preprocess="center_crop_resize",
           crop_size=16, center_crop=0, flip=True)
  src = attribute_source(c, "train")
  ex = MultiLabelExamples(src, seed=0, transform=make_transform(c))
  assert ex.names == list(EMBEDDED_ATTRIBUTES) and ex.groups == [[0, 1]]
  seen = set()
  for g in range(8):
    e = ex(g)
    assert -1 <= e["x"].min() and e["x"].max() <= 1
    i = [k for k in range(8) if np.array_equal(src.label(k), e["label"]) and (
        np.array_equal(image_io.to_uint8(e["x"]), src.load(k))
        or np.array_equal(image_io.to_uint8(e["x"]), src.load(k)[:, ::-1]))]
    assert len(i) == 1
    seen.add(i[0])
  assert seen == set(range(8))
