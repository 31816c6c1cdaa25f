"""LPIPS against the `lpips` package, its state_dict mapping, loading and the diversity average.

`tests/fixtures/lpips_forward.npz` was made with lpips 0.1.4 (torchvision 0.28, torch 2.13,
CPU) by `tests/fixtures/make/lpips_forward.py`: `lpips.LPIPS(net=..., pretrained=False, pnet_rand=True)` (no
download) loaded with `random_state_dict(lpips_state_dict_shapes(net), seed=1)` (the test's
generator from test_inception.py; `features.N` -> `net.slice{s}.N`), in eval mode. Stored:
uint8 NHWC images `x`, `y` [3, 64, 64, 3] and `outputs` [2, 4, 32, 32, 3], fed to torch as
u / 127.5 - 1 in float32; `alex_xy`, `vgg_xy` = LPIPS(x, y) [3]; `alex_pair_distances` [6, 2]
= LPIPS(outputs[:, i], outputs[:, j]) for the pairs i < j in row-major order; and
`alex_pairwise_mean`, StarGAN v2's average of those (`metrics/lpips.py`
`calculate_lpips_given_images`: the batch mean per pair, then the mean over pairs).

`tests/fixtures/lpips_alex_random_heads_legacy.pth` holds the same random AlexNet heads
(`lin{k}.model.1.weight`) saved by torch in the legacy format, as the released heads files.
"""

import os

import jax
import numpy as np
import pytest

from i2ijax.metrics import lpips
from i2ijax.metrics.torch_weights import save_npz_state_dict
from tests.helpers import FIXTURES, random_state_dict


def _float(u):
  return u.astype(np.float32) / 127.5 - 1.0


@pytest.fixture(scope="module")
def fx():
  return np.load(os.path.join(FIXTURES, "lpips_forward.npz"))


def _state_dict(net):
  return random_state_dict(lpips.lpips_state_dict_shapes(net), seed=1)


@pytest.fixture(scope="module")
def alex_params():
  return lpips.lpips_params_from_state_dict(_state_dict("alex"), "alex")


@pytest.mark.parametrize("net", ["alex", "vgg"])
def test_distances_match_the_lpips_package(fx, net):
  params = lpips.lpips_params_from_state_dict(_state_dict(net), net)
  d = np.asarray(lpips.lpips_distance(params, _float(fx["x"]), _float(fx["y"])))
  np.testing.assert_allclose(d, fx[f"{net}_xy"], rtol=1e-5, atol=0)


def test_mean_pairwise_lpips_is_stargan_v2s_average(fx, alex_params):
  outputs = _float(fx["outputs"])  # [2 inputs, 4 outputs each, 32, 32, 3]
  i_idx, j_idx = np.triu_indices(4, 1)
  pairs = np.stack([lpips.lpips_distance(alex_params, outputs[:, i], outputs[:, j])
                    for i, j in zip(i_idx, j_idx)])
  np.testing.assert_allclose(pairs, fx["alex_pair_distances"], rtol=1e-5, atol=0)
  score = lpips.mean_pairwise_lpips(alex_params, outputs)
  assert score == pytest.approx(float(fx["alex_pairwise_mean"]), rel=1e-5)
  assert lpips.mean_pairwise_lpips(alex_params, outputs, batch_size=1) == pytest.approx(score,
                                                                                        rel=1e-6)
  with pytest.raises(ValueError, match=r"outputs must be \[N, K >= 2"):
    lpips.mean_pairwise_lpips(alex_params, outputs[:, :1])


def test_distance_properties_and_determinism(fx, alex_params):
  x, y = _float(fx["x"]), _float(fx["y"])
  d = np.asarray(lpips.lpips_distance(alex_params, x, y))
  assert np.array_equal(d, np.asarray(lpips.lpips_distance(alex_params, x, y)))
  np.testing.assert_allclose(lpips.lpips_distance(alex_params, y, x), d, rtol=1e-6)
  assert np.all(np.abs(np.asarray(lpips.lpips_distance(alex_params, x, x))) < 1e-7)
  assert d.shape == (3,) and np.all(d > 0)


@pytest.mark.parametrize("net", ["alex", "vgg"])
def test_state_dict_round_trip(net):
  sd = _state_dict(net)
  params = lpips.lpips_params_from_state_dict(sd, net)
  convs = (0, 3, 6, 8, 10) if net == "alex" else (0, 2, 5, 7, 10, 12, 14, 17, 19, 21, 24, 26, 28)
  assert sorted(params) == sorted([f"features_{n}" for n in convs] + [f"lin{k}" for k in range(5)])
  assert lpips.net_of(params) == net
  assert params["lin4"]["kernel"].shape == (1, 1, lpips.CHANNELS[net][4], 1)
  back = lpips.state_dict_from_lpips_params(params)
  assert set(back) == set(sd)
  for k, v in sd.items():
    assert back[k].dtype == v.dtype and np.array_equal(back[k], v), k
  backbone, heads = lpips.split_state_dict(back)
  assert sorted(heads) == [f"lin{k}.model.1.weight" for k in range(5)]
  assert len(backbone) == 2 * len(convs)


def test_other_layouts_and_mismatches(alex_params):
  sd = _state_dict("alex")
  # A torchvision model's state_dict (classifier ignored) + the heads: the same params.
  tv = {**{k: v for k, v in sd.items() if k.startswith("features.")},
        "classifier.1.weight": np.zeros((4096, 9216), np.float32)}
  heads = {k: v for k, v in sd.items() if k.startswith("lin")}
  same = lambda p: jax.tree_util.tree_all(jax.tree_util.tree_map(np.array_equal, p, alex_params))
  assert same(lpips.lpips_params_from_state_dict({**tv, **heads}, "alex"))
  # The lpips.LPIPS module's own state_dict.
  slices = {0: 1, 3: 2, 6: 3, 8: 4, 10: 5}
  module_sd = {"scaling_layer.shift": np.zeros((1, 3, 1, 1), np.float32)}
  for k, v in sd.items():
    if k.startswith("features."):
      n = int(k.split(".")[1])
      module_sd[k.replace("features.", f"net.slice{slices[n]}.")] = v
    else:
      module_sd[k] = v
      module_sd[k.replace("lin", "lins.")] = v
  assert same(lpips.lpips_params_from_state_dict(module_sd, "alex"))

  with pytest.raises(ValueError) as e:
    lpips.lpips_params_from_state_dict(tv, "alex", source="alexnet.pth")
  message = str(e.value)
  assert message.startswith("alexnet.pth: ") and "missing keys: lin0.model.1.weight" in message
  with pytest.raises(ValueError, match=r"features.0.weight: \(64, 3, 11, 11\) instead of "
                                       r"\(64, 3, 3, 3\)"):
    lpips.lpips_params_from_state_dict(sd, "vgg")
  with pytest.raises(ValueError, match="net must be one of"):
    lpips.lpips_state_dict_shapes("squeeze")


def test_load_lpips_from_files_and_missing_file_message(tmp_path, monkeypatch, alex_params):
  monkeypatch.delenv(lpips.ENV_BACKBONE, raising=False)
  monkeypatch.delenv(lpips.ENV_HEADS, raising=False)
  with pytest.raises(FileNotFoundError) as e:
    lpips.load_lpips("alex")
  assert lpips.BACKBONE_URLS["alex"] in str(e.value) and lpips.ENV_BACKBONE in str(e.value)
  backbone, heads = lpips.split_state_dict(_state_dict("alex"))
  save_npz_state_dict(tmp_path / "alexnet.npz", backbone)
  monkeypatch.setenv(lpips.ENV_BACKBONE, str(tmp_path / "alexnet.npz"))
  with pytest.raises(FileNotFoundError) as e:
    lpips.load_lpips("alex")
  assert lpips.HEADS_URL.format(net="alex") in str(e.value) and lpips.ENV_HEADS in str(e.value)
  # Heads from a legacy-format torch file, as the released ones.
  monkeypatch.setenv(lpips.ENV_HEADS, os.path.join(FIXTURES, "lpips_alex_random_heads_legacy.pth"))
  loaded = lpips.load_lpips("alex")
  assert jax.tree_util.tree_all(jax.tree_util.tree_map(np.array_equal, loaded, alex_params))
  # One combined file.
  save_npz_state_dict(tmp_path / "lpips_alex.npz", lpips.state_dict_from_lpips_params(alex_params))
  monkeypatch.delenv(lpips.ENV_HEADS)
  loaded = lpips.load_lpips("alex", backbone_path=tmp_path / "lpips_alex.npz")
  assert jax.tree_util.tree_all(jax.tree_util.tree_map(np.array_equal, loaded, alex_params))
