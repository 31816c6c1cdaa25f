"""PyTorch state_dict files read into numpy, without torch, and mapped to Flax variables.

`load_torch_state_dict(path)` reads the three layouts such weights come in:

* the zip archive `torch.save` writes since torch 1.6: `<name>/data.pkl` (the
  pickled dict, tensors as persistent references to storages) beside one raw
  file per storage, `<name>/data/<key>`, in the byte order of `<name>/byteorder`;
* the older "legacy" stream (most released weights, e.g. pytorch-fid's
  Inception and the LPIPS heads): pickles of a magic number, the protocol
  version and system info, then the dict, then the list of storage keys, then
  for each key an int64 element count and the raw elements;
* `.npz` archives holding the same key names.

Unpickling is restricted: only `collections.OrderedDict`, torch's tensor and
parameter rebuild helpers and the typed storage classes are resolved (to
numpy stand-ins), so a file cannot run code or smuggle in other objects.
Tensors honour their storage offset, size and stride (views and transposes
are saved as their whole storage).

The state_dict <-> Flax mapping follows torch's module conventions: a key is a
module path (`a.b.c`) and a leaf. Conv2d weights [out, in, kh, kw] become Flax
kernels [kh, kw, in, out], Linear weights [out, in] kernels [in, out];
BatchNorm `weight`/`bias`/`running_mean`/`running_var` become
params `scale`/`bias` and batch_stats `mean`/`var`. Both directions only move
and transpose arrays, so a round trip returns equal arrays.
"""

import collections
import contextlib
import os
import pickle
import struct
import zipfile
from typing import Callable, Iterable, Mapping

import numpy as np

# Legacy (non-zip) torch.save stream header.
LEGACY_MAGIC = 0x1950A86A20F9469CFC6C
LEGACY_PROTOCOL = 1001

STORAGE_DTYPES = {
    "FloatStorage": np.float32,
    "DoubleStorage": np.float64,
    "HalfStorage": np.float16,
    "LongStorage": np.int64,
    "IntStorage": np.int32,
    "ShortStorage": np.int16,
    "CharStorage": np.int8,
    "ByteStorage": np.uint8,
    "BoolStorage": np.bool_,
}

_REBUILD_FUNCTIONS = ("_rebuild_tensor", "_rebuild_tensor_v2", "_rebuild_parameter",
                      "_rebuild_parameter_with_state")


class _StorageType:
  """Stand-in for `torch.<X>Storage`: only its element dtype matters."""

  def __init__(self, name: str):
    self.name = name
    self.dtype = np.dtype(STORAGE_DTYPES[name])


class _Storage:
  """A flat storage of `numel` elements; `data` (1-D numpy) is filled once read.

  Legacy files can reference a view of another storage: `root` and `offset`
  (in elements) then locate it.
  """

  def __init__(self, dtype: np.dtype, numel: int, root=None, offset: int = 0):
    self.dtype, self.numel, self.root, self.offset = dtype, numel, root, offset
    self.data = None

  def array(self) -> np.ndarray:
    if self.root is not None:
      return self.root.array()[self.offset:self.offset + self.numel]
    if self.data is None:
      raise ValueError("a storage's data is missing from the file")
    return self.data


class _Tensor:
  """A tensor awaiting its storage data: storage, offset, size, stride (in elements)."""

  def __init__(self, storage, offset, size, stride):
    if not isinstance(storage, _Storage):
      raise ValueError(f"a tensor refers to {type(storage).__name__}, not a storage")
    self.storage, self.offset = storage, int(offset)
    self.size, self.stride = tuple(int(s) for s in size), tuple(int(s) for s in stride)

  def resolve(self) -> np.ndarray:
    flat = self.storage.array()
    if len(self.size) != len(self.stride):
      raise ValueError(f"tensor size {self.size} and stride {self.stride} differ in length")
    if any(s < 0 for s in self.size + self.stride) or self.offset < 0:
      raise ValueError(f"negative size/stride/offset {self.size} {self.stride} {self.offset}")
    if 0 in self.size:
      return np.zeros(self.size, flat.dtype)
    last = self.offset + sum((n - 1) * s for n, s in zip(self.size, self.stride))
    if last >= len(flat):
      raise ValueError(f"tensor (offset {self.offset}, size {self.size}, stride "
                       f"{self.stride}) reaches past its storage of {len(flat)} elements")
    item = flat.dtype.itemsize
    view = np.lib.stride_tricks.as_strided(flat[self.offset:], self.size,
                                           tuple(s * item for s in self.stride), writeable=False)
    return np.array(view, order="C")  # a contiguous copy, independent of the storage


def _rebuild_tensor(storage, storage_offset, size, stride, *unused):
  """`torch._utils._rebuild_tensor[_v2](storage, offset, size, stride, ...)`."""
  return _Tensor(storage, storage_offset, size, stride)


def _rebuild_parameter(data, *unused):
  """`torch._utils._rebuild_parameter[_with_state](data, requires_grad, hooks[, state])`."""
  return data


def _ascii(s) -> str:
  return s.decode("ascii") if isinstance(s, bytes) else s


class _RestrictedUnpickler(pickle.Unpickler):
  """Resolves only the globals a state_dict needs; storages come from `load_storage`."""

  def __init__(self, file, load_storage: Callable):
    super().__init__(file, encoding="utf-8")
    self._load_storage = load_storage

  def find_class(self, module, name):
    if (module, name) == ("collections", "OrderedDict"):
      return collections.OrderedDict
    if module == "torch._utils" and name in _REBUILD_FUNCTIONS:
      return _rebuild_parameter if "parameter" in name else _rebuild_tensor
    if module in ("torch", "torch.cuda") and name in STORAGE_DTYPES:
      return _StorageType(name)
    raise pickle.UnpicklingError(
        f"refuses to load {module}.{name}; only state_dicts of tensors "
        "(collections.OrderedDict, torch tensor rebuild helpers, storages) are read")

  def persistent_load(self, pid):
    if not isinstance(pid, tuple) or not pid or _ascii(pid[0]) != "storage":
      raise pickle.UnpicklingError(f"unknown persistent id {pid!r}")
    return self._load_storage(*pid[1:])


def _is_torch_zip(archive: zipfile.ZipFile) -> str | None:
  """The record prefix (`<name>/`) of a torch zip archive, or None if it is not one."""
  for name in archive.namelist():
    if name == "data.pkl" or name.endswith("/data.pkl"):
      return name[:-len("data.pkl")]
  return None


def _load_zip(archive: zipfile.ZipFile, prefix: str):
  names = set(archive.namelist())
  order = "little"
  if prefix + "byteorder" in names:
    order = archive.read(prefix + "byteorder").decode("ascii").strip()
  storages = {}

  def load_storage(storage_type, key, location, numel, *unused):
    key = _ascii(key)
    if key not in storages:
      if not isinstance(storage_type, _StorageType):
        raise pickle.UnpicklingError(f"storage {key} has an unknown type")
      raw = archive.read(f"{prefix}data/{key}")
      dtype = storage_type.dtype.newbyteorder("<" if order == "little" else ">")
      if len(raw) < numel * dtype.itemsize:
        raise ValueError(f"storage {key} holds {len(raw)} bytes, needs "
                         f"{numel * dtype.itemsize}")
      storage = _Storage(storage_type.dtype, numel)
      storage.data = np.frombuffer(raw, dtype, numel).astype(storage_type.dtype)
      storages[key] = storage
    return storages[key]

  with archive.open(prefix + "data.pkl") as f:
    return _RestrictedUnpickler(f, load_storage).load()


def _load_legacy(f):
  plain = lambda: _PlainUnpickler(f).load()
  magic = plain()
  if magic != LEGACY_MAGIC:
    raise ValueError("a pickle that is not a torch.save file (no torch magic number)")
  protocol, sys_info = plain(), plain()
  if protocol != LEGACY_PROTOCOL:
    raise ValueError(f"unsupported torch.save protocol version {protocol!r}")
  little = sys_info.get("little_endian", True) if isinstance(sys_info, dict) else True
  storages = {}

  def load_storage(storage_type, root_key, location, numel, view_metadata):
    root_key = _ascii(root_key)
    if not isinstance(storage_type, _StorageType):
      raise pickle.UnpicklingError(f"storage {root_key} has an unknown type")
    if root_key not in storages:
      storages[root_key] = _Storage(storage_type.dtype, numel)
    root = storages[root_key]
    if view_metadata is None:
      return root
    view_key, offset, view_size = view_metadata
    view_key = _ascii(view_key)
    if view_key not in storages:
      storages[view_key] = _Storage(root.dtype, view_size, root=root, offset=offset)
    return storages[view_key]

  result = _RestrictedUnpickler(f, load_storage).load()
  keys = plain()
  for key in keys:
    key = _ascii(key)
    if key not in storages:
      raise ValueError(f"the data section names an unknown storage {key}")
    storage = storages[key]
    raw = f.read(8)
    if len(raw) != 8:
      raise ValueError(f"truncated before the data of storage {key}")
    (numel,) = struct.unpack("<q" if little else ">q", raw)
    dtype = storage.dtype.newbyteorder("<" if little else ">")
    data = f.read(numel * dtype.itemsize)
    if len(data) != numel * dtype.itemsize or numel < storage.numel:
      raise ValueError(f"truncated or short data for storage {key}")
    storage.data = np.frombuffer(data, dtype, numel).astype(storage.dtype)
  return result


class _PlainUnpickler(pickle.Unpickler):
  """For the legacy header and key list: plain data, no globals, no persistent ids."""

  def __init__(self, file):
    super().__init__(file, encoding="utf-8")

  def find_class(self, module, name):
    raise pickle.UnpicklingError(f"unexpected global {module}.{name}")


def _to_arrays(obj, path: str, nested: bool = False) -> dict:
  """A loaded mapping of tensors -> {key: numpy array}, in file order. `nested`: the
  top level may also map names to such mappings (a checkpoint of several state_dicts,
  e.g. {"a": ..., "b": ...}), which become {name: {key: array}}; its other values
  (iteration counts, option strings, optimizer states) are left out."""
  if not isinstance(obj, Mapping):
    raise ValueError(f"{path}: holds a {type(obj).__name__}, not a state_dict (a mapping of "
                     "names to tensors)")
  out = {}
  for key, value in obj.items():
    key = _ascii(key)
    if not isinstance(key, str):
      raise ValueError(f"{path}: state_dict key {key!r} is not a string")
    if nested and isinstance(value, Mapping):
      if all(isinstance(v, _Tensor) for v in value.values()):
        out[key] = _to_arrays(value, f"{path} [{key!r}]")
      continue  # not a state_dict (an optimizer's state): left out
    if nested and isinstance(value, (int, float, str, bytes, bool, type(None))):
      continue
    if not isinstance(value, _Tensor):
      raise ValueError(f"{path}: entry {key!r} is a {type(value).__name__}, not a tensor; "
                       "expected a flat state_dict (e.g. model.state_dict())")
    try:
      out[key] = value.resolve()
    except ValueError as e:
      raise ValueError(f"{path}: entry {key!r}: {e}") from None
  return out


@contextlib.contextmanager
def _naming(path: str, what: str):
  """Re-raises a reading error as ValueError("<path>: <what>: <error>")."""
  try:
    yield
  except ValueError as e:
    if str(e).startswith(path + ": "):
      raise
    raise ValueError(f"{path}: {what}: {e}") from None
  except (pickle.UnpicklingError, EOFError, struct.error, TypeError, AttributeError,
          IndexError, KeyError, zipfile.BadZipFile) as e:
    raise ValueError(f"{path}: {what}: {type(e).__name__}: {e}") from None


def load_torch_state_dict(path, nested: bool = False) -> dict:
  """Reads a PyTorch state_dict (`torch.save`, zip or legacy) or an `.npz` without torch.

  Returns {key: numpy array} in the file's order, with the saved dtypes
  (float32/float16/float64, int64/int32/int16/int8/uint8, bool) and shapes;
  every array is a contiguous copy.

  `nested`: a checkpoint of several state_dicts ({"a": state_dict, "b": ...,
  "iteration": 1000}) is read as {name: {key: array}} (its plain values left
  out); a flat state_dict reads as before.

  Raises FileNotFoundError for a missing file and ValueError (naming the file)
  for an unknown or corrupt format, or contents that are not a flat mapping of
  names to tensors (or, with `nested`, of names to such mappings).
  """
  path = os.fspath(path)
  if not os.path.isfile(path):
    raise FileNotFoundError(f"weights file not found: {path}")
  if zipfile.is_zipfile(path):
    with zipfile.ZipFile(path) as archive:
      prefix = _is_torch_zip(archive)
      if prefix is not None:
        with _naming(path, "unreadable torch zip archive"):
          return _to_arrays(_load_zip(archive, prefix), path, nested)
      if archive.namelist() and all(n.endswith(".npy") for n in archive.namelist()):
        with np.load(path, allow_pickle=False) as npz:
          return {k: np.array(npz[k]) for k in npz.files}
    raise ValueError(f"{path}: a zip archive that is neither a torch.save file nor an .npz")
  with open(path, "rb") as f:
    head = f.read(2)
    f.seek(0)
    if len(head) == 2 and head[0] == 0x80 and head[1] >= 2:  # a pickle, protocol 2+
      with _naming(path, "unreadable legacy torch.save file"):
        return _to_arrays(_load_legacy(f), path, nested)
  raise ValueError(f"{path}: unknown weights format; expected a torch.save state_dict "
                   "(.pth/.pt, zip or legacy) or an .npz")


_TORCH_STORAGES = {np.dtype(v): k for k, v in STORAGE_DTYPES.items()}


def _pickle_state_dict(tree: Mapping) -> tuple[bytes, list]:
  """The `data.pkl` of a torch zip archive (protocol 2, as `torch.save`) for {key: array}
  (an OrderedDict of `torch._utils._rebuild_tensor_v2` calls) or {name: {key: array}}
  (a dict of such OrderedDicts), and the arrays of its storages "0", "1", ... in order.
  Written opcode by opcode, so neither torch nor any object of it is needed."""
  storages = []

  def text(s: str) -> bytes:
    b = s.encode("utf-8")
    return pickle.BINUNICODE + struct.pack("<I", len(b)) + b

  def integer(n: int) -> bytes:
    if 0 <= n < 256:
      return pickle.BININT1 + bytes([n])
    if -2**31 <= n < 2**31:
      return pickle.BININT + struct.pack("<i", n)
    b = n.to_bytes((n.bit_length() + 8) // 8, "little", signed=True)
    return pickle.LONG1 + bytes([len(b)]) + b

  def ints(values) -> bytes:
    return pickle.MARK + b"".join(integer(int(v)) for v in values) + pickle.TUPLE

  def tensor(value: np.ndarray) -> list:
    storage = _TORCH_STORAGES[value.dtype]
    strides = [int(np.prod(value.shape[i + 1:], dtype=np.int64)) for i in range(value.ndim)]
    storages.append(value)
    return [pickle.GLOBAL + b"torch._utils\n_rebuild_tensor_v2\n", pickle.MARK,
            pickle.MARK, text("storage"), pickle.GLOBAL + f"torch\n{storage}\n".encode(),
            text(str(len(storages) - 1)), text("cpu"), integer(value.size), pickle.TUPLE,
            pickle.BINPERSID, integer(0), ints(value.shape), ints(strides), pickle.NEWFALSE,
            pickle.GLOBAL + b"collections\nOrderedDict\n", pickle.EMPTY_TUPLE, pickle.REDUCE,
            pickle.TUPLE, pickle.REDUCE]

  def mapping(items: Mapping, ordered: bool) -> list:
    out = ([pickle.GLOBAL + b"collections\nOrderedDict\n", pickle.EMPTY_TUPLE, pickle.REDUCE]
           if ordered else [pickle.EMPTY_DICT])
    out.append(pickle.MARK)
    for key, value in items.items():
      out.append(text(key))
      if isinstance(value, Mapping):
        out += mapping(value, True)
      elif isinstance(value, int):
        out.append(integer(value))
      else:
        out += tensor(value)
    return out + [pickle.SETITEMS]

  nested = any(isinstance(v, (Mapping, int)) for v in tree.values())
  ops = [pickle.PROTO + b"\x02"] + mapping(tree, not nested) + [pickle.STOP]
  return b"".join(ops), storages


def save_torch_state_dict(path, state_dict: Mapping) -> None:
  """Writes {key: array} (a state_dict) or {name: {key: array} or int} (a checkpoint of
  several, with plain counts)
  as the zip archive `torch.save` writes (tensors in `STORAGE_DTYPES`' dtypes,
  little-endian), without torch: `torch.load` and `load_torch_state_dict` read it back
  to equal arrays. Written to `path`.tmp, then renamed, so an existing file is replaced
  only by a complete one."""
  path = os.fspath(path)

  def prepare(tree):
    out = collections.OrderedDict()
    for key, value in tree.items():
      if isinstance(value, Mapping):
        out[key] = prepare(value)
        continue
      if isinstance(value, int):  # a plain count beside the state_dicts (e.g. an epoch)
        out[key] = value
        continue
      value = np.asarray(value)
      if value.dtype not in _TORCH_STORAGES:
        raise ValueError(f"{key}: no torch storage for dtype {value.dtype}")
      out[key] = np.array(value, value.dtype.newbyteorder("<"), order="C")  # 0-d stays 0-d
    return out

  data, storages = _pickle_state_dict(prepare(state_dict))
  tmp = path + ".tmp"
  with zipfile.ZipFile(tmp, "w", zipfile.ZIP_STORED) as archive:
    archive.writestr("archive/data.pkl", data)
    archive.writestr("archive/byteorder", "little")
    for index, value in enumerate(storages):
      archive.writestr(f"archive/data/{index}", value.tobytes())
    archive.writestr("archive/version", "3\n")
  os.replace(tmp, path)


def save_npz_state_dict(path, state_dict: Mapping[str, np.ndarray]) -> None:
  """Writes {key: array} as an uncompressed `.npz` that `load_torch_state_dict` reads back."""
  np.savez(path, **{k: np.asarray(v) for k, v in state_dict.items()})


def check_state_dict(state_dict: Mapping[str, np.ndarray], expected: Mapping[str, tuple],
                     source: str, ignore: Callable[[str], bool] = lambda key: False) -> None:
  """Raises ValueError naming `source` unless `state_dict` has exactly the `expected`
  keys (those for which `ignore(key)` holds aside) with the expected shapes."""
  keys = [k for k in state_dict if not ignore(k)]
  missing = [k for k in expected if k not in state_dict]
  unexpected = [k for k in keys if k not in expected]
  wrong = [f"{k}: {tuple(np.shape(state_dict[k]))} instead of {tuple(expected[k])}"
           for k in keys if k in expected and tuple(np.shape(state_dict[k])) != tuple(expected[k])]
  if not (missing or unexpected or wrong):
    return
  show = lambda items: ", ".join(items[:6]) + (f", ... ({len(items)} in all)" if len(items) > 6
                                                else "")
  parts = []
  if missing:
    parts.append(f"missing keys: {show(missing)}")
  if unexpected:
    parts.append(f"unexpected keys: {show(unexpected)}")
  if wrong:
    parts.append(f"shape mismatches: {show(wrong)}")
  raise ValueError(f"{source}: weights do not fit the network; " + "; ".join(parts))


# torch leaf name -> (Flax collection, Flax leaf name), per tensor rank.
def _flax_leaf(leaf: str, ndim: int) -> tuple[str, str]:
  if leaf == "weight":
    return "params", "kernel" if ndim in (2, 4) else "scale"
  if leaf == "bias":
    return "params", "bias"
  if leaf == "running_mean":
    return "batch_stats", "mean"
  if leaf == "running_var":
    return "batch_stats", "var"
  raise ValueError(f"no Flax counterpart for a torch {leaf!r}")


_TORCH_LEAF = {("params", "kernel"): "weight", ("params", "scale"): "weight",
               ("params", "bias"): "bias", ("batch_stats", "mean"): "running_mean",
               ("batch_stats", "var"): "running_var"}


def torch_leaf(collection: str, leaf: str) -> str | None:
  """The torch name of a Flax leaf (kernel / scale: weight, bias, mean: running_mean,
  var: running_var), or None where torch has no such convention."""
  return _TORCH_LEAF.get((collection, leaf))


def indexed_prefix(module_path, bare: str = "", keep=lambda name: False) -> str:
  """Our module path -> a torch module prefix, where numeric suffixes of our names are
  torch's indices: "conv_4_1" -> "conv.4.1", "model_3" -> "model.3"; a name `bare`_N is
  the index alone ("layers_3" -> "3"); names for which `keep(name)` holds stay as they
  are (torch attribute names that end in a number)."""
  out = []
  for part in module_path:
    indices = []
    head, _, tail = part.rpartition("_")
    while not keep(part) and tail.isdigit() and head:
      indices.insert(0, tail)
      part = head
      head, _, tail = part.rpartition("_")
    out += ([] if bare and part == bare and indices else [part]) + indices
  return ".".join(out)


def natural_order(layers: dict) -> dict:
  """`layers` ({our path: torch prefix or (prefix, kind)}) sorted by the prefix, its
  numeric parts as numbers ("model.2" before "model.10")."""
  key = lambda prefix: [(0, int(p), "") if p.isdigit() else (1, 0, p)
                        for p in (prefix if isinstance(prefix, str) else prefix[0]).split(".")]
  return dict(sorted(layers.items(), key=lambda item: key(item[1])))


def torch_to_flax_array(leaf: str, value: np.ndarray) -> np.ndarray:
  """Conv2d weight [O, I, kh, kw] -> [kh, kw, I, O]; Linear weight [O, I] -> [I, O]; else as is."""
  value = np.asarray(value)
  if leaf == "weight" and value.ndim == 4:
    return np.ascontiguousarray(value.transpose(2, 3, 1, 0))
  if leaf == "weight" and value.ndim == 2:
    return np.ascontiguousarray(value.T)
  return value


def flax_to_torch_array(leaf: str, value: np.ndarray) -> np.ndarray:
  """Inverse of `torch_to_flax_array` for a Flax `kernel` (4-D conv or 2-D dense)."""
  value = np.asarray(value)
  if leaf == "kernel" and value.ndim == 4:
    return np.ascontiguousarray(value.transpose(3, 2, 0, 1))
  if leaf == "kernel" and value.ndim == 2:
    return np.ascontiguousarray(value.T)
  return value


def flax_variables_from_torch(state_dict: Mapping[str, np.ndarray],
                              module_path: Callable[[str], tuple[str, ...]],
                              skip: Callable[[str], bool] = lambda key: False) -> dict:
  """{torch key: array} -> {collection: nested Flax dict}.

  `module_path(prefix)` maps a torch module path (the key without its leaf,
  e.g. `Mixed_5b.branch1x1.conv`) to the Flax module path (a tuple of names);
  keys for which `skip(key)` holds are left out.
  """
  out: dict = {}
  for key, value in state_dict.items():
    if skip(key):
      continue
    prefix, _, leaf = key.rpartition(".")
    collection, flax_leaf = _flax_leaf(leaf, np.ndim(value))
    node = out.setdefault(collection, {})
    for name in module_path(prefix):
      node = node.setdefault(name, {})
    node[flax_leaf] = torch_to_flax_array(leaf, value)
  return out


def torch_from_flax_variables(variables: Mapping, torch_prefix: Callable[[tuple[str, ...]], str],
                              collections_: Iterable[str] = ("params", "batch_stats")
                              ) -> dict[str, np.ndarray]:
  """Inverse of `flax_variables_from_torch`: `torch_prefix(flax module path)` gives the
  torch module path. Returns {torch key: numpy array}."""
  out = {}
  for collection in collections_:
    if collection not in variables:
      continue
    for path, value in _flatten(variables[collection]):
      *modules, leaf = path
      name = torch_leaf(collection, leaf)
      if name is None:
        raise ValueError(f"no torch counterpart for {collection}/{'/'.join(path)}")
      out[f"{torch_prefix(tuple(modules))}.{name}"] = flax_to_torch_array(leaf, value)
  return out


def _flatten(tree: Mapping, prefix: tuple = ()):
  for name, value in tree.items():
    if isinstance(value, Mapping):
      yield from _flatten(value, prefix + (name,))
    else:
      yield prefix + (name,), np.asarray(value)
