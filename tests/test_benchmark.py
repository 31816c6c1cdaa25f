"""experiments/benchmark.py: the helpers that decide what a timed iteration is."""

import importlib.util
import os

from i2ijax import registry
from tests.helpers import load_config

_PATH = os.path.join(os.path.dirname(os.path.dirname(__file__)), "experiments", "benchmark.py")


def _benchmark():
  spec = importlib.util.spec_from_file_location("benchmark", _PATH)
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  return module


def test_a_timed_cycle_covers_every_static_phase():
  bench = _benchmark()
  cycle = lambda name, preset=None: bench.phase_cycle(registry.get(name),
                                                      load_config(name, preset), 1000)
  assert cycle("cyclegan") == [()]
  stargan = cycle("stargan")  # n_critic 5: D only four times, then D and G
  assert len(stargan) == 5 and len(set(stargan)) == 2 and stargan[4] != stargan[0]
  homointerp = load_config("homointerp")  # n_discrim 5: E and T at iterations 0, 5, ...
  homointerp.model.n_discrim = 3
  phases = bench.phase_cycle(registry.get("homointerp"), homointerp, 1000)
  assert [p[0] for p in phases] == [True, False, False]
  # DRIT++ d_iter 3: the content discriminator alone twice, then the full update (the
  # epoch-end exception needs an epoch shorter than the horizon).
  assert [p[0] for p in cycle("drit")] == [False, False, True]
