"""Times one CycleGAN train step (the compiled `jax.jit` step, donated state).

python experiments/time_train_step.py [--config=configs/cyclegan.py[:preset]] [--size=256]
    [--batch=1] [--steps=10] [--warmup=3]

Prints the compile+first-step time and the median/min of `--steps` timed steps
after `--warmup` untimed ones, on random images in [-1, 1].
"""

import argparse
import importlib.util
import os
import statistics
import time

import jax
import numpy as np

from i2ijax.train.loop import model_module


def load_config(spec: str):
  path, _, arg = spec.partition(":")
  module_spec = importlib.util.spec_from_file_location("experiment_config", path)
  module = importlib.util.module_from_spec(module_spec)
  module_spec.loader.exec_module(module)
  return module.get_config(arg or None)


def main():
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
  parser.add_argument("--config", default=os.path.join(root, "configs", "cyclegan.py"))
  parser.add_argument("--size", type=int, default=256)
  parser.add_argument("--batch", type=int, default=1)
  parser.add_argument("--steps", type=int, default=10)
  parser.add_argument("--warmup", type=int, default=3)
  args = parser.parse_args()
  config = load_config(args.config)
  model = model_module(config.model_name)
  shapes = {"A": (args.size, args.size, config.data.input_nc),
            "B": (args.size, args.size, config.data.output_nc)}
  dataset_size = 1000
  state = jax.jit(lambda k: model.create_state(config, k, shapes, dataset_size))(
      jax.random.key(0))
  step = jax.jit(model.make_train_step(config, dataset_size), donate_argnums=0)
  rng = np.random.default_rng(0)
  key = jax.random.key(0)
  times = []
  for _ in range(1 + args.warmup + args.steps):
    batch = {k: jax.device_put(rng.uniform(-1, 1, (args.batch, *s)).astype(np.float32))
             for k, s in shapes.items()}
    start = time.perf_counter()
    state, metrics = step(state, batch, key)
    jax.block_until_ready((state, metrics))
    times.append(time.perf_counter() - start)
  timed = times[1 + args.warmup:]
  print(f"devices={jax.devices()} size={args.size} batch={args.batch}")
  print(f"compile+first_step_s={times[0]:.2f} step_s median={statistics.median(timed):.4f} "
        f"min={min(timed):.4f} (n={len(timed)})")


if __name__ == "__main__":
  main()
