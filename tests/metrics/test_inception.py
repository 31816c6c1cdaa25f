"""The FID Inception-v3 against pytorch-fid, its state_dict mapping, and the torch-free loader.

`tests/fixtures/fid_inception_forward.npz` was made with pytorch-fid 0.3.0 (torchvision 0.28,
torch 2.13, CPU) by `tests/fixtures/make/fid_inception_forward.py`: `fid_inception_v3()` with
its download replaced by `random_state_dict(shapes, seed=0)` below (the 95 MB real weights are
not needed, and the test regenerates the same weights), wrapped in `InceptionV3([3])` (resize
to 299 and 2x - 1 on) for the features and run whole for the 1008 logits. Stored: `images`
(2 uint8 64x64 RGB images, NHWC), torch's input x / 255 (as `ToTensor`) -> `features`
[2, 2048], `logits` [2, 1008]; and `F.interpolate(mode='bilinear', align_corners=False)` of
`resize_in` [1, 37, 23, 2] (NHWC) to 16x9, 50x40 and 5x61 (`resize_HxW`).

`tests/fixtures/torch_state_dict_{zip,legacy}.pth` are one dict saved by torch 2.13 with
`torch.save` in the zip and the legacy (`_use_new_zipfile_serialization=False`) formats, and
`torch_state_dict_values.npz` the values torch reads back from them
(`tests/fixtures/make/torch_state_dicts.py`): a Conv2d + BatchNorm2d
state_dict (with `_metadata` and `num_batches_tracked`), a slice of a larger tensor (a storage
offset), a transpose (strides), two views of one storage, float16/float64/int64/int32/uint8/bool
tensors, a scalar and an `nn.Parameter`.
"""

import collections
import os
import pickle

import jax
import numpy as np
import pytest

from i2ijax.metrics import inception
from i2ijax.metrics.torch_weights import load_torch_state_dict, save_npz_state_dict
from tests.helpers import FIXTURES, random_state_dict

@pytest.fixture(scope="module")
def fx():
  return np.load(os.path.join(FIXTURES, "fid_inception_forward.npz"))


@pytest.fixture(scope="module")
def state_dict():
  return random_state_dict(inception.inception_state_dict_shapes(), seed=0)


@pytest.fixture(scope="module")
def variables(state_dict):
  return inception.inception_variables_from_state_dict(state_dict)


def _assert_close(ours, ref, rel=1e-4):
  ours = np.asarray(ours)
  assert ours.shape == ref.shape
  np.testing.assert_allclose(ours, ref, rtol=0, atol=rel * float(np.abs(ref).max()))


def test_features_and_logits_match_pytorch_fid(fx, variables):
  features, logits = inception.inception_features(variables, fx["images"], logits=True)
  _assert_close(features, fx["features"])
  _assert_close(logits, fx["logits"])
  # [-1, 1] float images are the same images: (x + 1) / 2 = x / 255 up to rounding.
  as_float = fx["images"].astype(np.float32) / 127.5 - 1.0
  _assert_close(inception.inception_features(variables, as_float), fx["features"])


def test_feature_fn_batches_and_is_deterministic(fx, variables):
  direct = np.asarray(inception.inception_features(variables, fx["images"]))
  assert np.array_equal(direct, np.asarray(inception.inception_features(variables, fx["images"])))
  images = np.concatenate([fx["images"], fx["images"][:1]])  # 3 images in batches of 2 (padded)
  batched = inception.make_feature_fn(variables, batch_size=2)(images)
  assert batched.shape == (3, inception.FEATURE_DIM)
  _assert_close(batched, np.concatenate([direct, direct[:1]]), rel=1e-6)
  assert inception.make_feature_fn(variables, batch_size=2)(images[:0]).shape == (0, 2048)


@pytest.mark.parametrize("size", [(16, 9), (50, 40), (5, 61), (37, 23)])
def test_resize_is_torch_bilinear_without_antialiasing(fx, size):
  x = fx["resize_in"]
  ours = np.asarray(inception.resize_bilinear(x, size))
  ref = x if size == x.shape[1:3] else fx[f"resize_{size[0]}x{size[1]}"]
  np.testing.assert_allclose(ours, ref, rtol=0, atol=1e-6)


def test_state_dict_round_trip(state_dict, variables):
  shapes = inception.inception_state_dict_shapes()
  assert len(shapes) == 94 * 5 + 2  # 94 conv + BN layers, fc weight and bias
  assert shapes["Conv2d_1a_3x3.conv.weight"] == (32, 3, 3, 3)
  assert shapes["Mixed_7c.branch_pool.bn.running_var"] == (192,)
  assert shapes["fc.weight"] == (1008, 2048)
  assert variables["params"]["Mixed_5b"]["branch1x1"]["conv"]["kernel"].shape == (1, 1, 192, 64)
  back = inception.state_dict_from_inception_variables(variables)
  assert set(back) == set(state_dict)
  for k, v in state_dict.items():
    assert back[k].dtype == v.dtype and np.array_equal(back[k], v), k
  # BatchNorm step counters of newer torch files are accepted and dropped.
  counters = {k.replace("running_var", "num_batches_tracked"): np.array(0)
              for k in state_dict if k.endswith("running_var")}
  again = inception.inception_variables_from_state_dict({**state_dict, **counters})
  assert jax.tree_util.tree_all(jax.tree_util.tree_map(np.array_equal, again, variables))


def test_mismatched_state_dict_names_source_and_keys(state_dict):
  bad = dict(state_dict)
  del bad["Mixed_6b.branch7x7_2.conv.weight"]
  bad["Mixed_5b.branch1x1.bn.bias"] = np.zeros(3, np.float32)
  bad["AuxLogits.fc.weight"] = np.zeros((1008, 768), np.float32)
  with pytest.raises(ValueError) as e:
    inception.inception_variables_from_state_dict(bad, source="weights.pth")
  message = str(e.value)
  assert message.startswith("weights.pth: ")
  assert "missing keys: Mixed_6b.branch7x7_2.conv.weight" in message
  assert "unexpected keys: AuxLogits.fc.weight" in message
  assert "Mixed_5b.branch1x1.bn.bias: (3,) instead of (64,)" in message


def test_load_inception_from_file_and_missing_file_message(tmp_path, monkeypatch, state_dict):
  monkeypatch.delenv(inception.WEIGHTS_ENV, raising=False)
  with pytest.raises(FileNotFoundError) as e:
    inception.load_inception()
  message = str(e.value)
  assert inception.WEIGHTS_URL in message and inception.WEIGHTS_ENV in message
  missing = str(tmp_path / "nowhere.pth")
  with pytest.raises(FileNotFoundError, match="nowhere.pth"):
    inception.load_inception(missing)
  path = tmp_path / "inception.npz"
  save_npz_state_dict(path, state_dict)
  monkeypatch.setenv(inception.WEIGHTS_ENV, str(path))
  loaded = inception.load_inception()
  assert inception.state_dict_from_inception_variables(loaded).keys() == state_dict.keys()
  np.testing.assert_array_equal(loaded["batch_stats"]["Mixed_7c"]["branch_pool"]["bn"]["var"],
                                state_dict["Mixed_7c.branch_pool.bn.running_var"])


# ---------------------------------------------------------------- torch_weights


@pytest.mark.parametrize("fmt", ["zip", "legacy"])
def test_torch_files_load_as_torch_reads_them(fmt):
  sd = load_torch_state_dict(os.path.join(FIXTURES, f"torch_state_dict_{fmt}.pth"))
  expected = np.load(os.path.join(FIXTURES, "torch_state_dict_values.npz"))
  assert list(sd) == list(expected.files)
  for k in expected.files:
    assert sd[k].dtype == expected[k].dtype and sd[k].shape == expected[k].shape, k
    np.testing.assert_array_equal(sd[k], expected[k], err_msg=k)
  whole = np.arange(24, dtype=np.float32).reshape(4, 6)
  np.testing.assert_array_equal(sd["offset_rows"], whole[1:3])
  np.testing.assert_array_equal(sd["transposed"], whole.T)
  np.testing.assert_array_equal(sd["strided"], whole[::2, 1::3])
  assert sd["transposed"].flags.c_contiguous


def test_npz_and_bad_files(tmp_path):
  arrays = {"a.weight": np.arange(6, dtype=np.float32).reshape(2, 3), "n": np.array(3)}
  save_npz_state_dict(tmp_path / "w.npz", arrays)
  back = load_torch_state_dict(tmp_path / "w.npz")
  assert list(back) == list(arrays) and all(np.array_equal(back[k], arrays[k]) for k in arrays)

  with pytest.raises(FileNotFoundError, match="missing.pth"):
    load_torch_state_dict(tmp_path / "missing.pth")
  (tmp_path / "junk.pth").write_bytes(b"not a weights file")
  with pytest.raises(ValueError, match="junk.pth: unknown weights format"):
    load_torch_state_dict(tmp_path / "junk.pth")
  # A legacy stream whose payload names a global other than the rebuild helpers is refused.
  with open(tmp_path / "evil.pth", "wb") as f:
    for header in (0x1950A86A20F9469CFC6C, 1001, {"little_endian": True}):
      pickle.dump(header, f, protocol=2)
    pickle.dump({"w": collections.Counter}, f, protocol=2)
  with pytest.raises(ValueError, match="evil.pth.*refuses to load collections.Counter"):
    load_torch_state_dict(tmp_path / "evil.pth")
  with open(tmp_path / "notdict.pth", "wb") as f:
    for obj in (0x1950A86A20F9469CFC6C, 1001, {}, [1, 2], []):
      pickle.dump(obj, f, protocol=2)
  with pytest.raises(ValueError, match="notdict.pth: holds a list, not a state_dict"):
    load_torch_state_dict(tmp_path / "notdict.pth")
