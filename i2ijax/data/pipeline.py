"""One data pipeline for every model: batch k of a run is a pure function of (seed, k).

A model supplies `example(g) -> {name: float32 array}` for the global example
index g = step * global_batch + i; this module turns it into per-process
batches and prefetches them on a background thread. Because a batch depends
only on the seed and the step, a run resumed from a checkpoint at step k sees
exactly the batches an uninterrupted run would (the data position is the step).
"""

import queue
import threading
from typing import Callable

import numpy as np

from i2ijax.data.images import RESIZE_FILTERS, preprocess


class UnalignedExamples:
  """The official `unaligned` dataset as a function of the example index.

  An epoch is max(|A|, |B|) examples. A visits a fresh permutation each epoch
  (index mod |A|, as the official loader does); B is drawn uniformly at
  random; each image gets its own random crop and flip.
  """

  def __init__(self, domain_a, domain_b, *, seed: int, transform: Callable):
    self.a, self.b = domain_a, domain_b
    self.seed = seed
    self.transform = transform
    self.size = max(len(domain_a), len(domain_b))
    self._perm_cache = (None, None)

  def _perm(self, epoch: int) -> np.ndarray:
    if self._perm_cache[0] != epoch:
      self._perm_cache = (epoch, np.random.default_rng([self.seed, epoch, 1]).permutation(self.size))
    return self._perm_cache[1]

  def __call__(self, g: int) -> dict:
    epoch, pos = divmod(g, self.size)
    rng = np.random.default_rng([self.seed, g, 2])
    ia = int(self._perm(epoch)[pos]) % len(self.a)
    ib = int(rng.integers(len(self.b)))
    return {"A": self.transform(self.a.load(ia), rng), "B": self.transform(self.b.load(ib), rng)}


class PairedExamples:
  """The official `aligned` dataset: A[i] and B[i] are one pair.

  Each epoch visits a fresh permutation of the pairs; both images of a pair
  get the same random crop and flip (one generator state replayed for each).
  """

  def __init__(self, domain_a, domain_b, *, seed: int, transform: Callable):
    if len(domain_a) != len(domain_b):
      raise ValueError(f"paired domains differ in size: {domain_a.name} has {len(domain_a)}, "
                       f"{domain_b.name} has {len(domain_b)}")
    self.a, self.b = domain_a, domain_b
    self.seed = seed
    self.transform = transform
    self.size = len(domain_a)
    self._perm_cache = (None, None)

  def __call__(self, g: int) -> dict:
    epoch, pos = divmod(g, self.size)
    if self._perm_cache[0] != epoch:
      self._perm_cache = (epoch, np.random.default_rng([self.seed, epoch, 1]).permutation(self.size))
    i = int(self._perm_cache[1][pos])
    rng = lambda: np.random.default_rng([self.seed, g, 2])
    return {"A": self.transform(self.a.load(i), rng()), "B": self.transform(self.b.load(i), rng())}


class MultiDomainExamples:
  """StarGAN v2's training data (source + reference loaders) as a function of the example index.

  `sources[k]` is domain k (label k; for folders, the k-th sub-folder in
  sorted order). Example g is
    x_src, y_src: a source image and its domain;
    x_ref, x_ref2, y_ref: two images of one reference domain y_ref,
  each x float32 [H, W, C] in [-1, 1] with its own random transform, each y
  an np.int32 scalar (so `Batches` stacks them into int32 [N]).
  Source and reference are drawn independently, each balanced over domains
  (a uniform domain, then a uniform image of it: the distribution of the
  official WeightedRandomSampler with weights 1/|domain|, with replacement).
  x_ref2 is x_ref's partner in a fixed random permutation of its domain (the
  official ReferenceDataset's `random.sample`; a fixed point pairs an image
  with itself, as there). An epoch is `size` = the total number of images.
  Example g depends only on (seed, g).
  """

  def __init__(self, sources, *, seed: int, transform: Callable):
    self.domains = list(sources)
    if len(self.domains) < 2:
      raise ValueError(f"multi-domain data needs at least 2 domains, got {len(self.domains)}")
    for d in self.domains:
      if not len(d):
        raise ValueError(f"domain {d.name} has no images")
    self.domain_names = [d.name for d in self.domains]
    self.num_domains = len(self.domains)
    self.seed = seed
    self.transform = transform
    self.size = sum(len(d) for d in self.domains)
    self._partners = [np.random.default_rng([seed, k, 3]).permutation(len(d))
                      for k, d in enumerate(self.domains)]

  def __call__(self, g: int) -> dict:
    rng = np.random.default_rng([self.seed, g, 2])
    y_src = int(rng.integers(self.num_domains))
    i_src = int(rng.integers(len(self.domains[y_src])))
    y_ref = int(rng.integers(self.num_domains))
    i_ref = int(rng.integers(len(self.domains[y_ref])))
    i_ref2 = int(self._partners[y_ref][i_ref])
    src, ref = self.domains[y_src], self.domains[y_ref]
    return {"x_src": self.transform(src.load(i_src), rng), "y_src": np.int32(y_src),
            "x_ref": self.transform(ref.load(i_ref), rng),
            "x_ref2": self.transform(ref.load(i_ref2), rng), "y_ref": np.int32(y_ref)}


class MultiLabelExamples:
  """StarGAN's training data (an attribute-labelled image set) as a function of the example index.

  `source` is an attribute source (`attributes.AttributeSource`): `len()`,
  `load(i) -> uint8 [H, W, 3]`, `label(i) -> float32 [K]` of 0/1, and the
  attribute `names`, `groups` and `single_label`, exposed here too. As the
  official loader (shuffle=True), each epoch of `size` = len(source)
  examples visits a fresh permutation of the images; example g is
    x: float32 [H, W, 3] in [-1, 1], image perm_epoch[g % size] with its
       own random transform (flip);
    label: float32 [K], its attribute label.
  Example g depends only on (seed, g); `stream` > 0 draws an independent
  sequence from the same seed (the second dataset of joint training).
  """

  def __init__(self, source, *, seed: int, transform: Callable, stream: int = 0):
    if not len(source):
      raise ValueError(f"attribute source {source.name} has no images")
    self.source = source
    self.names = list(source.names)
    self.groups = [list(g) for g in source.groups]
    self.single_label = bool(source.single_label)
    self.seed = seed
    self.transform = transform
    self.size = len(source)
    self._stream = [stream] if stream else []
    self._perm_cache = (None, None)

  def _perm(self, epoch: int) -> np.ndarray:
    if self._perm_cache[0] != epoch:
      perm = np.random.default_rng([self.seed, epoch, 1, *self._stream]).permutation(self.size)
      self._perm_cache = (epoch, perm)
    return self._perm_cache[1]

  def __call__(self, g: int) -> dict:
    epoch, pos = divmod(g, self.size)
    i = int(self._perm(epoch)[pos])
    rng = np.random.default_rng([self.seed, g, 2, *self._stream])
    return {"x": self.transform(self.source.load(i), rng),
            "label": np.asarray(self.source.label(i), np.float32)}


class JointExamples:
  """Two example functions read side by side (StarGAN's joint training, one loader per
  dataset): example g is `first(g)` with `second(g)`'s keys + `suffix` beside it
  ({"x", "label", "x2", "label2"}). Each cycles through its own epochs; `size`
  (an epoch of the run) is the first's.
  """

  def __init__(self, first, second, suffix: str = "2"):
    self.first, self.second, self.suffix = first, second, suffix
    self.size = first.size

  def __call__(self, g: int) -> dict:
    return {**self.first(g), **{k + self.suffix: v for k, v in self.second(g).items()}}


def make_transform(data_config) -> Callable:
  """The training preprocessing of `data_config` as `(uint8 image, rng) -> float32`."""
  validate_data_config(data_config)
  def transform(image, rng):
    return preprocess(image, rng, mode=data_config.preprocess, load_size=data_config.load_size,
                      crop_size=data_config.crop_size, flip=data_config.flip,
                      randcrop_prob=data_config.get("randcrop_prob", 0.5),
                      center_crop=data_config.get("center_crop", 0),
                      center_crop_offset=tuple(data_config.get("center_crop_offset", (0, 0))),
                      stretch=data_config.get("stretch", False),
                      resize_filter=data_config.get("resize_filter", "bicubic"))
  return transform


PREPROCESS_MODES = ("resize_and_crop", "crop", "none", "random_resized_crop",
                    "resize_short_and_crop", "center_crop_resize")


def validate_data_config(d) -> None:
  """Raises ValueError naming the `config.data` key of an impossible value."""
  if d.preprocess not in PREPROCESS_MODES:
    raise ValueError(f"config.data.preprocess={d.preprocess!r} is not one of "
                     f"{list(PREPROCESS_MODES)}")
  if d.preprocess != "none" and d.crop_size < 1:
    raise ValueError(f"config.data.crop_size={d.crop_size} must be positive")
  if d.preprocess in ("resize_and_crop", "resize_short_and_crop") and d.crop_size > d.load_size:
    raise ValueError(f"config.data.crop_size={d.crop_size} is larger than "
                     f"config.data.load_size={d.load_size}")
  randcrop_prob = d.get("randcrop_prob", 0.5)
  if not 0.0 <= randcrop_prob <= 1.0:
    raise ValueError(f"config.data.randcrop_prob={randcrop_prob} must be in [0, 1]")
  center_crop = d.get("center_crop", 0)
  if center_crop < 0:
    raise ValueError(f"config.data.center_crop={center_crop} must be >= 0 (0: no centre crop)")
  if d.get("resize_filter", "bicubic") not in RESIZE_FILTERS:
    raise ValueError(f"config.data.resize_filter={d.resize_filter!r} is not one of "
                     f"{sorted(RESIZE_FILTERS)}")
  offset = tuple(d.get("center_crop_offset", (0, 0)))
  if len(offset) != 2 or not all(isinstance(o, int) for o in offset):
    raise ValueError(f"config.data.center_crop_offset={offset!r} must be two ints (rows, columns)")


class Batches:
  """Per-process batches of a global batch, indexed by step, with prefetching."""

  def __init__(self, example: Callable[[int], dict], global_batch: int, *,
               process_index: int = 0, process_count: int = 1):
    if global_batch % process_count:
      raise ValueError(f"batch_size {global_batch} is not divisible by the number of "
                       f"processes {process_count}")
    self.example = example
    self.global_batch = global_batch
    self.local_batch = global_batch // process_count
    self.offset = process_index * self.local_batch

  def __call__(self, step: int) -> dict:
    """This process's slice of global batch `step`: {name: [local_batch, ...]}."""
    first = step * self.global_batch + self.offset
    examples = [self.example(first + i) for i in range(self.local_batch)]
    return {k: np.stack([e[k] for e in examples]) for k in examples[0]}

  def iterate(self, start_step: int, prefetch: int = 2):
    """Yields (step, batch) from `start_step` on; a thread keeps `prefetch` batches ready."""
    q: queue.Queue = queue.Queue(maxsize=max(1, prefetch))
    stop = threading.Event()

    def work():
      step = start_step
      while not stop.is_set():
        try:
          item = (step, self(step))
        except Exception as e:  # surfaced in the consumer, with its traceback
          item = e
        while not stop.is_set():
          try:
            q.put(item, timeout=0.1)
            break
          except queue.Full:
            continue
        if isinstance(item, Exception):
          return
        step += 1

    thread = threading.Thread(target=work, daemon=True, name="i2ijax-data")
    thread.start()
    try:
      while True:
        item = q.get()
        if isinstance(item, Exception):
          raise item
        yield item
    finally:
      stop.set()
