"""The model contract (`ModelSpec`) and the registry of models.

Every model is one `ModelSpec`, defined at the bottom of its train module
(`i2ijax/train/<family>.py`) and named by one line of `MODELS`. The train
loop, `translate`, `evaluate`, the benchmarks and the tests read models only
through these specs: nothing outside a model's own modules branches on its
name. See "Adding a model" in the README.
"""

import dataclasses
import enum
import importlib
from typing import Any, Callable

import numpy as np


class DataKind(str, enum.Enum):
  """What one training example holds, and so how a model is fed, sampled and scored."""
  PAIRED = "paired"  # {"A", "B"}: B is the ground truth of A (pix2pix)
  TWO_DOMAIN = "two_domain"  # {"A", "B"}: unpaired images of two domains (CycleGAN, MUNIT, UNIT)
  MULTI_DOMAIN = "multi_domain"  # images with a domain label, references of a target domain (StarGAN v2)
  MULTI_LABEL = "multi_label"  # images with a vector of binary attributes (StarGAN, Fader, IcGAN)
  SINGLE_IMAGE = "single_image"  # patches of one training image (SinGAN)
  UNCONDITIONAL = "unconditional"  # images only, generated from noise (StyleGAN2, ALAE)


@dataclasses.dataclass(frozen=True)
class TranslateRequest:
  """How to translate: the options of `python -m i2ijax.translate` and of each evaluation task.

  A model takes the fields named in its `ModelSpec.translate_options`;
  `check_request` refuses the others by name.
    direction: "AtoB" / "BtoA" (the spec's `directions`).
    domain: target domain index (multi-domain models).
    seed: first seed of random styles / latents.
    num_styles: outputs per input with random styles (seeds from `seed`).
    references: float [H, W, C] images in [-1, 1] whose styles are used, one output each.
    interpolate: outputs evenly spaced between two styles (two references or two random codes).
    train_mode: batch statistics and dropout as in training (the official test default).
    attrs: target attributes "NAME=VALUE,..." (multi-label models; names from
      config.model.attrs); the others keep the source's.
    strengths: interpolation strengths "GROUP=VALUE,..." towards a reference
      (HomoInterpGAN; groups of config.model.attrs).
  """
  direction: str = "AtoB"
  domain: int | None = None
  seed: int = 0
  num_styles: int = 1
  references: tuple = ()
  interpolate: int = 0
  train_mode: bool = False
  attrs: str = ""
  strengths: str = ""


# Command-line spelling of each request field, for error messages.
_FLAG = {"direction": "--direction", "domain": "--domain", "seed": "--seed",
         "num_styles": "--num_styles", "references": "--reference",
         "interpolate": "--interpolate", "train_mode": "--train_mode", "attrs": "--attrs",
         "strengths": "--strengths"}


@dataclasses.dataclass(frozen=True)
class Translator:
  """A trained model as a function of single images, for `translate` and `evaluate`.

  `apply(params, x)`: x float [1, H, W, in_channels] in [-1, 1] -> float
  [num_outputs, H, W, out_channels] (jitted; `params` is an argument so one
  compilation serves every state, e.g. the periodic evaluation during
  training). `params(state)` picks what `apply` reads from a train state.
  Inputs are resized to `size` x `size` when `size` is set (and the outputs
  have that size); otherwise their sides are padded (reflect) to a multiple
  of `multiple` and the outputs cropped back to the input's size. `extras`
  names additional outputs where `apply` returns a dict ({"image": ..., name:
  ...}, e.g. attention maps).
  """
  apply: Callable
  params: Callable
  in_channels: int
  out_channels: int
  num_outputs: int = 1
  multiple: int = 1
  size: int | None = None
  extras: tuple = ()


@dataclasses.dataclass(frozen=True)
class TorchNetwork:
  """One network of a model as the official PyTorch code saves it (`i2ijax.convert`).

  name: the network's name in messages and `NET=FILE` arguments (e.g. "G_A").
  files: file-name patterns (`fnmatch`) of the official files that hold it
    (e.g. "*_net_G_A.pth", "gen_*.pt").
  save_as: the official name of the file for a step, a format of `step` (and
    `run`, the workdir's name) (e.g. "{step}_net_G_A.pth", "gen_{step:08d}.pt").
  layers: {our layer path (a tuple of module names): the official module prefix
    ("model.1")}, in the official order, for every layer that can hold weights,
    or a function of the network's variables returning it; our variables below
    a layer path (in wrapper modules such as "conv") map to `<prefix>.<leaf>`
    (kernel / scale: weight, bias, mean: running_mean, var: running_var, other
    leaf names as they are). A prefix given as (prefix, "conv1x1") is a 1x1
    Conv2d officially and a Dense here.
  role: "translate" (needed to translate and to train: a generator, or the
    moving average that translates), "train" (needed to train only, e.g. the
    generator whose moving average translates) or "optional" (a
    discriminator: it starts fresh when no file gives it).
  attr: the state's field that holds it ("params"; "ema" for moving averages).
  path: where its variables are in the state's `attr` / `batch_stats` (default:
    (name,)).
  entry: the key of its state_dict in a file that holds several (e.g. "a" in
    MUNIT's {"a": gen_a, "b": gen_b}); None for a file of one state_dict.
  extra_buffers: official buffers the network does not use here ({key: value},
    e.g. MUNIT's AdaIN running statistics): ignored when read, written with
    these values.
  to_torch, from_torch: instead of `layers`, the family's own mapping:
    `to_torch(variables) -> {official key: array}` and `from_torch(state_dict,
    like) -> {"params", "batch_stats"}` (`like`: the network's fresh variables) (e.g. U-GAT-IT's spectral norms).
  file_values: `file_values(step) -> {name: int}`, plain counts the official file
    holds beside the state_dicts (DRIT++'s "ep" and "total_it").
  key_prefix: written before every key (e.g. "module." where the official code saves
    and loads DataParallel wrappers); read with or without it.
  """
  name: str
  files: tuple
  save_as: str
  layers: Any
  role: str = "optional"
  attr: str = "params"
  path: tuple = ()
  entry: str | None = None
  extra_buffers: dict = dataclasses.field(default_factory=dict)
  to_torch: Callable | None = None
  from_torch: Callable | None = None
  file_values: Callable | None = None
  key_prefix: str = ""


@dataclasses.dataclass(frozen=True)
class Grid:
  """A sample grid: lines of equally sized uint8 [H, W, C] images, with their labels.

  `row_labels` names each line, `col_labels` (optional) each column; the
  train loop renders them around the images (`data.images.render_grid`).
  """
  lines: list
  row_labels: list
  col_labels: list | None = None


@dataclasses.dataclass(frozen=True)
class ModelSpec:
  """Everything the shared code needs of one model.

  name: the `config.model_name`.
  data_kind: a `DataKind`.
  validate_config(config): raises ValueError naming the key of any bad value,
    before any data is read or anything compiled.
  make_examples(config, split, seed=None) -> (example fn, dataset size,
    image shapes): `example(i)` is the i-th example of `split` as a dict of
    numpy arrays; image shapes {batch key: (H, W, C)}.
  image_shapes(config) -> {batch key: (H, W, C)} without reading data (for
    restoring a checkpoint).
  create_state(config, key, image_shapes, dataset_size) -> state (a
    flax.struct dataclass with a `step`).
  make_train_step(config, dataset_size) -> pure `(state, batch, rng) ->
    (state, metrics)`; the step folds `state.step` into `rng`.
  make_sample_fn(config) -> `(state, batch, rng) -> {name: images}`.
  sample_grids(config, images) -> {grid name: Grid} of the host copy of one
    sampling.
  translator(config, request) -> Translator; `request` already passed
    `check_request`.
  translate_options: the `TranslateRequest` fields the model takes.
  directions: the values `request.direction` may take.
  multimodal: one input has many translations (styles, latents).
  input_multiple(config): image sides the networks accept are multiples of it.
  translate_example: the options of a typical `translate` call, for the
    closing line of a run.
  step_phase(config, step, dataset_size) -> hashable, or None: a static phase
    of iteration `step` (e.g. whether the generator updates in this iteration;
    DRIT++'s depends on the position in the epoch). The loop
    then compiles the step once per phase, passing the value as the step's
    `phase=` keyword (`loop.compile_model`, `loop.phase_args`); the step must
    also work without it (traced, e.g. with `lax.cond`, which XLA:CPU runs
    several times slower than a static branch).
  evaluate(config, state, split) -> {"tasks": {name: {"model": {metric:
    value}, "baseline_input": {...}, ...}}, "mean": {...}}, or None: the
    model's own evaluation, replacing its data kind's tasks in
    `evaluate_workdir` (HomoInterpGAN's interpolation strengths).
  init_files: the config keys ("section.name") of weight files that
    `create_state` reads only to initialise a fresh state (HomoInterpGAN's
    VGG19 and decoder files). A restored state does not need them, so the
    shape templates for restoring are built without them
    (`checkpoint.template_config`): a run resumes, evaluates and translates
    after such a file is moved.
  torch_networks(config) -> [TorchNetwork], or None: the model's networks in
    the official PyTorch checkpoint layout (`python -m i2ijax.convert`).
  """
  name: str
  data_kind: DataKind
  validate_config: Callable
  make_examples: Callable
  image_shapes: Callable
  create_state: Callable
  make_train_step: Callable
  make_sample_fn: Callable
  sample_grids: Callable
  translator: Callable
  translate_options: frozenset = frozenset({"direction", "train_mode"})
  directions: tuple = ("AtoB",)
  multimodal: bool = False
  input_multiple: Callable = lambda config: 1
  translate_example: str = "--direction=AtoB"
  step_phase: Callable | None = None
  torch_networks: Callable | None = None
  evaluate: Callable | None = None
  init_files: tuple = ()


# One line per model: config.model_name -> "module:attribute" of its ModelSpec.
MODELS = {
    "cyclegan": "i2ijax.train.cyclegan:SPEC",
    "pix2pix": "i2ijax.train.pix2pix:SPEC",
    "stargan": "i2ijax.train.stargan:SPEC",
    "stargan_v2": "i2ijax.train.stargan_v2:SPEC",
    "homointerp": "i2ijax.train.homointerp:SPEC",
    "munit": "i2ijax.train.munit:MUNIT_SPEC",
    "unit": "i2ijax.train.munit:UNIT_SPEC",
    "ugatit": "i2ijax.train.ugatit:SPEC",
    "drit": "i2ijax.train.drit:SPEC",
    "discogan": "i2ijax.train.discogan:SPEC",
    "dualgan": "i2ijax.train.dualgan:SPEC",
    "fader": "i2ijax.train.fader:SPEC",
    "icgan": "i2ijax.train.icgan:SPEC",
    "face_age": "i2ijax.train.face_age:SPEC",
    "genegan": "i2ijax.train.genegan:SPEC",
    "dtn": "i2ijax.train.dtn:SPEC",
}


def get(name: str) -> ModelSpec:
  """The spec of `config.model_name` = `name`; ValueError lists the known names."""
  if name not in MODELS:
    raise ValueError(f"config.model_name={name!r} is not a known model; valid: {sorted(MODELS)}")
  module, attr = MODELS[name].split(":")
  return getattr(importlib.import_module(module), attr)


def check_request(spec: ModelSpec, request: TranslateRequest) -> None:
  """ValueError naming each option of `request` that `spec`'s model does not take."""
  default = TranslateRequest()
  for field in dataclasses.fields(TranslateRequest):
    value = getattr(request, field.name)
    if field.name not in spec.translate_options and value != getattr(default, field.name):
      raise ValueError(f"{spec.name} does not take {_FLAG[field.name]} (got {value!r}); its "
                       f"options: {sorted(_FLAG[f] for f in spec.translate_options)}")
  if "direction" in spec.translate_options and request.direction not in spec.directions:
    raise ValueError(f"direction must be one of {list(spec.directions)} for {spec.name}, got "
                     f"{request.direction!r}")
  if request.num_styles < 1:
    raise ValueError(f"num_styles must be >= 1, got {request.num_styles}")


def rows_grid(images: dict, rows, row_names=None, col_names=None) -> Grid:
  """A `Grid` with one line per (row, example): the named images of `rows` side by side.

  images: {name: float [N, H, W, C] in [-1, 1] or uint8}; rows: tuples of
  image names; row_names: a label per row (default: its names joined),
  suffixed with the example index; col_names: one label per column.
  """
  from i2ijax.data.images import to_uint8
  names = {name for row in rows for name in row}
  images = {k: to_uint8(np.asarray(v)) for k, v in images.items() if k in names}
  n = images[rows[0][0]].shape[0]
  row_names = row_names or [" | ".join(row) for row in rows]
  lines, labels = [], []
  for row, label in zip(rows, row_names):
    for i in range(n):
      lines.append([images[name][i] for name in row])
      labels.append(f"{label} #{i}")
  return Grid(lines, labels, list(col_names) if col_names else None)


def block_grid(block, row_labels, col_labels) -> Grid:
  """A `Grid` of a [rows, cols, H, W, C] block of images in [-1, 1] (or uint8)."""
  from i2ijax.data.images import to_uint8
  block = to_uint8(np.asarray(block))
  return Grid([list(line) for line in block], list(row_labels), list(col_labels))

