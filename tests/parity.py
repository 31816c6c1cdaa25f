"""Step parity with the official training code: fixture layout, weight mapping, comparison.

Every `tests/fixtures/official_<model>_steps.npz` is written by
`tests/fixtures/make/<model>_steps.py` from the official PyTorch code in
float64 and holds (torch names, NCHW images):

  meta/...                         the official repository, commit, torch version, sizes
  init/<net>/<state_dict key>      every network's initial parameters and buffers
  batch/<t>/<name>                 the inputs of step t (t = 1, 2, 3)
  draw/<t>/<name>                  every random number the official step t drew
  step<t>/loss/<name>              each loss term of step t
  step<t>/<net>/<state_dict key>   parameters and buffers after step t
  step<t>/adam/<net>/<key>/m, /v   torch.optim.Adam's exp_avg / exp_avg_sq after step t
  step<t>/ema/<net>/<key>          exponential moving averages (StarGAN v2) after step t

Our step, started from `init/` and fed the same batches and draws, must agree
with every array of step 1 and step 3 to |ours - official| <= 1e-10 * max(1, |official|).
"""

import os
from typing import Callable, Iterable, Mapping

import jax
import jax.numpy as jnp
import numpy as np
import optax

from tests.helpers import FIXTURES

RTOL = 1e-10
STEPS = 3  # steps run
SAVED = (1, 3)  # steps whose full state the fixtures hold


def load_fixture(model: str) -> dict[str, np.ndarray]:
  """The arrays of `tests/fixtures/official_<model>_steps.npz`."""
  path = os.path.join(FIXTURES, f"official_{model}_steps.npz")
  with np.load(path) as f:
    return {k: f[k] for k in f.files}


def entries(fixture: Mapping[str, np.ndarray], prefix: str) -> dict[str, np.ndarray]:
  """{key without `prefix/`: array} of the fixture keys under `prefix/`, in file order."""
  n = len(prefix) + 1
  return {k[n:]: v for k, v in fixture.items() if k.startswith(prefix + "/")}


def nhwc(a) -> np.ndarray:
  """NCHW (torch) -> NHWC (ours); other ranks unchanged."""
  a = np.asarray(a)
  return a.transpose(0, 2, 3, 1) if a.ndim == 4 else a


def images(fixture: Mapping[str, np.ndarray], key: str) -> jax.Array:
  """A stored uint8 NCHW batch as the step's float64 NHWC input u / 127.5 - 1 (exact)."""
  return jnp.asarray(nhwc(fixture[key]).astype(np.float64) / 127.5 - 1.0)


def adam_moments(opt_state):
  """(mu, nu) of the one optax ScaleByAdamState inside `opt_state`."""
  found = [s for s in jax.tree_util.tree_leaves(
      opt_state, is_leaf=lambda x: isinstance(x, optax.ScaleByAdamState))
           if isinstance(s, optax.ScaleByAdamState)]
  assert len(found) == 1, f"{len(found)} Adam states in the optimizer state"
  return found[0].mu, found[0].nu


def to_flax(torch_key: str, value: np.ndarray) -> np.ndarray:
  """A torch tensor in our layout: Conv2d [O, I, kh, kw] and ConvTranspose2d [I, O, kh, kw]
  -> [kh, kw, I, O] / [kh, kw, O, I] (our transposed conv stores [kh, kw, out, in]);
  Linear [O, I] -> [I, O]; anything else as is."""
  value = np.asarray(value)
  if torch_key.endswith("weight") and value.ndim == 4:
    return value.transpose(2, 3, 1, 0)
  if torch_key.endswith("weight") and value.ndim == 2:
    return value.T
  return value


def flatten(tree: Mapping, prefix: tuple = ()) -> Iterable[tuple[tuple, np.ndarray]]:
  """(path, leaf) of a nested dict in insertion order (Flax keeps module creation order)."""
  for name, value in tree.items():
    if isinstance(value, Mapping):
      yield from flatten(value, prefix + (name,))
    else:
      yield prefix + (name,), value


def set_path(tree: dict, path: tuple, value) -> None:
  node = tree
  for name in path[:-1]:
    node = node[name]
  node[path[-1]] = value


def is_buffer(torch_key: str) -> bool:
  return torch_key.rsplit(".", 1)[-1] in ("running_mean", "running_var")


def align_by_order(state_dict_keys: Iterable[str], shapes: Mapping[str, tuple],
                   flax_tree: Mapping) -> dict[str, tuple]:
  """{torch key: Flax path}, pairing the parameters (and separately the buffers) of a
  state_dict with the leaves of `flax_tree` in creation order.

  Works for networks both sides build in the same layer order (the ResNet and
  U-Net generators, the PatchGAN): torch registers weight then bias, Flax
  kernel then bias / scale then bias. Every pair must agree in shape (after
  `to_flax`), and both sides must be used up, so a misalignment fails loudly.
  `num_batches_tracked` is ignored.
  """
  keys = [k for k in state_dict_keys if not k.endswith("num_batches_tracked")]
  leaves = list(flatten(flax_tree))
  out = {}
  for want_buffer in (False, True):
    ks = [k for k in keys if is_buffer(k) == want_buffer]
    ls = [(p, v) for p, v in leaves if (p[-1] in ("mean", "var")) == want_buffer]
    if len(ks) != len(ls):
      raise AssertionError(f"{len(ks)} torch {'buffers' if want_buffer else 'parameters'} "
                           f"but {len(ls)} Flax leaves")
    for k, (path, leaf) in zip(ks, ls):
      if tuple(np.shape(to_flax(k, np.zeros(shapes[k])))) != tuple(np.shape(leaf)):
        raise AssertionError(f"{k} {shapes[k]} does not fit {'/'.join(path)} {np.shape(leaf)}")
      out[k] = path
  return out


def tree_from_torch(state_dict: Mapping[str, np.ndarray], paths: Mapping[str, tuple],
                    like: Mapping, cast: Callable = np.asarray) -> dict:
  """A copy of the nested dict `like` filled with `state_dict` through `paths`."""
  import copy
  tree = copy.deepcopy(_plain(like))
  for key, path in paths.items():
    set_path(tree, path, cast(to_flax(key, state_dict[key])))
  return tree


def load_aligned(fixture: Mapping[str, np.ndarray], params: Mapping, batch_stats: Mapping,
                 nets: Iterable[str]) -> tuple[dict, dict, dict]:
  """The official `init/<net>` weights of each network in our trees (`params[net]`,
  `batch_stats[net]` give the structure), paired by `align_by_order`, in float64.

  Returns (paths {net: {torch key: our path from the variables}}, params, batch_stats).
  """
  paths, new_params, new_stats = {}, {}, {}
  for net in nets:
    init = entries(fixture, f"init/{net}")
    ours = {"params": params[net], "batch_stats": batch_stats[net]}
    paths[net] = align_by_order(init, {k: v.shape for k, v in init.items()}, ours)
    tree = tree_from_torch(init, paths[net], ours, cast=lambda a: jnp.asarray(a, jnp.float64))
    new_params[net], new_stats[net] = tree["params"], tree.get("batch_stats", {})
  return paths, new_params, new_stats


def _plain(tree):
  if isinstance(tree, Mapping):
    return {k: _plain(v) for k, v in tree.items()}
  return np.asarray(tree)


def get_path(tree: Mapping, path: tuple):
  node = tree
  for name in path:
    node = node[name]
  return node


def run_steps(step, state, batches: Callable, draws: Callable | None = None):
  """Yields (t, state, metrics) after each of the STEPS calls of the (jitted) `step`, fed
  `batches(t)` and, when given, `draws=draws(t)`; the key is unused when draws are injected
  and fixed otherwise (the junyanz steps draw nothing)."""
  for t in range(1, STEPS + 1):
    kwargs = {} if draws is None else {"draws": draws(t)}
    state, metrics = step(state, batches(t), jax.random.key(0), **kwargs)
    yield t, state, metrics


def check_losses(mm: "Mismatches", fixture: Mapping[str, np.ndarray], t: int, metrics: Mapping,
                 names: Mapping[str, str]) -> None:
  """Compares the official losses of step t (`step<t>/loss/<name>`, exactly the keys of
  `names`) with our metrics `names[name]`."""
  official = entries(fixture, f"step{t}/loss")
  assert set(official) == set(names), sorted(official)
  for name, value in official.items():
    mm.check(f"step{t}/loss/{name}", metrics[names[name]], value)


# `locate(torch_key, official_value) -> (path in our tree, value in our layout)` maps one
# official state_dict entry onto ours, for the checks below.
Locate = Callable[[str, np.ndarray], tuple[tuple, np.ndarray]]


def param_locator(paths: Mapping[str, tuple]) -> Locate:
  """`Locate` in a network's params tree (its Adam moments) from `align_by_order`'s paths,
  which start at the variables ("params", ...)."""
  def locate(key, value):
    assert paths[key][0] == "params", paths[key]
    return paths[key][1:], to_flax(key, value)
  return locate


def check_arrays(mm: "Mismatches", prefix: str, official: Mapping[str, np.ndarray], ours: Mapping,
                 locate: Locate) -> None:
  """Compares every official array (`{torch key: value}`, reported as prefix/key) with ours."""
  for key, value in official.items():
    path, want = locate(key, value)
    mm.check(f"{prefix}/{key}", get_path(ours, path), want)


def check_adam(mm: "Mismatches", fixture: Mapping[str, np.ndarray], prefix: str, mu: Mapping,
               nu: Mapping, locate: Locate) -> None:
  """Compares the official exp_avg / exp_avg_sq under `prefix` (<key>/m, <key>/v) with our
  Adam moments `mu`, `nu` of the same network; every one of our moments must be covered."""
  moments = entries(fixture, prefix)
  assert len(moments) == 2 * len(jax.tree_util.tree_leaves(mu)), prefix
  for key, value in moments.items():
    torch_key, which = key.rsplit("/", 1)
    path, want = locate(torch_key, value)
    mm.check(f"{prefix}/{key}", get_path(mu if which == "m" else nu, path), want)


class Mismatches:
  """Collects every comparison, then fails once with the worst offenders."""

  def __init__(self, rtol: float = RTOL):
    self.rtol = rtol
    self.bad: list[tuple[float, str, float]] = []
    self.checked = 0

  def check(self, what: str, ours, official) -> None:
    ours, official = np.asarray(ours, np.float64), np.asarray(official, np.float64)
    self.checked += 1
    if ours.shape != official.shape:
      self.bad.append((np.inf, f"{what}: shape {ours.shape} != official {official.shape}", 0.0))
      return
    excess = np.abs(ours - official) / np.maximum(1.0, np.abs(official))
    worst = float(np.max(excess)) if excess.size else 0.0
    if not np.isfinite(worst) or worst > self.rtol:
      self.bad.append((worst, what, float(np.max(np.abs(official))) if official.size else 0.0))

  def assert_ok(self) -> None:
    assert self.checked, "nothing was compared"
    if self.bad:
      self.bad.sort(key=lambda t: -t[0])
      lines = [f"  {w:.3e}  {what} (max |official| {m:.3g})" for w, what, m in self.bad[:25]]
      raise AssertionError(
          f"{len(self.bad)} of {self.checked} arrays differ from the official step by more than "
          f"{self.rtol:g} * max(1, |official|) (worst first, relative excess):\n" + "\n".join(lines))
