"""Entry point: `python -m i2ijax.main --config=configs/cyclegan.py:quickstart --workdir=DIR`.

Trains the configured model in DIR; rerunning the same command resumes from
the newest checkpoint there. Compiled XLA programs are kept in a persistent
cache (default ~/.cache/i2ijax/xla, or $I2IJAX_COMPILATION_CACHE;
--compilation_cache_dir= turns it off), so a second run or a resume of the
same configuration starts without compiling again.
"""

import os

from absl import app, flags, logging
import jax
from ml_collections import config_flags

from i2ijax import distributed
from i2ijax.train.loop import train_and_evaluate

FLAGS = flags.FLAGS
flags.DEFINE_string("workdir", None, "Directory for checkpoints, logs and samples.")
config_flags.DEFINE_config_file("config", None, "Config file, optionally `file.py:preset`.",
                                lock_config=True)
flags.DEFINE_string("coordinator_address", None, "Multi-host: host:port of process 0 (not needed "
                    "where JAX detects the cluster: Cloud TPU, SLURM, Open MPI).")
flags.DEFINE_integer("num_processes", None, "Multi-host: number of processes.")
flags.DEFINE_integer("process_id", None, "Multi-host: index of this process.")
flags.DEFINE_string("compilation_cache_dir", os.environ.get(
    "I2IJAX_COMPILATION_CACHE", os.path.join("~", ".cache", "i2ijax", "xla")),
    "Persistent XLA compilation cache ('' = off).")
flags.mark_flags_as_required(["config", "workdir"])


def enable_compilation_cache(path: str) -> None:
  """Keeps compiled programs in `path` across runs ('' leaves the cache off)."""
  if not path:
    return
  path = os.path.expanduser(path)
  os.makedirs(path, exist_ok=True)
  jax.config.update("jax_compilation_cache_dir", path)
  jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.5)


class _QuietLibraries(logging.logging.Filter):
  """Drops INFO records of orbax's internals and JAX's backend probing (e.g. "Unable to
  initialize backend 'tpu'") so progress lines stay readable."""

  QUIET = ("/orbax/", "xla_bridge.py")

  def filter(self, record):
    return record.levelno > logging.logging.INFO or not any(q in record.pathname
                                                            for q in self.QUIET)


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f"Too many command-line arguments: {argv[1:]}")
  logging.set_verbosity(logging.INFO)
  logging.get_absl_handler().addFilter(_QuietLibraries())
  distributed.initialize(FLAGS.coordinator_address, FLAGS.num_processes, FLAGS.process_id)
  enable_compilation_cache(FLAGS.compilation_cache_dir)
  logging.info("JAX %s, process %d/%d, local devices: %s", jax.__version__, jax.process_index(),
               jax.process_count(), jax.local_devices())
  train_and_evaluate(FLAGS.config, FLAGS.workdir)


if __name__ == "__main__":
  app.run(main)
