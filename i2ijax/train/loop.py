"""The train loop every model plugs its step into.

A model module (see `MODELS`) provides
  make_examples(config, split) -> (example fn, dataset size, image shapes)
  create_state(config, key, image_shapes, dataset_size) -> state
  make_train_step(config, dataset_size) -> (state, batch, rng) -> (state, metrics)
  make_sample_fn(config) -> (state, batch, rng) -> {name: images}
  SAMPLE_ROWS: the names shown on each row of a sample grid.
The loop builds a `Mesh` over all devices with one 'data' axis, creates the
state replicated on it, shards each global batch along 'data', resumes from
the newest checkpoint in the workdir, and logs, samples and checkpoints.
"""

import importlib
import json
import math
import os
import time

from absl import logging
import jax
import jax.numpy as jnp
from jax.sharding import Mesh, NamedSharding, PartitionSpec as P
import numpy as np

from i2ijax import checkpoint
from i2ijax.data.images import make_grid, save_image, to_uint8
from i2ijax.data.pipeline import Batches

MODELS = {"cyclegan": "i2ijax.train.cyclegan"}


def model_module(name: str):
  if name not in MODELS:
    raise ValueError(f"config.model_name={name!r} is not a known model; valid: {sorted(MODELS)}")
  return importlib.import_module(MODELS[name])


def make_mesh(devices=None) -> Mesh:
  """A 1-D mesh named 'data' over `devices` (default: all devices of all processes)."""
  devices = np.asarray(jax.devices() if devices is None else devices)
  return Mesh(devices.reshape(-1), ("data",))


def total_steps(config, dataset_size: int) -> int:
  """config.num_train_steps, or (n_epochs + n_epochs_decay) epochs when it is -1."""
  if config.num_train_steps and config.num_train_steps > 0:
    return int(config.num_train_steps)
  epochs = config.optimizer.n_epochs + config.optimizer.n_epochs_decay
  return int(math.ceil(epochs * dataset_size / config.batch_size))


def sample_batch(model, config, n: int) -> dict:
  """`n` fixed examples for the sample grids: the test split if there is one, else train."""
  try:
    examples, _, _ = model.make_examples(config, "test", seed=12345)
  except (FileNotFoundError, ValueError):
    examples, _, _ = model.make_examples(config, "train", seed=12345)
  items = [examples(i) for i in range(n)]
  return {k: np.stack([e[k] for e in items]) for k in items[0]}


def sample_grid(images: dict, rows) -> np.ndarray:
  """uint8 grid: one line per (row, example), the row's images side by side."""
  images = {k: to_uint8(np.asarray(v)) for k, v in images.items()}
  n = next(iter(images.values())).shape[0]
  lines = [[images[name][i] for name in row] for row in rows for i in range(n)]
  return make_grid(lines)


class StateShardings:
  """Placement of the state (replicated) and of batches (split along 'data')."""

  def __init__(self, mesh: Mesh):
    self.mesh = mesh
    self.replicated = NamedSharding(mesh, P())
    self.data = NamedSharding(mesh, P("data"))

  def global_batch(self, local_batch: dict) -> dict:
    return {k: jax.make_array_from_process_local_data(self.data, v) for k, v in local_batch.items()}


def compile_model(config, model, dataset_size, image_shapes, shardings: StateShardings):
  """(jitted init, jitted step, jitted sample) with their shardings fixed."""
  rep, data = shardings.replicated, shardings.data
  init = jax.jit(lambda key: model.create_state(config, key, image_shapes, dataset_size),
                 out_shardings=rep)
  step = jax.jit(model.make_train_step(config, dataset_size), in_shardings=(rep, data, rep),
                 out_shardings=(rep, rep), donate_argnums=(0,))
  sample = jax.jit(model.make_sample_fn(config), in_shardings=(rep, rep, rep), out_shardings=rep)
  return init, step, sample


def write_config(config, workdir: str) -> None:
  if jax.process_index() == 0:
    path = os.path.join(workdir, "config.json")
    with open(path + ".tmp", "w") as f:
      f.write(config.to_json_best_effort(indent=2))
    os.replace(path + ".tmp", path)


def train_and_evaluate(config, workdir: str) -> dict:
  """Trains `config.model_name` in `workdir`, resuming from its newest checkpoint.

  Returns the last logged metrics (host floats).
  """
  from clu import metric_writers, periodic_actions

  model = model_module(config.model_name)
  os.makedirs(workdir, exist_ok=True)
  mesh = make_mesh()
  n_dev = mesh.devices.size
  if config.batch_size % n_dev:
    raise ValueError(f"batch_size {config.batch_size} is not divisible by the {n_dev} devices; "
                     f"use a multiple of {n_dev}")
  examples, dataset_size, image_shapes = model.make_examples(config, "train")
  batches = Batches(examples, config.batch_size, process_index=jax.process_index(),
                    process_count=jax.process_count())
  num_steps = total_steps(config, dataset_size)
  write_config(config, workdir)

  shardings = StateShardings(mesh)
  init, train_step, sample = compile_model(config, model, dataset_size, image_shapes, shardings)
  rng = jax.device_put(jax.random.key(config.seed), shardings.replicated)
  init_key = jax.random.fold_in(jax.random.key(config.seed), 0x1717)

  manager = checkpoint.make_manager(workdir, config.max_to_keep)
  abstract = checkpoint.abstract_like(jax.eval_shape(init, init_key), shardings.replicated)
  state = checkpoint.restore(manager, abstract)
  if state is None:
    state = init(init_key)
    start = 0
  else:
    start = int(state.step)
    logging.info("Resumed from %s at step %d", checkpoint.checkpoint_dir(workdir), start)

  writer = metric_writers.create_default_writer(workdir, just_logging=jax.process_index() > 0)
  if start == 0:
    writer.write_hparams({k: v for k, v in _flatten(config.to_dict()).items()})
  report = periodic_actions.ReportProgress(num_train_steps=num_steps, writer=writer)
  fixed = shardings_put(sample_batch(model, config, config.num_sample_images), shardings)
  sample_dir = os.path.join(workdir, "samples")

  logging.info("Training %s for %d steps (%d examples per epoch, batch %d, %d devices)",
               config.model_name, num_steps, dataset_size, config.batch_size, n_dev)
  pending, last, t_last, step_last = [], {}, time.time(), start
  step = start
  for step, local in batches.iterate(start, config.data.prefetch):
    if step >= num_steps:
      break
    state, metrics = train_step(state, shardings.global_batch(local), rng)
    pending.append(metrics)
    done = step + 1
    report(done)
    if done % config.log_every_steps == 0 or done == num_steps:
      summed = jax.device_get(jax.tree_util.tree_map(lambda *x: jnp.mean(jnp.stack(x)), *pending))
      last = {k: float(v) for k, v in summed.items()}
      pending = []
      now = time.time()
      rate = (done - step_last) / max(now - t_last, 1e-9)
      t_last, step_last = now, done
      writer.write_scalars(done, {**{f"train/{k}": v for k, v in last.items()},
                                  "train/steps_per_sec": rate})
      eta = (num_steps - done) / max(rate, 1e-9)
      logging.info("step %d/%d  %s  %.2f steps/s  ETA %s", done, num_steps,
                   "  ".join(f"{k} {v:.4f}" for k, v in sorted(last.items())), rate,
                   time.strftime("%H:%M:%S", time.gmtime(eta)))
    if done % config.sample_every_steps == 0 or done == num_steps:
      grid = sample_grid(jax.device_get(sample(state, fixed, rng)), model.SAMPLE_ROWS)
      writer.write_images(done, {"samples": grid[None]})
      if jax.process_index() == 0:
        save_image(grid, os.path.join(sample_dir, f"step_{done:08d}.png"))
    if done % config.checkpoint_every_steps == 0 and done != num_steps:
      checkpoint.save(manager, done, state)
  final = int(jax.device_get(state.step))
  if manager.latest_step() != final:
    checkpoint.save(manager, final, state)
  manager.wait_until_finished()
  manager.close()
  writer.flush()
  writer.close()
  return last


def shardings_put(batch: dict, shardings: StateShardings) -> dict:
  return {k: jax.device_put(v, shardings.replicated) for k, v in batch.items()}


def _flatten(d: dict, prefix: str = "") -> dict:
  out = {}
  for k, v in d.items():
    if isinstance(v, dict):
      out.update(_flatten(v, f"{prefix}{k}."))
    else:
      out[f"{prefix}{k}"] = v
  return out
