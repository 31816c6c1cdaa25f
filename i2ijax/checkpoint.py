"""The one checkpoint path: an Orbax CheckpointManager under `workdir/checkpoints`.

The whole train state is saved (parameters, optimizer states, step, image
pools, batch statistics); with the step it fixes the data position and the RNG
stream, so resuming reproduces an uninterrupted run. Restores are made
directly into the shardings of an abstract target. `load_config` and
`load_state` read a finished or running workdir back (translate, evaluate).
"""

import json
import os
import shutil
import time

from absl import logging
import jax
import ml_collections
import orbax.checkpoint as ocp

from i2ijax import registry


CONVERTED = "converted.json"  # written by `i2ijax.convert` into the workdirs it makes


def checkpoint_dir(workdir: str) -> str:
  return os.path.join(os.path.abspath(workdir), "checkpoints")


def make_manager(workdir: str, max_to_keep: int = 3) -> ocp.CheckpointManager:
  """A manager keeping the `max_to_keep` newest checkpoints (None or <= 0: all)."""
  options = ocp.CheckpointManagerOptions(
      max_to_keep=max_to_keep if max_to_keep and max_to_keep > 0 else None, create=True)
  return ocp.CheckpointManager(checkpoint_dir(workdir), options=options)


def save(manager: ocp.CheckpointManager, step: int, state) -> bool:
  """Saves `state` as checkpoint `step` (asynchronously after the device copy)."""
  return manager.save(step, args=ocp.args.StandardSave(state), force=True)


def restore(manager: ocp.CheckpointManager, abstract_state, step: int | None = None):
  """The checkpoint `step` (default: latest) restored like `abstract_state`, or None.

  `abstract_state` is a pytree of `jax.ShapeDtypeStruct` with shardings (e.g.
  from `jax.eval_shape` plus the state sharding).
  """
  step = manager.latest_step() if step is None else step
  if step is None:
    return None
  return manager.restore(step, args=ocp.args.StandardRestore(abstract_state))


def restore_newest_good(manager: ocp.CheckpointManager, abstract_state, workdir: str):
  """Restores the newest checkpoint that reads back; None when there is none.

  A checkpoint that fails to restore (corrupt or half-written files) is
  reported and moved, untouched, to `workdir/corrupt_checkpoints/`, and the
  next older one is tried. If checkpoints exist but none can be read this
  raises instead of silently starting over.
  """
  steps = sorted(manager.all_steps(), reverse=True)
  failures = []
  for step in steps:
    try:
      return restore(manager, abstract_state, step)
    except Exception as e:  # orbax/tensorstore raise many types for damaged files
      failures.append(f"step {step}: {type(e).__name__}: {str(e)[:300]}")
      logging.error("Checkpoint step %d in %s cannot be restored (%s: %s); trying an older one",
                    step, checkpoint_dir(workdir), type(e).__name__, str(e)[:300])
      if jax.process_index() == 0:
        quarantine = os.path.join(os.path.abspath(workdir), "corrupt_checkpoints")
        os.makedirs(quarantine, exist_ok=True)
        target = os.path.join(quarantine, f"{step}-{int(time.time())}")
        shutil.move(os.path.join(checkpoint_dir(workdir), str(step)), target)
        logging.error("Moved the unreadable checkpoint to %s", target)
      manager.reload()
  if failures:
    raise RuntimeError(f"no checkpoint in {checkpoint_dir(workdir)} can be restored:\n  "
                       + "\n  ".join(failures))
  return None


def check_trainable(workdir: str) -> None:
  """Raises ValueError if `workdir` was converted (`i2ijax.convert`) without every
  generator; logs which networks of a converted workdir start fresh."""
  path = os.path.join(workdir, CONVERTED)
  if not os.path.exists(path):
    return
  with open(path) as f:
    record = json.load(f)
  if record.get("translate_only"):
    raise ValueError(f"{workdir} is a translate-only workdir ({record['why']}; {path}): it "
                     f"translates and evaluates but cannot be trained. Convert again with every "
                     f"generator's file to fine-tune.")
  if record.get("fresh"):
    logging.info("%s: %s start from the converted files, %s fresh", workdir,
                 ", ".join(record["from"]), ", ".join(record["fresh"]))


def abstract_like(tree, sharding):
  """ShapeDtypeStructs of `tree` (arrays or ShapeDtypeStructs) placed on `sharding`."""
  return jax.tree_util.tree_map(
      lambda x: jax.ShapeDtypeStruct(x.shape, x.dtype, sharding=sharding), tree)


def load_config(workdir: str) -> ml_collections.ConfigDict:
  """The config.json the train loop wrote into `workdir`."""
  path = os.path.join(workdir, "config.json")
  if not os.path.exists(path):
    raise FileNotFoundError(f"{path} not found: is {workdir!r} a training workdir?")
  with open(path) as f:
    return ml_collections.ConfigDict(json.load(f))


def template_config(model, config):
  """`config` without the initialisation weight files of `model.init_files` (a copy if
  any is set): what a state template for restoring is built from."""
  keys = [key.split(".") for key in model.init_files]
  keys = [(section, name) for section, name in keys if config.get(section, {}).get(name)]
  if not keys:
    return config
  config = config.copy_and_resolve_references()
  for section, name in keys:
    config[section][name] = ""
  return config


def state_template(model, config, image_shapes, dataset_size: int, key=None):
  """ShapeDtypeStructs of a fresh state of `model`, the template a restore fills, built
  from `template_config` (no initialisation weight file is read)."""
  config = template_config(model, config)
  key = jax.random.key(0) if key is None else key
  return jax.eval_shape(lambda k: model.create_state(config, k, image_shapes, dataset_size), key)


def load_state(workdir: str, config, step: int | None = None):
  """(model spec, train state) of checkpoint `step` (default: newest) in `workdir`, on one device."""
  spec = registry.get(config.model_name)
  shapes = spec.image_shapes(config)
  abstract = state_template(spec, config, shapes, 1)
  sharding = jax.sharding.SingleDeviceSharding(jax.devices()[0])
  manager = make_manager(workdir, None)
  try:
    state = restore(manager, abstract_like(abstract, sharding), step)
  finally:
    manager.close()
  if state is None:
    raise FileNotFoundError(f"no checkpoint in {checkpoint_dir(workdir)}")
  return spec, state
