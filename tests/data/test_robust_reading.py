"""Reading a folder full of awkward files: each is converted or skipped, named once, counted."""

import io
import logging
import struct
import zlib

import numpy as np
import pytest
from PIL import Image

from i2ijax.data import images as image_io
from i2ijax.data.pipeline import Batches, UnalignedExamples, make_transform
from i2ijax.data.sources import FolderDomain, unaligned_domains
from tests.helpers import load_config


def _png16(path, array):
  """Writes uint16 [H, W, C] as a 16-bit PNG (Pillow cannot write 16-bit RGB itself)."""
  h, w, c = array.shape
  raw = b"".join(b"\x00" + array[y].astype(">u2").tobytes() for y in range(h))
  chunk = lambda t, d: (struct.pack(">I", len(d)) + t + d +
                        struct.pack(">I", zlib.crc32(t + d) & 0xFFFFFFFF))
  header = struct.pack(">IIBBBBB", w, h, 16, {1: 0, 3: 2}[c], 0, 0, 0)
  path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) +
                   chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))


def _jpeg_bytes(array):
  buf = io.BytesIO()
  Image.fromarray(array).save(buf, "JPEG", quality=95)
  return buf.getvalue()


def build_bad_folder(d):
  """Every kind of file the issue names; returns {name: expected outcome}."""
  d.mkdir(parents=True, exist_ok=True)
  rng = np.random.default_rng(0)
  photo = rng.integers(0, 256, (48, 40, 3), dtype=np.uint8)
  Image.fromarray(photo).save(d / "good.png")
  (d / "good.jpg").write_bytes(_jpeg_bytes(photo))
  (d / "truncated.jpg").write_bytes(_jpeg_bytes(photo)[:300])
  (d / "garbage.png").write_bytes(b"this is not an image at all" * 10)
  (d / "empty.jpg").write_bytes(b"")
  Image.new("CMYK", (40, 40), (0, 255, 255, 0)).save(d / "cmyk.jpg")  # pure red in CMYK
  Image.fromarray(np.full((40, 40), 90, np.uint8), "L").save(d / "gray.png")
  _png16(d / "gray16.png", np.full((40, 40, 1), 40000, np.uint16))
  _png16(d / "rgb16.png", np.stack([np.full((40, 40), v, np.uint16)
                                    for v in (65535, 32896, 0)], -1))
  rgba = np.zeros((40, 40, 4), np.uint8)
  rgba[..., 2], rgba[..., 3] = 255, 255
  rgba[:10, :10, 3] = 0  # transparent corner
  Image.fromarray(rgba, "RGBA").save(d / "rgba.png")
  Image.fromarray(photo[:12, :20]).save(d / "tiny.png")  # smaller than the 32 crop
  (d / "notes.txt").write_text("not an image")
  (d / ".DS_Store").write_bytes(b"\x00\x01")
  return {
      "good.png": "used", "good.jpg": "used", "rgb16.png": "used",
      "truncated.jpg": "skipped", "garbage.png": "skipped", "empty.jpg": "skipped",
      "notes.txt": "skipped", ".DS_Store": "skipped",
      "cmyk.jpg": "converted", "gray.png": "converted", "gray16.png": "converted",
      "rgba.png": "converted", "tiny.png": "converted",
  }


def _names(paths):
  return sorted(p.rsplit("/", 1)[-1] for p in paths)


def test_bad_files_are_converted_or_skipped_each_named_once(tmp_path, caplog):
  expected = build_bad_folder(tmp_path / "imgs")
  with caplog.at_level(logging.WARNING):
    scanned = image_io.scan_folder(str(tmp_path / "imgs"), channels=3, min_size=32)
  used = [n for n, e in expected.items() if e != "skipped"]
  assert _names(scanned.paths) == sorted(used)
  assert _names(scanned.skipped) == sorted(n for n, e in expected.items() if e == "skipped")
  assert _names(scanned.converted) == sorted(n for n, e in expected.items() if e == "converted")
  messages = [r.getMessage() for r in caplog.records]
  for name, outcome in expected.items():
    if outcome == "used":
      continue
    naming = [m for m in messages if f"/{name}:" in m]
    assert len(naming) == 1, (name, naming)  # exactly one warning names each bad file
    assert ("skipping" in naming[0]) == (outcome == "skipped")
  assert messages[-1].endswith("8 usable images, 5 skipped, 5 converted")

  domain = FolderDomain(str(tmp_path / "imgs"), 3, min_size=32)
  images = {n: domain.load(i) for i, n in enumerate(_names(domain.paths))}
  assert all(im.dtype == np.uint8 and im.ndim == 3 and im.shape[2] == 3 for im in images.values())
  assert np.all(images["gray16.png"] == round(40000 / 257))  # scaled, not clipped to white
  np.testing.assert_array_equal(images["rgb16.png"][0, 0], [255, 128, 0])
  assert np.all(images["gray.png"] == 90)
  assert tuple(images["rgba.png"][0, 0]) == (255, 255, 255)  # transparency -> white
  assert tuple(images["rgba.png"][20, 20]) == (0, 0, 255)
  r, g, b = images["cmyk.jpg"][20, 20].astype(int)
  assert r > 200 and g < 60 and b < 60


def test_training_pipeline_runs_over_the_bad_folder(tmp_path):
  """crop mode with a crop larger than tiny.png: every batch is full-size, nothing crashes."""
  build_bad_folder(tmp_path / "data" / "trainA")
  build_bad_folder(tmp_path / "data" / "trainB")
  c = load_config("cyclegan", "quickstart")
  c.data.source, c.data.path = "folder", str(tmp_path / "data")
  c.data.preprocess, c.data.crop_size = "crop", 32
  a, b = unaligned_domains(c.data, "train")
  examples = UnalignedExamples(a, b, seed=0, transform=make_transform(c.data))
  batches = Batches(examples, 4)
  for step in range(6):  # 24 examples: every usable image several times
    batch = batches(step)
    assert batch["A"].shape == (4, 32, 32, 3) and np.isfinite(batch["A"]).all()


def test_file_that_breaks_after_the_scan_is_replaced_not_fatal(tmp_path, caplog):
  build_bad_folder(tmp_path / "imgs")
  domain = FolderDomain(str(tmp_path / "imgs"), 3)
  i = _names(domain.paths).index("good.jpg")
  (tmp_path / "imgs" / "good.jpg").write_bytes(b"corrupted during the run")
  with caplog.at_level(logging.WARNING):
    image = domain.load(i)
  assert image.ndim == 3
  assert any("good.jpg" in r.getMessage() and "next image" in r.getMessage()
             for r in caplog.records)


def test_folder_without_usable_image_fails_at_start(tmp_path):
  d = tmp_path / "trainA"
  d.mkdir()
  (d / "a.jpg").write_bytes(b"\xff\xd8broken")
  (d / "readme.md").write_text("hi")
  with pytest.raises(ValueError, match=r"no usable image in .*trainA \(2 files: a.jpg: "):
    FolderDomain(str(d))
