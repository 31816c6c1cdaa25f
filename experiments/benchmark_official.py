"""Times one official PyTorch training iteration of a local checkout, on random inputs.

python experiments/benchmark_official.py --official_repo=DIR --model=NAME
    [--size=256] [--batch=1] [--steps=10] [--warmup=3]

Run it with a Python that has torch. DIR is the official checkout of NAME,
kept outside this repository (nothing of it is copied here):
  cyclegan, pix2pix  junyanz/pytorch-CycleGAN-and-pix2pix. The model is built
                     from the official option parser's defaults for `--model`
                     (as `train.py` would, plus --crop_size/--load_size = size
                     and --batch_size); one iteration is `set_input` +
                     `optimize_parameters`.
  stargan_v2         clovaai/stargan-v2. `main.py` itself runs, with the
                     README's AFHQ training arguments (--num_domains 3
                     --w_hpf 0 --lambda_reg 1 --lambda_sty 1 --lambda_ds 2
                     --lambda_cyc 1; main.py's defaults otherwise) plus
                     --img_size = size, --batch_size and --total_iters; one
                     iteration is one pass of `Solver.train`'s loop (two
                     discriminator and two generator updates, latent- and
                     reference-guided, and the moving averages), timed from
                     the end of one batch fetch to the start of the next.
  munit, unit        NVlabs/MUNIT for munit, mingyuliutw/UNIT for unit (its
                     train.py and trainer.py are those of the MUNIT repo).
                     `train.py --trainer MUNIT|UNIT` itself runs, with
                     configs/edges2handbags_folder.yaml (munit) or
                     configs/unit_edges2handbags_folder.yaml (unit) and
                     new_size = crop = size, batch_size and max_iter set; one
                     iteration is the region train.py times itself
                     (`dis_update` + `gen_update`).
  ugatit             znxlwm/UGATIT-pytorch. `UGATIT.build_model()` and
                     `UGATIT.train()` run with `main.py`'s defaults (the full
                     generator) plus --img_size = size, --batch_size and
                     --iteration; one iteration is one pass of the train
                     loop (discriminator update, generator update, rho
                     clipping), timed between the loop's per-iteration prints.
Only what feeds the training loop is replaced: the data loaders yield uniform
[-1, 1] images (and uniform domain labels; the latent codes and random styles
are drawn by the official code, or by its fetcher's rules); imports the
training step does not use and this Python lacks (torchvision, tensorboardX,
tqdm, ffmpeg, cv2, skimage, `torch.utils.serialization.load_lua`) are inert
stand-ins; the repos' data-loading and metric modules are never imported.
Runs on CUDA when available, else on the CPU with one thread per core, where
the official code's `.cuda()` calls become no-ops. Needs torch, numpy, pyyaml
(MUNIT, UNIT) and munch (StarGAN v2). Prints `pairs_per_s=X` (batch / median
iteration time; for StarGAN v2 the batch is of source images) and the times.
"""

import argparse
import importlib
import importlib.util
import os
import runpy
import statistics
import sys
import tempfile
import time
import types

MODELS = ("cyclegan", "pix2pix", "stargan_v2", "munit", "unit", "ugatit")


class _Inert:
  """Stands for anything of a module this Python lacks: attributes and calls give more of it."""

  def __init__(self, *args, **kwargs):
    del args, kwargs

  def __getattr__(self, name):
    return _Inert()

  def __call__(self, *args, **kwargs):
    return _Inert()


class _InertModule(types.ModuleType):
  """A module whose every public attribute is `_Inert`."""

  def __getattr__(self, name):
    if name.startswith("__"):
      raise AttributeError(name)
    return _Inert


def _install(name: str, module=None, **attrs):
  """Puts `module` (default: an inert module) in sys.modules as `name`, with `attrs`."""
  module = module or _InertModule(name)
  for key, value in attrs.items():
    setattr(module, key, value)
  sys.modules[name] = module
  parent, _, child = name.rpartition(".")
  if parent in sys.modules:
    setattr(sys.modules[parent], child, module)
  return module


def _stand_in_if_missing(*names):
  """Inert modules for `names` (dotted submodules included) whose top package is not installed."""
  tops = {name.split(".")[0] for name in names}
  missing = {top for top in tops
             if top not in sys.modules and importlib.util.find_spec(top) is None}
  for name in names:
    if name.split(".")[0] in missing:
      _install(name)


class Clock:
  """Device-synchronised wall time."""

  def __init__(self, torch, cuda: bool):
    self.torch, self.cuda = torch, cuda

  def __call__(self) -> float:
    if self.cuda:
      self.torch.cuda.synchronize()
    return time.perf_counter()


def time_junyanz(args, torch, cuda, clock):
  """Iteration times of the CycleGAN / pix2pix model: set_input + optimize_parameters."""
  if importlib.util.find_spec("data") is None:  # only the models are needed
    _install("data")
  from options.train_options import TrainOptions
  name = {"cyclegan": "cycle_gan", "pix2pix": "pix2pix"}[args.model]
  model_class = getattr(importlib.import_module(f"models.{name}_model"),
                        {"cyclegan": "CycleGANModel", "pix2pix": "Pix2PixModel"}[args.model])
  parser = TrainOptions().initialize(argparse.ArgumentParser())
  parser = model_class.modify_commandline_options(parser, True)
  opt = parser.parse_args(["--dataroot", "unused", "--checkpoints_dir", tempfile.mkdtemp(),
                           "--model", name, "--crop_size", str(args.size), "--load_size",
                           str(args.size), "--batch_size", str(args.batch)])
  opt.isTrain = True
  opt.device = torch.device("cuda:0" if cuda else "cpu")
  opt.gpu_ids = [0] if cuda else []
  torch.manual_seed(0)
  model = model_class(opt)
  model.setup(opt)

  def batch():
    shape = (args.batch, 3, args.size, args.size)
    return {"A": torch.rand(shape) * 2 - 1, "B": torch.rand(shape) * 2 - 1,
            "A_paths": ["a"] * args.batch, "B_paths": ["b"] * args.batch}

  times = []
  for i in range(args.warmup + args.steps):
    data = batch()
    t = clock()
    model.set_input(data)
    model.optimize_parameters()
    if i >= args.warmup:
      times.append(clock() - t)
  return times


STARGAN_V2_AFHQ = ["--num_domains", "3", "--w_hpf", "0", "--lambda_reg", "1", "--lambda_sty", "1",
                   "--lambda_ds", "2", "--lambda_cyc", "1"]


def time_stargan_v2(args, torch, cuda, clock):
  """Iteration times of `main.py --mode train` (AFHQ arguments) fed random batches.

  The official `InputFetcher` is replaced by one that yields the same fields
  (x_src, y_src, x_ref, x_ref2, y_ref, z_trg, z_trg2 on the device): images
  uniform in [-1, 1], labels uniform over the domains, latents standard
  normal. It stamps the clock when asked for a batch and when the batch is
  ready, so an iteration is the time between handing one batch over and
  being asked for the next.
  """
  from munch import Munch
  num_domains = int(STARGAN_V2_AFHQ[STARGAN_V2_AFHQ.index("--num_domains") + 1])
  device = torch.device("cuda" if cuda else "cpu")
  stamps = []  # (asked, handed over) per training batch

  class RandomFetcher:
    def __init__(self, loader, loader_ref=None, latent_dim=16, mode=""):
      del loader, loader_ref
      self.latent_dim, self.mode = latent_dim, mode

    def __next__(self):
      asked = clock()
      n, s = args.batch, args.size
      image = lambda: torch.rand(n, 3, s, s) * 2 - 1
      label = lambda: torch.randint(0, num_domains, (n,))
      inputs = {"x_src": image(), "y_src": label(), "x_ref": image(), "y_ref": label()}
      if self.mode == "train":
        inputs.update(x_ref2=image(), z_trg=torch.randn(n, self.latent_dim),
                      z_trg2=torch.randn(n, self.latent_dim))
      inputs = Munch({k: v.to(device) for k, v in inputs.items()})
      if self.mode == "train":
        stamps.append((asked, clock()))
      return inputs

  _install("core.data_loader", InputFetcher=RandomFetcher, get_train_loader=lambda **kw: None,
           get_test_loader=lambda **kw: None)
  _install("metrics.eval", calculate_metrics=lambda *a, **kw: None)
  _stand_in_if_missing("torchvision", "torchvision.utils", "tqdm", "ffmpeg", "cv2", "skimage",
                       "skimage.filters")
  work = tempfile.mkdtemp()
  for split in ("train", "val"):
    for d in range(num_domains):
      os.makedirs(os.path.join(work, split, f"domain{d}"))
  never = str(10**9)
  argv = ["--mode", "train", *STARGAN_V2_AFHQ, "--img_size", str(args.size),
          "--batch_size", str(args.batch), "--total_iters", str(args.warmup + args.steps + 1),
          "--train_img_dir", os.path.join(work, "train"),
          "--val_img_dir", os.path.join(work, "val"),
          "--sample_every", never, "--save_every", never, "--eval_every", never]
  for key in ("checkpoint_dir", "sample_dir", "eval_dir", "result_dir"):
    argv += [f"--{key}", os.path.join(work, key)]
  sys.argv = [os.path.join(args.official_repo, "main.py"), *argv]
  runpy.run_path(sys.argv[0], run_name="__main__")
  gaps = [stamps[i + 1][0] - stamps[i][1] for i in range(len(stamps) - 1)]
  return gaps[args.warmup:]


MUNIT_CONFIGS = {"munit": ("MUNIT", "edges2handbags_folder.yaml"),
                 "unit": ("UNIT", "unit_edges2handbags_folder.yaml")}


def time_munit_family(args, torch, cuda, clock):
  """Iteration times of `train.py --trainer MUNIT|UNIT` with the edges2handbags config.

  The data loaders yield uniform [-1, 1] images; train.py's own `Timer`
  (around dis_update + gen_update + synchronize) records each iteration.
  """
  import yaml
  trainer, config_name = MUNIT_CONFIGS[args.model]
  config_path = os.path.join(args.official_repo, "configs", config_name)
  if not os.path.exists(config_path):
    raise SystemExit(f"{config_path} not found: --model={args.model} needs the "
                     f"{'NVlabs/MUNIT' if args.model == 'munit' else 'mingyuliutw/UNIT'} checkout")
  with open(config_path) as f:
    config = yaml.safe_load(f)
  config.update(batch_size=args.batch, new_size=args.size, crop_image_height=args.size,
                crop_image_width=args.size, max_iter=args.warmup + args.steps)

  def image():
    return torch.rand(3, args.size, args.size) * 2 - 1

  class RandomImages:
    def __getitem__(self, i):
      return image()

  class RandomLoader:
    """Endless batches of random images; `dataset[i]` is one image (for the display grids)."""

    def __init__(self):
      self.dataset = RandomImages()

    def __iter__(self):
      while True:
        yield torch.stack([image() for _ in range(args.batch)])

  times = []

  class IterationTimer:
    def __init__(self, msg):
      del msg

    def __enter__(self):
      self.start = clock()

    def __exit__(self, *exc):
      times.append(clock() - self.start)

  _install("data")  # the repo's data.py: image folders and lists only
  _stand_in_if_missing("torchvision", "torchvision.utils", "torchvision.transforms",
                       "torchvision.models", "tensorboardX")
  try:  # utils.py imports load_lua (Lua Torch VGG weights), which torch no longer has
    serialization = importlib.import_module("torch.utils.serialization")
  except ImportError:
    serialization = _install("torch.utils.serialization")
  if not hasattr(serialization, "load_lua"):
    serialization.load_lua = _Inert
  if not cuda:
    torch.Tensor.cuda = lambda self, *a, **kw: self
    torch.nn.Module.cuda = lambda self, *a, **kw: self
    torch.cuda.synchronize = lambda *a, **kw: None
  utils = importlib.import_module("utils")
  utils.get_config = lambda path: dict(config)
  utils.get_all_data_loaders = lambda conf: tuple(RandomLoader() for _ in range(4))
  utils.Timer = IterationTimer
  work = tempfile.mkdtemp()
  sys.argv = [os.path.join(args.official_repo, "train.py"), "--config", config_path,
              "--output_path", work, "--trainer", trainer]
  try:
    runpy.run_path(sys.argv[0], run_name="__main__")
  except SystemExit as e:  # train.py ends with sys.exit('Finish training')
    if str(e.code) != "Finish training":
      raise
  return times[args.warmup:]


def time_ugatit(args, torch, cuda, clock):
  """Iteration times of `UGATIT.train`: its loaders yield uniform [-1, 1] images (through
  iterators with the `.next()` the loop calls); its per-iteration print marks the time."""
  _stand_in_if_missing("cv2", "scipy", "scipy.misc", "torchvision", "torchvision.transforms")
  _install("dataset", ImageFolder=lambda root, transform=None: root)
  if not cuda:
    torch.Tensor.cuda = lambda self, *a, **kw: self
    torch.nn.Module.cuda = lambda self, *a, **kw: self
  official = importlib.import_module("UGATIT")
  official_main = importlib.import_module("main")

  class Batches:
    def next(self):
      return torch.rand(args.batch, 3, args.size, args.size) * 2 - 1, 0

    __next__ = next

  class Loader:
    def __iter__(self):
      return Batches()

  official.DataLoader = lambda *a, **k: Loader()
  marks = []
  official.print = lambda *a, **k: marks.append(clock())
  sys.argv = ["main.py", "--result_dir", tempfile.mkdtemp(), "--img_size", str(args.size),
              "--batch_size", str(args.batch), "--iteration", str(args.warmup + args.steps),
              "--device", "cuda" if cuda else "cpu", "--print_freq", "1000000",
              "--save_freq", "1000000"]
  hp = official_main.parse_args()
  torch.manual_seed(0)
  gan = official.UGATIT(hp)
  gan.build_model()
  marks.clear()  # from here on one print per iteration, after its update
  start = clock()
  gan.train()
  marks = [start] + marks[1:]  # "training start !", then one mark per iteration
  times = [b - a for a, b in zip(marks, marks[1:])]
  return times[args.warmup:]


def main():
  p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  p.add_argument("--official_repo", required=True)
  p.add_argument("--model", default="cyclegan", choices=MODELS)
  p.add_argument("--size", type=int, default=256)
  p.add_argument("--batch", type=int, default=1)
  p.add_argument("--steps", type=int, default=10)
  p.add_argument("--warmup", type=int, default=3)
  args = p.parse_args()
  args.official_repo = os.path.abspath(args.official_repo)

  import torch
  sys.path.insert(0, args.official_repo)
  cuda = torch.cuda.is_available()
  if not cuda:
    torch.set_num_threads(os.cpu_count() or 1)
  clock = Clock(torch, cuda)
  timer = {"cyclegan": time_junyanz, "pix2pix": time_junyanz, "stargan_v2": time_stargan_v2,
           "munit": time_munit_family, "unit": time_munit_family, "ugatit": time_ugatit}[args.model]
  times = timer(args, torch, cuda, clock)
  if len(times) != args.steps:
    raise SystemExit(f"timed {len(times)} iterations, expected {args.steps}")
  device = torch.cuda.get_device_name(0) if cuda else f"cpu x {torch.get_num_threads()} threads"
  print(f"torch {torch.__version__} on {device}; step_s=" + ",".join(f"{t:.4f}" for t in times))
  print(f"pairs_per_s={args.batch / statistics.median(times):.6f}")


if __name__ == "__main__":
  main()
