"""The attribute classifier that judges multi-label translations (StarGAN's evaluation measure).

Choi et al. (2018) score attribute translation by the classification
accuracy of the translated images' target attributes, with a classifier
trained on the real images of the data set. `fit_attribute_classifier`
trains one with this library: `AttributeCNN` (stride-2 4 x 4 convolutions
with LeakyReLU(0.2), from 32 channels doubling up to 256, one per halving
of the image side down to 4 x 4, at most 5; then the global average pool
and a dense layer to K logits) on the TRAINING split of the model's
attribute data (`data.attributes.attribute_source`), each batch of 32 drawn
by `data.pipeline.MultiLabelExamples` with the config's training transform
(so flips apply), for `config.eval_classifier_steps` (default 500) Adam
steps (learning rate 1e-3). The loss is the binary cross-entropy summed
over attributes (the softmax cross-entropy of the class for single-label
data). Everything is drawn from `config.seed`, so a fit is reproducible.

At fit time the classifier's accuracy on the real test split (prepared as
the official test loader: the training transform without flip) is measured
per attribute: the fraction of test images whose predicted value (sigmoid
probability > 0.5) is the true one; for single-label data, per class, the
fraction of that class's images whose arg-max is the class. The mean is
over attributes (classes).

With a workdir the trained parameters are cached in
`workdir/attribute_classifier/` (`params.msgpack`, flax serialization, and
`info.json`: the hash of everything the fit depends on, the steps and the
accuracies), so periodic evaluations and re-runs train it once; a cache of
another config or step count is replaced.
"""

import dataclasses
import hashlib
import json
import math
import os
import time

from absl import logging
import flax.linen as nn
import flax.serialization
import jax
import jax.numpy as jnp
import numpy as np
import optax

BATCH_SIZE = 32
LEARNING_RATE = 1e-3
DEFAULT_STEPS = 500
CACHE_DIR = "attribute_classifier"
VERSION = 1  # of the architecture and training recipe, part of the cache hash


class AttributeCNN(nn.Module):
  """x float [N, S, S, 3] in [-1, 1] -> K attribute logits [N, K].

  `blocks` stride-2 4 x 4 convolutions (32, 64, 128, 256, 256 channels) with
  LeakyReLU(0.2), the global average pool, and a dense layer.
  """
  num_outputs: int
  blocks: int = 4
  features: int = 32

  @nn.compact
  def __call__(self, x):
    for i in range(self.blocks):
      x = nn.Conv(min(self.features * 2**i, 256), (4, 4), strides=(2, 2),
                  padding=((1, 1), (1, 1)))(x)
      x = nn.leaky_relu(x, 0.2)
    return nn.Dense(self.num_outputs)(x.mean(axis=(1, 2)))


def num_blocks(size: int) -> int:
  """Stride-2 blocks for `size` px images: down to 4 x 4, between 1 and 5."""
  return int(min(5, max(1, math.floor(math.log2(max(size, 2))) - 2)))


def classifier_steps(config) -> int:
  """config.eval_classifier_steps (default 500); ValueError names the key if it is < 1."""
  steps = int(config.get("eval_classifier_steps", DEFAULT_STEPS))
  if steps < 1:
    raise ValueError(f"config.eval_classifier_steps={steps} must be >= 1 (the training steps "
                     "of the attribute classifier that scores multi-label translations)")
  return steps


def loss_fn(logits, labels, single_label: bool):
  """Mean over the batch of the summed binary cross-entropy (or the softmax cross-entropy)."""
  if single_label:
    return optax.softmax_cross_entropy(logits, labels).mean()
  return optax.sigmoid_binary_cross_entropy(logits, labels).sum(-1).mean()


@dataclasses.dataclass
class AttributeClassifier:
  """A trained attribute classifier and its accuracy on the real test images.

  names: the K attribute (class) names; single_label: classes instead of
  attributes; size: the image side it takes; steps: its training steps;
  accuracy: {name: test accuracy} (see the module docstring);
  mean_accuracy: their mean; fit_seconds: the training time (None when read
  from the cache).
  """
  names: list
  single_label: bool
  size: int
  params: dict
  steps: int
  accuracy: dict
  mean_accuracy: float
  fit_seconds: float | None = None

  def __post_init__(self):
    model = AttributeCNN(len(self.names), num_blocks(self.size))
    self._apply = jax.jit(lambda p, x: model.apply({"params": p}, x))

  def logits(self, images: np.ndarray, batch_size: int = 64) -> np.ndarray:
    """uint8 [N, size, size, 3] -> float [N, K] logits."""
    images = np.asarray(images)
    if images.ndim != 4 or images.shape[1:] != (self.size, self.size, 3):
      raise ValueError(f"the attribute classifier takes uint8 [N, {self.size}, {self.size}, 3] "
                       f"images (config.data.crop_size={self.size}), got shape {images.shape}")
    out = []
    for i in range(0, len(images), batch_size):  # fixed-size batches: one compilation
      x = images[i:i + batch_size].astype(np.float32) / 127.5 - 1.0
      n = len(x)
      x = np.concatenate([x, np.zeros((batch_size - n, *x.shape[1:]), np.float32)])
      out.append(np.asarray(self._apply(self.params, x))[:n])
    return np.concatenate(out) if out else np.zeros((0, len(self.names)), np.float32)

  def predict(self, images: np.ndarray) -> np.ndarray:
    """uint8 [N, size, size, 3] -> float [N, K] probabilities: per attribute (sigmoid), or of
    each class (softmax) for single-label data."""
    logits = self.logits(images)
    return np.asarray(jax.nn.softmax(logits, -1) if self.single_label
                      else jax.nn.sigmoid(logits))

  def decide(self, images: np.ndarray) -> np.ndarray:
    """uint8 [N, size, size, 3] -> float [N, K] of 0/1: attribute k on where its probability
    is > 0.5; for single-label data the one-hot of the arg-max class."""
    probs = self.predict(images)
    if self.single_label:
      return np.eye(len(self.names), dtype=np.float32)[np.argmax(probs, -1)]
    return (probs > 0.5).astype(np.float32)

  def info(self) -> dict:
    """{"steps", "test_accuracy": {name: accuracy}, "mean_test_accuracy"} (for reports)."""
    return {"steps": self.steps, "test_accuracy": dict(self.accuracy),
            "mean_test_accuracy": self.mean_accuracy}


def attribute_accuracy(decisions: np.ndarray, labels: np.ndarray, names, single_label: bool):
  """({name: accuracy}, mean) of 0/1 decisions [N, K] against true labels [N, K].

  Per attribute: the fraction of images whose decision is the label; for
  single-label data per class: the fraction of that class's images decided
  as it (classes without images are left out). The mean is over the names.
  """
  labels = np.asarray(labels) > 0.5
  decisions = np.asarray(decisions) > 0.5
  acc = {}
  for k, name in enumerate(names):
    if single_label:
      rows = labels[:, k]
      if rows.any():
        acc[name] = float(decisions[rows, k].mean())
    else:
      acc[name] = float((decisions[:, k] == labels[:, k]).mean())
  return acc, float(np.mean(list(acc.values()))) if acc else float("nan")


def fit_hash(config, steps: int) -> str:
  """The hash of everything a fit depends on: the data settings (less prefetch), the
  attributes, the seed, the steps and the recipe's version."""
  data = config.data.to_dict()
  data.pop("prefetch", None)
  m = config.model
  key = {"data": data, "attrs": str(m.get("attrs", "")), "groups": str(m.get("groups", "")),
         "single_label": bool(m.get("single_label", False)), "seed": int(config.seed),
         "steps": steps, "batch": BATCH_SIZE, "lr": LEARNING_RATE, "version": VERSION}
  return hashlib.sha256(json.dumps(key, sort_keys=True, default=str).encode()).hexdigest()


def _source_and_examples(config, split: str):
  from i2ijax.data.attributes import attribute_source
  from i2ijax.data.pipeline import MultiLabelExamples, make_transform
  source = attribute_source(config.data, split, config.model.get("attrs", ""))
  examples = MultiLabelExamples(source, transform=make_transform(config.data), seed=config.seed)
  return source, examples


def real_test_images(config, split: str = "test"):
  """(uint8 [N, S, S, 3], float [N, K] labels) of `split`, prepared as the official test
  loader (`evaluate.tasks.prepare_fn`)."""
  from i2ijax.data.attributes import attribute_source
  from i2ijax.evaluate.tasks import prepare_fn
  source = attribute_source(config.data, split, config.model.get("attrs", ""))
  prepare = prepare_fn(config)
  images = np.stack([prepare(source.load(i)) for i in range(len(source))])
  labels = np.stack([source.label(i) for i in range(len(source))]).astype(np.float32)
  return images, labels


def train(config, steps: int, log_every: int = 100):
  """(params, names, single_label, seconds): `AttributeCNN` trained on the training split."""
  from i2ijax.data.pipeline import Batches
  source, examples = _source_and_examples(config, "train")
  size = int(config.data.crop_size)
  single = bool(source.single_label)
  model = AttributeCNN(len(source.names), num_blocks(size))
  opt = optax.adam(LEARNING_RATE)

  @jax.jit
  def init(key):
    params = model.init(key, jnp.zeros((1, size, size, 3), jnp.float32))["params"]
    return params, opt.init(params)

  @jax.jit
  def step_fn(params, opt_state, x, y):
    def loss(p):
      return loss_fn(model.apply({"params": p}, x), y, single)
    value, grads = jax.value_and_grad(loss)(params)
    updates, opt_state = opt.update(grads, opt_state, params)
    return optax.apply_updates(params, updates), opt_state, value

  start = time.time()
  params, opt_state = init(jax.random.key(int(config.seed)))
  for step, batch in Batches(examples, BATCH_SIZE).iterate(0, prefetch=2):
    if step >= steps:
      break
    params, opt_state, value = step_fn(params, opt_state, batch["x"], batch["label"])
    if log_every and (step + 1) % log_every == 0:
      logging.info("attribute classifier step %d/%d: loss %.4f", step + 1, steps, float(value))
  params = jax.device_get(params)
  return params, list(source.names), single, time.time() - start


def fit_attribute_classifier(config, workdir: str | None = None) -> AttributeClassifier:
  """The attribute classifier of `config`'s multi-label data, trained or read from the cache.

  Trains `config.eval_classifier_steps` steps (see the module docstring) and
  measures its accuracy on the real test split; with `workdir`, reuses
  `workdir/attribute_classifier/` when it holds a fit of the same data,
  attributes, seed and steps, and else writes it there.
  """
  steps = classifier_steps(config)
  size = int(config.data.crop_size)
  digest = fit_hash(config, steps)
  folder = os.path.join(workdir, CACHE_DIR) if workdir else None
  if folder and os.path.isfile(os.path.join(folder, "info.json")):
    with open(os.path.join(folder, "info.json")) as f:
      info = json.load(f)
    if info.get("hash") == digest:
      names = info["names"]
      with open(os.path.join(folder, "params.msgpack"), "rb") as f:
        params = flax.serialization.msgpack_restore(f.read())
      logging.info("attribute classifier read from %s (mean test accuracy %.4f)", folder,
                   info["mean_test_accuracy"])
      return AttributeClassifier(names, info["single_label"], size, params, info["steps"],
                                 info["test_accuracy"], info["mean_test_accuracy"])
    logging.info("attribute classifier in %s is of another config or step count: retraining",
                 folder)
  params, names, single, seconds = train(config, steps)
  clf = AttributeClassifier(names, single, size, params, steps, {}, float("nan"), seconds)
  images, labels = real_test_images(config)
  clf.accuracy, clf.mean_accuracy = attribute_accuracy(clf.decide(images), labels, names, single)
  logging.info("attribute classifier: %d steps in %.1f s, test accuracy %s (mean %.4f)", steps,
               seconds, {k: round(v, 4) for k, v in clf.accuracy.items()}, clf.mean_accuracy)
  if folder and jax.process_index() == 0:
    os.makedirs(folder, exist_ok=True)
    path = os.path.join(folder, "params.msgpack")
    with open(path + ".tmp", "wb") as f:
      f.write(flax.serialization.to_bytes(params))
    os.replace(path + ".tmp", path)
    info = {"hash": digest, "names": names, "single_label": single, "size": size,
            **clf.info(), "fit_seconds": seconds}
    with open(os.path.join(folder, "info.json.tmp"), "w") as f:
      json.dump(info, f, indent=1)
    os.replace(os.path.join(folder, "info.json.tmp"), os.path.join(folder, "info.json"))
  return clf
