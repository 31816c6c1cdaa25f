"""Official PyTorch checkpoints in and out of i2ijax workdirs.

  python -m i2ijax.convert --config=configs/cyclegan.py --from=A.pth[,B.pth] --workdir=DIR
  python -m i2ijax.convert --workdir=DIR --to=torch --output=OUT [--step=N]

In: the files are read without torch (`metrics.torch_weights`), each matched
to its networks by the official file name (`registry.TorchNetwork.files`, e.g.
`latest_net_G_A.pth` -> G_A; a file that holds several state_dicts, such as
MUNIT's `gen_*.pt`, serves each network whose `entry` it has), or named
explicitly as `NET=FILE`; a file with no official name (a released
generator such as `horse2zebra.pth`) is the model's first generator. Every
key and shape is checked against the network the config builds, and an error
names each missing, unexpected or mismatched key. The other networks and the
optimizer states start fresh, as a training run of the config would start
them (same seed), and DIR becomes an ordinary workdir at step 0 (config.json,
a checkpoint, and `converted.json` saying which networks came from which
file): `translate` and `evaluate` read it, and `main` with the same config
fine-tunes from it. A workdir without every generator translates only; `main`
refuses it with the reason.

As the official loaders do, a `module.` prefix (DataParallel) is removed,
`num_batches_tracked` is ignored, and the running statistics that pre-0.4
checkpoints hold for instance norms without them (the official
`__patch_instance_norm_state_dict`) are dropped.

Out: each network of the checkpoint is written in the official layout as a
torch zip archive named as the official code names it for that step
(`registry.TorchNetwork.save_as`, e.g. `OUT/1000_net_G_A.pth`, which the
official code loads with `--epoch 1000`); reading it back in gives the same
arrays, bit for bit.
"""

import collections
import fnmatch
import json
import os

from absl import app, flags, logging
from flax.traverse_util import flatten_dict
import jax
import numpy as np

from i2ijax import checkpoint, registry
from i2ijax.metrics import torch_weights

# ---------------------------------------------------------------- one network
def _get(tree, path):
  for name in path:
    tree = tree[name]
  return tree


def _set(tree: dict, path, value) -> dict:
  """A copy of the nested dict `tree` with `value` at `path`."""
  if not path:
    return value
  out = dict(tree)
  out[path[0]] = _set(tree.get(path[0], {}), path[1:], value)
  return out


def network_path(network: registry.TorchNetwork) -> tuple:
  return tuple(network.path) or (network.name,)


def network_variables(state, network: registry.TorchNetwork) -> dict:
  """{"params": ..., "batch_stats": ...} of one network in a train state."""
  path = network_path(network)
  stats = (getattr(state, "batch_stats", None) or {}) if network.attr == "params" else {}
  try:
    stats = _get(stats, path) or {}
  except (KeyError, TypeError):
    stats = {}
  return {"params": _get(getattr(state, network.attr), path), "batch_stats": stats}


def _flatten(tree):
  """(path, leaf) pairs of a nested dict."""
  return flatten_dict(dict(tree)).items() if tree else []


def _layer_of(path: tuple, layers: dict):
  """The longest layer path of `layers` that `path` (a module path) starts with."""
  for n in range(len(path), 0, -1):
    if path[:n] in layers:
      return path[:n]
  return None


def layer_map(variables: dict, network: registry.TorchNetwork) -> dict:
  """{our layer path: (official prefix, kind)} of a network ("conv1x1" or "")."""
  layers = network.layers(variables) if callable(network.layers) else network.layers
  return {k: (v, "") if isinstance(v, str) else tuple(v) for k, v in layers.items()}


def torch_keys(variables: dict, network: registry.TorchNetwork) -> dict:
  """{official key: (collection, our leaf path, official shape, kind)} of every variable
  of the network, in the official layer order."""
  layers = layer_map(variables, network)
  found = collections.defaultdict(list)
  for collection in ("params", "batch_stats"):
    for path, leaf in _flatten(variables.get(collection, {})):
      layer = _layer_of(path[:-1], layers)
      if layer is None:
        raise ValueError(f"{network.name}: {collection}/{'/'.join(path)} has no place in the "
                         f"official checkpoint layout")
      prefix, kind = layers[layer]
      torch_leaf = torch_weights.torch_leaf(collection, path[-1]) or path[-1]
      shape = tuple(np.shape(leaf))
      if path[-1] == "kernel" and len(shape) == 4:
        shape = (shape[3], shape[2], shape[0], shape[1])
      elif path[-1] == "kernel" and len(shape) == 2:
        shape = shape[::-1] + ((1, 1) if kind == "conv1x1" else ())
      key = f"{prefix}.{torch_leaf}" if prefix else torch_leaf  # "": a bare layer (KG's conv)
      found[layer].append((key, collection, path, shape, kind))
  order = {"weight": 0, "bias": 1, "running_mean": 2, "running_var": 3}
  out = {}
  for layer in layers:
    for key, collection, path, shape, kind in sorted(
        found.get(layer, []), key=lambda e: order.get(e[0].rsplit(".", 1)[-1], 4)):
      out[key] = (collection, path, shape, kind)
  return out


def _to_ours(key: str, value, kind: str) -> np.ndarray:
  value = np.asarray(value)
  if kind == "conv1x1" and value.ndim == 4:
    value = value[:, :, 0, 0]
  return torch_weights.torch_to_flax_array(key.rsplit(".", 1)[-1], value)


def _to_torch(leaf: str, value, kind: str) -> np.ndarray:
  value = torch_weights.flax_to_torch_array(leaf, np.asarray(value))
  return value[:, :, None, None] if kind == "conv1x1" and value.ndim == 2 else value


def _clean(state_dict: dict, network: registry.TorchNetwork, expected: dict,
           layers: dict) -> dict:
  """The official loaders' tolerance: no `module.` prefix, no `num_batches_tracked`, no
  running statistics of layers that keep none here (old instance norms), none of the
  network's `extra_buffers`."""
  out = {}
  prefixes = {v[0] for v in layers.values()}
  stateless = {p for p in prefixes if not any(k.startswith(p + ".running_") for k in expected)}
  for key, value in state_dict.items():
    for strip in (network.key_prefix, "module."):
      key = key[len(strip):] if strip and key.startswith(strip) else key
    if key.endswith(".num_batches_tracked") or key in network.extra_buffers:
      continue
    prefix, _, leaf = key.rpartition(".")
    if leaf in ("running_mean", "running_var") and prefix in stateless and key not in expected:
      continue
    out[key] = value
  return out


def _expected(like: dict, network: registry.TorchNetwork) -> dict:
  """{official key: official shape} of the network shaped as `like`."""
  if network.to_torch is not None:
    return {k: tuple(np.shape(v)) for k, v in network.to_torch(like).items()}
  return {k: v[2] for k, v in torch_keys(like, network).items()}


def network_from_torch(state_dict: dict, network: registry.TorchNetwork, like: dict,
                       source: str) -> dict:
  """Network `network` as {"params", "batch_stats"} numpy trees shaped and typed as `like`
  (that network's variables in a fresh state) from an official state_dict.

  ValueError names `source` and every missing, unexpected or mismatched key.
  """
  expected = _expected(like, network)
  layers = layer_map(like, network) if network.to_torch is None else {}
  state_dict = _clean(state_dict, network, expected, layers)
  torch_weights.check_state_dict(state_dict, expected, f"{source} ({network.name})")
  leaves = dict(((c, p), leaf) for c in ("params", "batch_stats")
                for p, leaf in _flatten(like.get(c, {})))
  out = {"params": {}, "batch_stats": {}}
  if network.to_torch is not None:
    got = network.from_torch(state_dict, like)
    found = {(c, p): v for c in ("params", "batch_stats") for p, v in _flatten(got.get(c, {}))}
    if set(found) != set(leaves):
      raise ValueError(f"{source} ({network.name}): the mapping gives "
                       f"{sorted('/'.join((c,) + p) for c, p in set(found) ^ set(leaves))[:6]} "
                       f"where the network differs")
    values = found
  else:
    values = {(collection, path): _to_ours(key, state_dict[key], kind)
              for key, (collection, path, _, kind) in torch_keys(like, network).items()}
  for (collection, path), value in values.items():
    node = out[collection]
    for name in path[:-1]:
      node = node.setdefault(name, {})
    node[path[-1]] = np.asarray(value, dtype=leaves[(collection, path)].dtype)
  return out


def network_to_torch(variables: dict, network: registry.TorchNetwork) -> dict:
  """{official key: numpy array} of a network's variables (and its `extra_buffers`), in
  the official layer order."""
  if network.to_torch is not None:
    out = collections.OrderedDict(
        (k, np.asarray(v)) for k, v in network.to_torch(variables).items())
  else:
    out = collections.OrderedDict()
    leaves = dict(((c, p), leaf) for c in ("params", "batch_stats")
                  for p, leaf in _flatten(variables.get(c, {})))
    for key, (collection, path, _, kind) in torch_keys(variables, network).items():
      out[key] = _to_torch(path[-1], leaves[(collection, path)], kind)
  for key, value in network.extra_buffers.items():
    out[key] = np.asarray(value)
  if network.key_prefix:
    out = collections.OrderedDict((network.key_prefix + k, v) for k, v in out.items())
  return out


# ---------------------------------------------------------------- files and workdirs
def networks_of(config) -> list:
  spec = registry.get(config.model_name)
  if spec.torch_networks is None:
    with_layout = sorted(m for m in registry.MODELS if registry.get(m).torch_networks)
    raise ValueError(f"{config.model_name} has no official PyTorch checkpoint layout to "
                     f"convert; models with one: {with_layout}")
  return spec.torch_networks(config)


def assign_files(files: list[str], networks: list) -> dict:
  """{network name: file} of the --from items ("FILE" or "NET=FILE"). A file matching the
  patterns of several networks that each have an `entry` (e.g. MUNIT's gen_*.pt) serves
  them all; a file matching none is a released generator: the first generator's, or
  every generator's where they have entries (MUNIT's edges2shoes.pt holds "a" and "b")."""
  by_name = {n.name: n for n in networks}
  out = {}
  for item in files:
    name, sep, path = item.partition("=")
    if sep and name in by_name:
      chosen = [name]
    else:
      path = item
      chosen = [n.name for n in networks
                if any(fnmatch.fnmatch(os.path.basename(path), p) for p in n.files)]
      if len(chosen) > 1 and not all(by_name[c].entry for c in chosen):
        chosen = chosen[:1]
      if not chosen:  # a released generator: the first one, or all that share a file
        generators = [n for n in networks if n.role == "translate"]
        chosen = ([n.name for n in generators if n.entry] or [generators[0].name])
        logging.info("%s matches no official file name (%s): read as %s", path,
                     ", ".join(p for n in networks for p in n.files), ", ".join(chosen))
    for c in chosen:
      if c in out:
        raise ValueError(f"two files for network {c}: {out[c]} and {os.path.abspath(path)}; "
                         f"name them NET=FILE (networks: {list(by_name)})")
      out[c] = os.path.abspath(path)
  return out


def _read(path: str, network: registry.TorchNetwork, cache: dict) -> dict:
  """The state_dict of `network` in the official file `path` (its `entry` if it has one)."""
  if path not in cache:
    cache[path] = torch_weights.load_torch_state_dict(path, nested=True)
  content = cache[path]
  nested = {k: v for k, v in content.items() if isinstance(v, dict)}
  if network.entry is None:
    if nested and len(nested) == len(content):
      raise ValueError(f"{path} holds several state_dicts ({list(nested)}), not the one "
                       f"state_dict of {network.name}")
    return content
  if network.entry not in nested:
    raise ValueError(f"{path} has no state_dict {network.entry!r} for {network.name} "
                     f"(it holds {list(nested) or 'one flat state_dict'})")
  return nested[network.entry]


def convert_in(config, files: list[str], workdir: str) -> dict:
  """Writes the workdir of `config` whose networks come from the official `files`;
  returns what `converted.json` records."""
  from i2ijax.train.loop import jit_once, write_config
  spec = registry.get(config.model_name)
  spec.validate_config(config)
  networks = networks_of(config)
  assigned = assign_files(files, networks)
  ckpt = checkpoint.checkpoint_dir(workdir)
  if os.path.isdir(ckpt) and os.listdir(ckpt):
    raise ValueError(f"{workdir} already holds checkpoints ({ckpt}); convert into a new workdir")
  by_name = {n.name: n for n in networks}
  cache = {}
  loaded = {name: _read(path, by_name[name], cache)  # every file read before any work
            for name, path in assigned.items()}
  key = jax.random.fold_in(jax.random.key(config.seed), 0x1717)  # the train loop's init key
  state = jit_once(lambda k: spec.create_state(config, k, spec.image_shapes(config), 1))(key)
  fields = {}
  for name, sd in loaded.items():
    network = by_name[name]
    variables = network_from_torch(sd, network, network_variables(state, network),
                                   assigned[name])
    tree = fields.get(network.attr, getattr(state, network.attr))
    fields[network.attr] = _set(tree, network_path(network), variables["params"])
    if variables["batch_stats"]:
      tree = fields.get("batch_stats", state.batch_stats)
      fields["batch_stats"] = _set(tree, network_path(network), variables["batch_stats"])
  state = state.replace(**fields)
  missing = [n.name for n in networks if n.role != "optional" and n.name not in assigned]
  untranslatable = [n.name for n in networks if n.role == "translate" and n.name not in assigned]
  why = (f"converted without {', '.join(missing)}" if missing else "")
  if untranslatable:
    logging.warning("%s: without %s the workdir does not translate as the official model",
                    workdir, ", ".join(untranslatable))
  record = {"from": assigned, "fresh": [n.name for n in networks if n.name not in assigned],
            "translate_only": bool(missing), "why": why}
  os.makedirs(workdir, exist_ok=True)
  write_config(config, workdir)
  manager = checkpoint.make_manager(workdir, None)
  checkpoint.save(manager, 0, state)
  manager.wait_until_finished()
  manager.close()
  with open(os.path.join(workdir, checkpoint.CONVERTED), "w") as f:
    json.dump(record, f, indent=2)
  return record


def convert_out(workdir: str, output: str, step: int | None = None) -> list[str]:
  """Writes every network of the workdir's checkpoint `step` (default: newest) as an
  official file in `output` (networks with an `entry` that share a file name are written
  into one file); returns the paths."""
  config = checkpoint.load_config(workdir)
  networks = networks_of(config)
  _, state = checkpoint.load_state(workdir, config, step)
  os.makedirs(output, exist_ok=True)
  files = collections.OrderedDict()
  for network in networks:
    path = os.path.join(output, network.save_as.format(
        step=int(state.step), run=os.path.basename(os.path.normpath(workdir))))
    sd = network_to_torch(network_variables(state, network), network)
    if network.entry is None:
      files[path] = sd
    else:
      content = files.setdefault(path, collections.OrderedDict())
      content[network.entry] = sd
      if network.file_values is not None:
        content.update(network.file_values(int(state.step)))
  for path, content in files.items():
    torch_weights.save_torch_state_dict(path, content)
  return list(files)


def main(argv):
  del argv
  f = flags.FLAGS
  if f.to:
    if f.to != "torch":
      raise app.UsageError(f"--to={f.to!r}: only 'torch' is supported")
    if not f.output:
      raise app.UsageError("--to=torch needs --output=DIR")
    for path in convert_out(f.workdir, f.output, f.step):
      print(path)
    return
  if not f.config or not f.get_flag_value("from", None):
    raise app.UsageError("give --config and --from=FILE[,FILE...] (or --to=torch)")
  record = convert_in(f.config, f["from"].value, f.workdir)
  print(json.dumps(record, indent=2))


if __name__ == "__main__":
  from ml_collections import config_flags
  flags.DEFINE_string("workdir", None, "The workdir to write (--from) or read (--to).")
  config_flags.DEFINE_config_file("config", None, "Config file, optionally `file.py:preset`.")
  flags.DEFINE_list("from", None, "Official checkpoint files: FILE or NET=FILE, comma-separated.")
  flags.DEFINE_string("to", None, "'torch': write the workdir's networks as official files.")
  flags.DEFINE_string("output", None, "Folder for the files of --to=torch.")
  flags.DEFINE_integer("step", None, "Checkpoint step for --to=torch (default: the newest).")
  flags.mark_flag_as_required("workdir")
  app.run(main)
