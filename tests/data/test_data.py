"""Image reading, preprocessing, sources and the deterministic pipeline."""

import ml_collections
import numpy as np
import pytest
from PIL import Image

from i2ijax.data import images as image_io
from i2ijax.data.embedded import day_night_domains
from i2ijax.data.pipeline import Batches, UnalignedExamples, make_transform
from i2ijax.data.sources import ArrayDomain, unaligned_domains
from tests.helpers import grid_body, load_config


def _write(path, array, mode=None):
  Image.fromarray(array, mode).save(path)


def test_preprocess_resize_crop_flip_and_range():
  image = np.random.default_rng(0).integers(0, 256, (50, 80, 3), dtype=np.uint8)
  out = image_io.preprocess(image, np.random.default_rng(1), mode="resize_and_crop",
                            load_size=40, crop_size=32, flip=True)
  assert out.shape == (32, 32, 3) and out.dtype == np.float32
  assert out.min() >= -1 and out.max() <= 1
  # crop mode without resize, no flip: the output is a window of the input.
  out = image_io.preprocess(image, np.random.default_rng(2), mode="crop", load_size=0,
                            crop_size=16, flip=False)
  u8 = image_io.to_uint8(out)
  found = any(np.array_equal(image[y:y + 16, x:x + 16], u8)
              for y in range(50 - 15) for x in range(80 - 15))
  assert found
  # Flip happens about half the time.
  flips = 0
  tiny = np.arange(2 * 3 * 3, dtype=np.uint8).reshape(2, 3, 3)
  for seed in range(200):
    o = image_io.preprocess(tiny, np.random.default_rng(seed), mode="crop", load_size=0,
                            crop_size=2, flip=True)
    flips += bool(o[0, 0, 0] > o[0, 1, 0])
  assert 70 < flips < 130
  # An image smaller than the crop is upscaled (short side -> crop_size), then cropped.
  small = image_io.preprocess(image, np.random.default_rng(0), mode="crop", load_size=0,
                              crop_size=64, flip=False)
  assert small.shape == (64, 64, 3)
  with pytest.raises(ValueError, match="data.preprocess must be"):
    image_io.preprocess(image, np.random.default_rng(0), mode="zoom", load_size=0,
                        crop_size=8, flip=False)


def test_none_preprocess_rounds_to_multiple_of_4():
  image = np.zeros((30, 45, 3), np.uint8)
  out = image_io.preprocess(image, np.random.default_rng(0), mode="none", load_size=0,
                            crop_size=0, flip=False)
  assert out.shape == (32, 44, 3)


def _domains(n_a, n_b):
  a = ArrayDomain("a", [np.full((8, 8, 3), i, np.uint8) for i in range(n_a)])
  b = ArrayDomain("b", [np.full((8, 8, 3), 100 + i, np.uint8) for i in range(n_b)])
  return a, b


def _ids(example):
  return int(round((example["A"][0, 0, 0] + 1) * 127.5)), int(round((example["B"][0, 0, 0] + 1) * 127.5))


def test_unaligned_epochs_are_permutations_and_deterministic():
  a, b = _domains(5, 3)
  cfg = ml_collections.ConfigDict(dict(preprocess="crop", load_size=8, crop_size=8, flip=False))
  ex = UnalignedExamples(a, b, seed=3, transform=make_transform(cfg))
  assert ex.size == 5
  epoch0 = [_ids(ex(g))[0] for g in range(5)]
  epoch1 = [_ids(ex(g))[0] for g in range(5, 10)]
  assert sorted(epoch0) == sorted(epoch1) == [0, 1, 2, 3, 4]
  assert epoch0 != epoch1
  assert all(100 <= _ids(ex(g))[1] < 103 for g in range(20))
  again = UnalignedExamples(a, b, seed=3, transform=make_transform(cfg))
  assert [_ids(again(g)) for g in range(10)] == [_ids(ex(g)) for g in range(10)]
  other = UnalignedExamples(a, b, seed=4, transform=make_transform(cfg))
  assert [_ids(other(g)) for g in range(10)] != [_ids(ex(g)) for g in range(10)]


def test_process_slices_tile_the_global_batch():
  a, b = _domains(7, 7)
  cfg = ml_collections.ConfigDict(dict(preprocess="crop", load_size=8, crop_size=8, flip=True))
  ex = UnalignedExamples(a, b, seed=0, transform=make_transform(cfg))
  whole = Batches(ex, 4)(3)
  parts = [Batches(ex, 4, process_index=i, process_count=2)(3) for i in range(2)]
  for k in "AB":
    np.testing.assert_array_equal(np.concatenate([p[k] for p in parts]), whole[k])
  with pytest.raises(ValueError, match="batch_size 5 is not divisible by the number of processes 2"):
    Batches(ex, 5, process_index=0, process_count=2)


def test_prefetching_iterator_matches_direct_indexing():
  a, b = _domains(6, 4)
  cfg = ml_collections.ConfigDict(dict(preprocess="crop", load_size=8, crop_size=8, flip=True))
  batches = Batches(UnalignedExamples(a, b, seed=1, transform=make_transform(cfg)), 2)
  it = batches.iterate(5, prefetch=2)
  for expected_step in range(5, 9):
    step, batch = next(it)
    assert step == expected_step
    np.testing.assert_array_equal(batch["A"], batches(step)["A"])
  it.close()


def test_folder_source(tmp_path):
  c = load_config("cyclegan")
  c.data.path = str(tmp_path)
  with pytest.raises(FileNotFoundError, match="has no trainA/ folder"):
    unaligned_domains(c.data)
  (tmp_path / "trainA").mkdir()
  (tmp_path / "trainB").mkdir()
  with pytest.raises(ValueError, match=r"no usable image in .*trainA \(0 files\)"):
    unaligned_domains(c.data)
  _write(tmp_path / "trainA" / "x.png", np.zeros((9, 9, 3), np.uint8))
  (tmp_path / "trainA" / "notes.txt").write_text("ignored")
  _write(tmp_path / "trainB" / "y.jpg", np.zeros((9, 9, 3), np.uint8))
  _write(tmp_path / "trainB" / "z.png", np.zeros((9, 9, 3), np.uint8))
  a, b = unaligned_domains(c.data)
  assert (len(a), len(b)) == (1, 2) and a.load(0).shape == (9, 9, 3)
  c.data.path = ""
  with pytest.raises(ValueError, match="config.data.path is empty"):
    unaligned_domains(c.data)


def test_tfds_source_fails_fast_offline(tmp_path):
  c = load_config("cyclegan", "horse2zebra")
  c.data.tfds_data_dir = str(tmp_path)
  with pytest.raises(FileNotFoundError, match="cycle_gan/horse2zebra.*is not prepared.*tfds build"):
    unaligned_domains(c.data)


def test_embedded_domains_are_disjoint_day_and_night():
  a, b = day_night_domains(12, 40)
  assert len(a) == len(b) == 12
  day = np.stack(a.arrays).astype(float)
  night = np.stack(b.arrays).astype(float)
  assert day.shape == night.shape == (12, 40, 40, 3)
  assert night.mean() < 0.6 * day.mean()  # darker
  assert night[..., 2].mean() > night[..., 0].mean() + 10  # blue cast
  test_a, _ = day_night_domains(4, 40, "test")
  assert not any(np.array_equal(t, x) for t in test_a.arrays for x in a.arrays)


def test_tfds_sources_read_prepared_sets(monkeypatch):
  """The reading path on TFDS's mock data (random images shaped like the real features)."""
  import tensorflow_datasets as tfds
  from i2ijax.data import sources
  monkeypatch.setattr(sources, "_tfds_is_prepared", lambda builder: True)
  c = load_config("pix2pix")
  c.data.source, c.data.tfds_name = "tfds", "div2k/bicubic_x4"
  with pytest.raises(ValueError, match="tfds_input_key and config.data.tfds_target_key"):
    sources.aligned_domains(c.data, "train")
  c.data.tfds_input_key, c.data.tfds_target_key = "lr", "hr"
  with tfds.testing.mock_data(num_examples=3):
    a, b = sources.aligned_domains(c.data, "test")  # div2k has no test split: validation
    assert len(a) == len(b) == 3 and a.name.endswith(":validation:lr")
    assert a.load(0).dtype == np.uint8 and a.load(0).shape[2] == b.load(0).shape[2] == 3
    c.data.tfds_target_key = "hi_res"
    with pytest.raises(ValueError, match="no feature 'hi_res'; its features are"):
      sources.aligned_domains(c.data, "train")
    h = load_config("cyclegan", "horse2zebra")
    a, b = unaligned_domains(h.data, "test")
    assert len(a) == len(b) == 3 and a.load(1).shape[2] == 3


def test_paired_tfds_source_fails_fast_offline(tmp_path):
  from i2ijax.data.sources import aligned_domains
  c = load_config("pix2pix")
  c.data.source, c.data.tfds_name, c.data.tfds_data_dir = "tfds", "div2k/bicubic_x4", str(tmp_path)
  c.data.tfds_input_key, c.data.tfds_target_key = "lr", "hr"
  with pytest.raises(FileNotFoundError, match="div2k/bicubic_x4.*is not prepared.*aligned A|B"):
    aligned_domains(c.data, "train")


def test_embedded_paired_tasks():
  from i2ijax.data.embedded import PAIRED_TEST_PHOTOS, PAIRED_TRAIN_PHOTOS, paired_domains
  assert not set(PAIRED_TRAIN_PHOTOS) & set(PAIRED_TEST_PHOTOS)  # held-out photos
  noisy, clean = paired_domains("denoising", 4, 64, "test")
  diff = noisy.load(0).astype(float) - clean.load(0)
  assert clean.load(0).shape == (64, 64, 3) and 15 < diff.std() < 30  # sigma 25, some clipping
  low, high = paired_domains("super_resolution_4x", 2, 64, "train")
  small = Image.fromarray(high.load(1)).resize((16, 16), Image.BICUBIC)
  np.testing.assert_array_equal(low.load(1), np.asarray(small.resize((64, 64), Image.BICUBIC)))
  gray, color = paired_domains("colorization", 2, 64, "train")
  g = gray.load(0)
  assert np.array_equal(g[..., 0], g[..., 1]) and not np.array_equal(color.load(0)[..., 0],
                                                                     color.load(0)[..., 1])
  with pytest.raises(ValueError, match="embedded_task='deblur' is not one of"):
    paired_domains("deblur", 2, 64)


def test_homointerp_crop_offset_and_stretch():
  """HomoInterpGAN's CelebA crop: 160 at 15 columns right of the floor-halved centre, edge
  columns repeated past the image; then scipy.misc.imresize's stretch of a float image."""
  h, w = 218, 178
  rows, cols = np.mgrid[0:h, 0:w]
  image = np.stack([rows, cols, (rows + cols) % 7], -1).astype(np.uint8)
  crop = image_io.crop_offset_replicate(image, 160, (0, 15))
  assert crop.shape == (160, 160, 3)
  np.testing.assert_array_equal(crop[:, 0, 0], np.arange(29, 189))  # rows (218 - 160) // 2 = 29 on
  np.testing.assert_array_equal(crop[0, :, 1], np.minimum(np.arange(24, 184), 177))  # 9 + 15 = 24
  with pytest.raises(ValueError, match=r"a 160x160 crop offset by \(0, 15\) does not fit a "
                                       r"150x150 image"):
    image_io.crop_offset_replicate(np.zeros((150, 150, 3), np.uint8), 160, (0, 15))
  x = np.array([[[10, 60, 110]]], np.uint8)
  # 50 * float32(2.55) rounds to 127.5 in float32, then up: scipy's value.
  np.testing.assert_array_equal(image_io.stretch_to_full_range(x), [[[0, 128, 255]]])
  np.testing.assert_array_equal(image_io.stretch_to_full_range(np.full((2, 2, 3), 9, np.uint8)), 0)
  config = load_config("homointerp")
  assert tuple(config.data.center_crop_offset) == (0, 15) and config.data.stretch
  config.data.crop_size = 32
  out = make_transform(config.data)(image, np.random.default_rng(0))
  want = image_io.resize_short_side(image_io.stretch_to_full_range(crop), 32)
  np.testing.assert_array_equal(out, want.astype(np.float32) / 127.5 - 1)
  config.data.center_crop_offset = (0, 1.5)
  with pytest.raises(ValueError, match=r"config.data.center_crop_offset=\(0, 1.5\) must be two"):
    make_transform(config.data)


def test_resize_filter_of_resize_and_crop():
  """U-GAT-IT resizes with torchvision's default (bilinear), the junyanz family bicubic."""
  image = np.random.default_rng(0).integers(0, 256, (20, 30, 3), np.uint8)
  d = load_config("ugatit").data
  assert d.resize_filter == "bilinear"
  d.load_size = d.crop_size = 16
  d.flip = False
  out = make_transform(d)(image, np.random.default_rng(0))
  want = np.asarray(Image.fromarray(image).resize((16, 16), Image.BILINEAR))
  np.testing.assert_array_equal(out, want.astype(np.float32) / 127.5 - 1.0)
  d.resize_filter = "bicubic"
  bicubic = np.asarray(Image.fromarray(image).resize((16, 16), Image.BICUBIC))
  np.testing.assert_array_equal(make_transform(d)(image, np.random.default_rng(0)),
                                bicubic.astype(np.float32) / 127.5 - 1.0)
  d.resize_filter = "lanczos"
  with pytest.raises(ValueError, match="config.data.resize_filter='lanczos'"):
    make_transform(d)


def test_grid_column_labels_wider_than_cells_are_staggered():
  from i2ijax.data.images import column_label_places, render_grid
  from i2ijax.registry import Grid
  # Labels that fit stay on one line, centred on their cells.
  assert column_label_places([10, 10, 10], 34, 40, 144) == [(53, 0), (87, 0), (121, 0)]
  # Wider ones move down a line wherever they would touch the label before them, and
  # inwards where they would leave the canvas (the grid stays its bottom-right block).
  widths = [36, 96, 90, 60, 96]
  places = column_label_places(widths, 34, 40, 212)
  assert len({line for _, line in places}) > 1
  assert places[-1][0] == 212 - 96 and all(0 <= x <= 212 - w for (x, _), w in zip(places, widths))
  for a in range(len(widths)):
    for b in range(a + 1, len(widths)):
      (xa, la), (xb, lb) = places[a], places[b]
      assert la != lb or xb >= xa + widths[a] + 4 or xa >= xb + widths[b] + 4
  image = np.zeros((32, 32, 3), np.uint8)
  labels = ["source"] + [f"change {n}" for n in ("Warm_Tint", "Cool_Tint", "Dark", "Faded")]
  one_line = render_grid(Grid([[image] * 5], ["source #0"], ["a"] * 5))
  staggered = render_grid(Grid([[image] * 5], ["source #0"], labels))
  assert staggered.shape[0] > one_line.shape[0]  # more header lines, same cells
  assert staggered.shape[1] == one_line.shape[1]
  np.testing.assert_array_equal(grid_body(staggered, 1, 5), grid_body(one_line, 1, 5))
