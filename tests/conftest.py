"""pytest setup: one XLA compilation cache for the session (its workers and subprocesses),
the `slow` marker and the shared fixtures.

Helpers shared by test modules live in `tests/helpers.py`.
"""

import atexit
import os
import shutil
import tempfile

import jax
import pytest

from tests.helpers import tiny_cyclegan_config

# Tests build the same programs many times: every run of the train loop compiles
# its own, and both xdist workers and the subprocesses the tests start (the
# command line, multi-device and multi-process runs) compile the same tiny
# models. One persistent compilation cache for the whole session compiles each
# program once. The process that creates the folder (the xdist controller, or
# a plain pytest run) passes it on through the environment and removes it at
# exit; JAX_COMPILATION_CACHE_DIR makes every subprocess use it as well.
if "JAX_COMPILATION_CACHE_DIR" not in os.environ:
  os.environ["JAX_COMPILATION_CACHE_DIR"] = tempfile.mkdtemp(prefix="i2ijax-test-xla-")
  atexit.register(shutil.rmtree, os.environ["JAX_COMPILATION_CACHE_DIR"], ignore_errors=True)
os.environ["JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS"] = "0.5"

# Nearly all of the suite's time is compiling tiny programs, and LLVM's default
# optimisation level triples the compile time of the larger train steps while it
# barely changes how fast such small programs run. Level 1 applies to this
# process, its workers and every subprocess (they inherit XLA_FLAGS), so runs
# that are compared bit for bit across processes compile alike.
if "--xla_backend_optimization_level" not in os.environ.get("XLA_FLAGS", ""):
  os.environ["XLA_FLAGS"] = (os.environ.get("XLA_FLAGS", "") +
                             " --xla_backend_optimization_level=1").strip()
jax.config.update("jax_compilation_cache_dir", os.environ["JAX_COMPILATION_CACHE_DIR"])
jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.5)


@pytest.fixture
def tiny_config():
  return tiny_cyclegan_config()
