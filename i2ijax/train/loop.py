"""The train loop every model plugs its step into.

A model is a `registry.ModelSpec` (see `i2ijax.registry`): the loop
validates its config, reads its examples, creates its state, runs its pure
train step and renders its sample grids, and never looks at which model it
runs. It builds a `Mesh` over all devices with one 'data' axis, creates the
state replicated on it, shards each global batch along 'data', resumes from
the newest checkpoint in the workdir, and logs, samples and checkpoints.
"""

import math
import os
import signal
import threading
import time

from absl import logging
import jax
from jax.sharding import Mesh, NamedSharding, PartitionSpec as P
import numpy as np

from i2ijax import checkpoint, registry
from i2ijax.data.images import render_grid, save_image
from i2ijax.data.pipeline import Batches


def make_mesh(devices=None) -> Mesh:
  """A 1-D mesh named 'data' over `devices` (default: all devices of all processes).

  Devices are in `jax.devices()` order, which groups each process's devices
  together, so process p's devices hold rows [p * local_batch, (p + 1) *
  local_batch) of every global batch: exactly the rows `Batches` reads on
  that process. A model axis later means reshaping the same devices to
  (data, model) and naming that axis in the parameter shardings of
  `StateShardings` (today every state leaf is replicated, P()); batches keep
  P('data') and are then replicated along 'model'.
  """
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


def sample_grids(model: registry.ModelSpec, config, images: dict) -> dict:
  """{grid name: uint8 image} of one sampling: the model's grids with their labels drawn."""
  return {name: render_grid(grid) for name, grid in model.sample_grids(config, images).items()}


class StateShardings:
  """Placement of the state (replicated) and of batches (split along 'data')."""

  def __init__(self, mesh: Mesh):
    self.mesh = mesh
    self.replicated = NamedSharding(mesh, P())
    self.data = NamedSharding(mesh, P("data"))

  def global_batch(self, local_batch: dict) -> dict:
    """This process's rows of a batch -> global arrays split along 'data'."""
    return {k: jax.make_array_from_process_local_data(self.data, v) for k, v in local_batch.items()}

  def replicate(self, host_arrays: dict) -> dict:
    """Identical host arrays on every process -> global arrays replicated on all devices."""
    return {k: jax.make_array_from_callback(v.shape, self.replicated, lambda index, v=v: v[index])
            for k, v in host_arrays.items()}


def jit_once(fn, **jit_kwargs):
  """`jax.jit` for a program that runs once per run, such as initialising the state.

  On CPU it is compiled without LLVM's optimisations: an initialisation is one random-number
  generator per parameter, thousands of small loops whose optimisation costs minutes of
  compilation (a tiny DRIT++ state compiles about four times faster at level 0) and saves
  nothing on a single execution. Values can differ from an optimised build in the last bit.
  Other backends compile as `jax.jit` does."""
  if jax.default_backend() == "cpu":
    jit_kwargs.setdefault("compiler_options", {"xla_backend_optimization_level": 0})
  return jax.jit(fn, **jit_kwargs)


def compile_model(config, model, dataset_size, image_shapes, shardings: StateShardings):
  """(jitted init, jitted step, jitted sample) with their shardings fixed."""
  rep, data = shardings.replicated, shardings.data
  init = jit_once(lambda key: model.create_state(config, key, image_shapes, dataset_size),
                  out_shardings=rep)
  fn = model.make_train_step(config, dataset_size)
  if model.step_phase:  # the phase is a 4th, static, argument (`phase_args`)
    step = jax.jit(lambda state, batch, rng, phase: fn(state, batch, rng, phase=phase),
                   in_shardings=(rep, data, rep), out_shardings=(rep, rep), donate_argnums=(0,),
                   static_argnums=(3,))
  else:
    step = jax.jit(fn, in_shardings=(rep, data, rep), out_shardings=(rep, rep),
                   donate_argnums=(0,))
  sample = jax.jit(model.make_sample_fn(config), in_shardings=(rep, rep, rep), out_shardings=rep)
  return init, step, sample


def phase_args(model, config, step: int, dataset_size: int) -> tuple:
  """The extra arguments of the compiled step of iteration `step` (`compile_model`):
  (model.step_phase(config, step, dataset_size),) for models with static step phases,
  else ()."""
  return (model.step_phase(config, step, dataset_size),) if model.step_phase else ()


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

  model = registry.get(config.model_name)
  model.validate_config(config)  # before any data is read or anything compiled
  checkpoint.check_trainable(workdir)
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
  evaluation = None
  if config.get("eval_every_steps", 0):  # test-split metrics at those steps (i2ijax.evaluate)
    from i2ijax.evaluate.periodic import PeriodicEvaluation
    evaluation = PeriodicEvaluation(config, workdir)

  shardings = StateShardings(mesh)
  init, train_step, sample = compile_model(config, model, dataset_size, image_shapes, shardings)
  rng = jax.jit(lambda: jax.random.key(config.seed), out_shardings=shardings.replicated)()
  init_key = jax.random.fold_in(jax.random.key(config.seed), 0x1717)

  manager = checkpoint.make_manager(workdir, config.max_to_keep)
  abstract = checkpoint.abstract_like(
      checkpoint.state_template(model, config, image_shapes, dataset_size, init_key),
      shardings.replicated)
  state = checkpoint.restore_newest_good(manager, abstract, workdir)
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
  fixed = shardings.replicate(sample_batch(model, config, config.num_sample_images))
  sample_dir = os.path.join(workdir, "samples")

  logging.info("Training %s for %d steps (%d examples per epoch, batch %d, %d devices)",
               config.model_name, num_steps, dataset_size, config.batch_size, n_dev)
  monitor = FiniteMonitor(lambda: manager.latest_step(), checkpoint.checkpoint_dir(workdir))
  last, t_last, step_last = {}, time.time(), start
  t_start = t_last
  stop = StopSignal()
  try:
    with stop:
      for step, local in batches.iterate(start, config.data.prefetch):
        if step >= num_steps:
          break
        state, metrics = train_step(state, shardings.global_batch(local), rng,
                                    *phase_args(model, config, step, dataset_size))
        done = step + 1
        if step == start:
          jax.block_until_ready(metrics)
          logging.info("First step (compilation included) took %.1f s", time.time() - t_start)
        monitor.add(done, metrics)
        report(done)
        if done % config.log_every_steps == 0 or done == num_steps:
          last = monitor.mean_and_clear()
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
          grids = sample_grids(model, config, jax.device_get(sample(state, fixed, rng)))
          writer.write_images(done, {k: g[None] for k, g in grids.items()})
          if jax.process_index() == 0:
            for name, grid in grids.items():
              prefix = "" if name == "samples" else f"{name}_"
              save_image(grid, os.path.join(sample_dir, f"{prefix}step_{done:08d}.png"))
        if stop.requested:
          break
        if done % config.checkpoint_every_steps == 0 and done != num_steps:
          monitor.check()  # never save a state that came from a non-finite step
          checkpoint.save(manager, done, state)
        if evaluation and evaluation.due(done, num_steps):
          evaluation(state, done, writer)
    monitor.check()
    final = int(jax.device_get(state.step))
    if manager.latest_step() != final:
      checkpoint.save(manager, final, state)
    if stop.requested:
      logging.warning("Stopped by %s after step %d; checkpoint saved in %s. Run the same "
                      "command again to resume.", stop.requested, final,
                      checkpoint.checkpoint_dir(workdir))
    elif jax.process_index() == 0:
      logging.info("%s", closing_line(model, workdir, final))
  finally:
    manager.wait_until_finished()
    manager.close()
    writer.flush()
    writer.close()
  return last


def closing_line(model: registry.ModelSpec, workdir: str, step: int) -> str:
  """Where a finished run's outputs are, and the commands to run next."""
  return (f"Done at step {step}. Samples: {os.path.join(workdir, 'samples')}/  checkpoints: "
          f"{checkpoint.checkpoint_dir(workdir)}/  TensorBoard events: {workdir} "
          f"(tensorboard --logdir {workdir}). Next: python -m i2ijax.translate "
          f"--workdir={workdir} --input=IMAGES --output=OUT {model.translate_example}; "
          f"python -m i2ijax.evaluate --workdir={workdir}")


class FiniteMonitor:
  """Collects per-step metrics and stops the run at the first non-finite one.

  Checking is deferred to log and checkpoint time, so the device is not
  synchronised every step; a checkpoint is only written after every step
  before it was checked, so the newest checkpoint is always a finite state.
  """

  def __init__(self, latest_checkpoint, checkpoint_dir: str):
    self.latest_checkpoint = latest_checkpoint
    self.checkpoint_dir = checkpoint_dir
    self.pending = []  # (step, device metrics) not yet checked
    self.checked = []  # host metrics since the last mean

  def add(self, step: int, metrics) -> None:
    self.pending.append((step, metrics))

  def check(self) -> None:
    host = jax.device_get([m for _, m in self.pending])
    for (step, _), m in zip(self.pending, host):
      bad = {k: float(v) for k, v in m.items() if not np.all(np.isfinite(v))}
      if bad:
        terms = ", ".join(f"{k}={v}" for k, v in sorted(bad.items()))
        latest = self.latest_checkpoint()
        where = (f"the newest checkpoint (step {latest}) in {self.checkpoint_dir} holds the "
                 "last good state" if latest is not None else
                 "no checkpoint had been written yet, so a rerun starts from scratch")
        raise FloatingPointError(
            f"non-finite value at step {step}: {terms}. Training stopped; {where}.")
    self.checked += host
    self.pending = []

  def mean_and_clear(self) -> dict:
    """The mean of each metric over the steps that reported it since the last call (a model
    with static phases reports a network's losses only in the steps that update it)."""
    self.check()
    keys = list(dict.fromkeys(k for m in self.checked for k in m))
    out = {k: float(np.mean([m[k] for m in self.checked if k in m])) for k in keys}
    self.checked = []
    return out


class StopSignal:
  """SIGTERM/SIGINT request a clean stop: finish the step, checkpoint, exit 0.

  A second SIGINT (Ctrl-C twice) interrupts at once. Handlers are installed
  only in the main thread and restored on exit.
  """

  SIGNALS = (signal.SIGTERM, signal.SIGINT)

  def __init__(self):
    self.requested = None
    self._previous = {}

  def _handle(self, signum, frame):
    name = signal.Signals(signum).name
    if self.requested and signum == signal.SIGINT:
      raise KeyboardInterrupt
    self.requested = name
    logging.warning("Received %s: stopping after this step and saving a checkpoint", name)

  def __enter__(self):
    if threading.current_thread() is threading.main_thread():
      for sig in self.SIGNALS:
        self._previous[sig] = signal.signal(sig, self._handle)
    return self

  def __exit__(self, *exc):
    for sig, handler in self._previous.items():
      signal.signal(sig, handler)
    self._previous = {}
    return False


def _flatten(d: dict, prefix: str = "") -> dict:
  out = {}
  for k, v in d.items():
    if isinstance(v, dict):
      out.update(_flatten(v, f"{prefix}{k}."))
    else:
      out[f"{prefix}{k}"] = v
  return out
