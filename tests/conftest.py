"""pytest setup: a session XLA compilation cache, the `slow` marker and the shared fixtures.

Helpers shared by test modules live in `tests/helpers.py`.
"""

import atexit
import shutil
import tempfile

import jax
import pytest

from tests.helpers import tiny_cyclegan_config

# Tests build the same train steps many times (every run of the train loop
# compiles its own); a compilation cache for the session compiles each once.
_XLA_CACHE_DIR = tempfile.mkdtemp(prefix="i2ijax-test-xla-")
atexit.register(shutil.rmtree, _XLA_CACHE_DIR, ignore_errors=True)
jax.config.update("jax_compilation_cache_dir", _XLA_CACHE_DIR)
jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.5)


@pytest.fixture
def tiny_config():
  return tiny_cyclegan_config()
