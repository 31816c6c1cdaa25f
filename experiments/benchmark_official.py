"""Times the official PyTorch train step (set_input + optimize_parameters) of a local checkout.

python experiments/benchmark_official.py --official_repo=DIR --model=cyclegan|pix2pix
    [--size=256] [--batch=1] [--steps=10] [--warmup=3]

DIR is a checkout of junyanz/pytorch-CycleGAN-and-pix2pix kept outside this
repository (nothing of it is copied here); run this with a Python that has
torch. The model is built from the official option parser's defaults for
`--model` (as `train.py` would, plus --crop_size/--load_size = size and
--batch_size), on CUDA when available, else on the CPU with one thread per
core. Prints `pairs_per_s=X` (batch / median step time) and the step times.
"""

import argparse
import importlib
import os
import statistics
import sys
import tempfile
import time
import types


def main():
  p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  p.add_argument("--official_repo", required=True)
  p.add_argument("--model", default="cyclegan", choices=["cyclegan", "pix2pix"])
  p.add_argument("--size", type=int, default=256)
  p.add_argument("--batch", type=int, default=1)
  p.add_argument("--steps", type=int, default=10)
  p.add_argument("--warmup", type=int, default=3)
  args = p.parse_args()

  import torch
  sys.path.insert(0, os.path.abspath(args.official_repo))
  if importlib.util.find_spec("data") is None:  # only the models are needed
    sys.modules["data"] = types.ModuleType("data")
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
  cuda = torch.cuda.is_available()
  opt.device = torch.device("cuda:0" if cuda else "cpu")
  opt.gpu_ids = [0] if cuda else []
  if not cuda:
    torch.set_num_threads(os.cpu_count() or 1)
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
    if cuda:
      torch.cuda.synchronize()
    t = time.perf_counter()
    model.set_input(data)
    model.optimize_parameters()
    if cuda:
      torch.cuda.synchronize()
    if i >= args.warmup:
      times.append(time.perf_counter() - t)
  device = torch.cuda.get_device_name(0) if cuda else f"cpu x {torch.get_num_threads()} threads"
  print(f"torch {torch.__version__} on {device}; step_s=" + ",".join(f"{t:.4f}" for t in times))
  print(f"pairs_per_s={args.batch / statistics.median(times):.6f}")


if __name__ == "__main__":
  main()
