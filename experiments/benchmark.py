"""Steady-state train-step throughput, compile time, memory and MFU; one table.

python experiments/benchmark.py [--models=cyclegan,pix2pix] [--sizes=256] [--batches=1]
    [--dtypes=float32,bfloat16] [--devices=1,2,4,8] [--steps=10] [--warmup=3]
    [--peak_tflops=X] [--set key=value ...] [--official_repo=DIR]

For every combination it builds the model's paper-default config (fields can
be overridden with --set, e.g. --set model.remat=True; they apply to ours
only, so compare with the official code at the defaults), compiles the sharded
train step exactly as the train loop does (state replicated, batch split over
a 'data' mesh of the first N devices), and reports:
  pairs/s     image pairs per second: batch / median step time over --steps
              timed steps after --warmup untimed ones (random images in [-1, 1]);
  compile_s   lowering + compilation of the step;
  GFLOP/step  analytic count: 2 x multiply-accumulates of every convolution
              and matrix product in the step's jaxpr (forward and backward,
              all networks), from their shapes; XLA's estimate is printed beside it;
  MFU         GFLOP/step x steps/s / (devices x peak), the peak from
              --peak_tflops or the table below (dense tensor-core numbers;
              float32 matmuls/convs run as TF32 on NVIDIA GPUs);
  peak_mem    the device's peak bytes in use (accelerators), else the host
              process's peak resident set size.
With --official_repo (a checkout of junyanz/pytorch-CycleGAN-and-pix2pix kept
outside this repository) the official step is timed in the same run by
experiments/benchmark_official.py (with --official_python, a Python that has
torch) and the ratio ours / official is printed.
"""

import argparse
import importlib.util
import itertools
import os
import resource
import statistics
import subprocess
import sys
import time

import jax
import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from i2ijax.models.layers import stock_convolutions  # noqa: E402
from i2ijax import registry  # noqa: E402
from i2ijax.train.loop import StateShardings, compile_model, make_mesh  # noqa: E402

# Dense peak FLOP/s of one device: (substring of device_kind, {compute dtype: FLOP/s}).
PEAK_FLOPS = (
    ("H100", {"bfloat16": 989e12, "float32": 494.7e12}),  # SXM
    ("H200", {"bfloat16": 989e12, "float32": 494.7e12}),
    ("A100", {"bfloat16": 312e12, "float32": 156e12}),
    ("TPU v4", {"bfloat16": 275e12, "float32": 275e12}),
    ("TPU v5 lite", {"bfloat16": 197e12, "float32": 197e12}),
    ("TPU v5p", {"bfloat16": 459e12, "float32": 459e12}),
)


def load_config(name: str, overrides: list[str]):
  """configs/<name>.py's default config with `key=value` overrides (typed like the old value)."""
  spec = importlib.util.spec_from_file_location("bench_config",
                                                os.path.join(ROOT, "configs", f"{name}.py"))
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  config = module.get_config(None)
  for item in overrides:
    key, _, value = item.partition("=")
    *parents, leaf = key.split(".")
    node = config
    for p in parents:
      node = node[p]
    old = node[leaf]
    node[leaf] = value.lower() in ("1", "true") if isinstance(old, bool) else type(old)(value)
  return config


def _subjaxprs(eqn):
  for value in eqn.params.values():
    for v in value if isinstance(value, (list, tuple)) else [value]:
      if hasattr(v, "jaxpr") and hasattr(v.jaxpr, "eqns"):  # ClosedJaxpr
        yield v.jaxpr
      elif hasattr(v, "eqns"):  # Jaxpr
        yield v


def conv_and_matmul_flops(jaxpr) -> float:
  """2 x multiply-accumulates of every conv_general_dilated and dot_general, recursively."""
  total = 0.0
  for eqn in jaxpr.eqns:
    name = eqn.primitive.name
    if name == "conv_general_dilated":
      kernel = eqn.invars[1].aval.shape
      dn = eqn.params["dimension_numbers"]
      in_per_group = kernel[dn.rhs_spec[1]]
      window = int(np.prod([kernel[d] for d in dn.rhs_spec[2:]]))
      total += 2.0 * np.prod(eqn.outvars[0].aval.shape) * in_per_group * window
    elif name == "dot_general":
      (contracting, _), _ = eqn.params["dimension_numbers"]
      lhs = eqn.invars[0].aval.shape
      total += 2.0 * np.prod(eqn.outvars[0].aval.shape) * np.prod([lhs[d] for d in contracting])
    for sub in _subjaxprs(eqn):
      total += conv_and_matmul_flops(sub)
  return total


def peak_flops(device, dtype: str, override_tflops: float | None):
  if override_tflops:
    return override_tflops * 1e12
  for key, table in PEAK_FLOPS:
    if key in device.device_kind:
      return table[dtype]
  return None


def peak_memory(device) -> tuple[float, str]:
  """(GiB, what was measured): the device's peak bytes in use, else the host's peak RSS."""
  stats = device.memory_stats() if hasattr(device, "memory_stats") else None
  if stats and "peak_bytes_in_use" in stats:
    return stats["peak_bytes_in_use"] / 2**30, "device"
  return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20, "host"


def bench_one(model_name, size, batch, dtype, n_devices, args) -> dict:
  config = load_config(model_name, args.set)
  config.model.dtype = dtype
  config.batch_size = batch
  model = registry.get(config.model_name)
  if size % model.input_multiple(config):
    raise SystemExit(f"--sizes: {size} is not a multiple of {model.input_multiple(config)} "
                     f"for {config.model.netG}")
  config.data.load_size = config.data.crop_size = size
  shapes = {"A": (size, size, config.data.input_nc), "B": (size, size, config.data.output_nc)}
  dataset_size = 1000
  shardings = StateShardings(make_mesh(jax.devices()[:n_devices]))
  init, step, _ = compile_model(config, model, dataset_size, shapes, shardings)
  state = init(jax.random.key(0))
  rng = np.random.default_rng(0)

  def make_batch():
    return shardings.global_batch(
        {k: rng.uniform(-1, 1, (batch, *s)).astype(np.float32) for k, s in shapes.items()})

  key = jax.jit(lambda: jax.random.key(1), out_shardings=shardings.replicated)()
  example = make_batch()
  t0 = time.perf_counter()
  compiled = step.lower(state, example, key).compile()
  compile_s = time.perf_counter() - t0
  with stock_convolutions():  # the model's convolutions, not the CPU backward formulation
    jaxpr = jax.make_jaxpr(model.make_train_step(config, dataset_size))(state, example, key)
  flops = conv_and_matmul_flops(jaxpr.jaxpr)
  cost = compiled.cost_analysis()
  cost = cost[0] if isinstance(cost, (list, tuple)) else cost
  xla_flops = float(cost.get("flops", float("nan"))) if cost else float("nan")
  times = []
  for i in range(args.warmup + args.steps):
    b = make_batch()
    jax.block_until_ready(b)
    t = time.perf_counter()
    state, metrics = compiled(state, b, key)
    jax.block_until_ready((state, metrics))
    if i >= args.warmup:
      times.append(time.perf_counter() - t)
  step_s = statistics.median(times)
  peak = peak_flops(jax.devices()[0], dtype, args.peak_tflops)
  mem, mem_kind = peak_memory(jax.devices()[0])
  return {"step_s": step_s, "pairs_s": batch / step_s, "compile_s": compile_s,
          "gflop": flops / 1e9, "xla_gflop": xla_flops / 1e9,
          "mfu": flops / step_s / (peak * n_devices) if peak else None,
          "mem_gib": mem, "mem_kind": mem_kind}


def official_pairs_per_s(args, model_name, size, batch) -> float | None:
  """Pairs/s of the official code, timed by experiments/benchmark_official.py; None without it."""
  if not args.official_repo:
    return None
  cmd = [args.official_python or sys.executable,
         os.path.join(ROOT, "experiments", "benchmark_official.py"),
         f"--official_repo={args.official_repo}", f"--model={model_name}", f"--size={size}",
         f"--batch={batch}", f"--steps={args.steps}", f"--warmup={args.warmup}"]
  out = subprocess.run(cmd, capture_output=True, text=True)
  if out.returncode:
    print(out.stderr[-2000:], file=sys.stderr)
    return None
  return float([l for l in out.stdout.splitlines() if l.startswith("pairs_per_s=")][-1][12:])


def main():
  p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  p.add_argument("--models", default="cyclegan,pix2pix")
  p.add_argument("--sizes", default="256")
  p.add_argument("--batches", default="1")
  p.add_argument("--dtypes", default="float32")
  p.add_argument("--devices", default=None, help="device counts, e.g. 1,2,4,8 (default: all)")
  p.add_argument("--steps", type=int, default=10)
  p.add_argument("--warmup", type=int, default=3)
  p.add_argument("--peak_tflops", type=float, default=None, help="peak of one device")
  p.add_argument("--set", action="append", default=[], help="config override key=value")
  p.add_argument("--official_repo", default=None)
  p.add_argument("--official_python", default=None)
  args = p.parse_args()
  device_counts = [int(n) for n in args.devices.split(",")] if args.devices else [jax.device_count()]
  dev = jax.devices()[0]
  print(f"JAX {jax.__version__}, {jax.device_count()} x {dev.device_kind} ({dev.platform})")
  print(f"{'model':9s} {'size':>4s} {'batch':>5s} {'dtype':>8s} {'dev':>3s} {'pairs/s':>9s} "
        f"{'step_ms':>9s} {'compile_s':>9s} {'GFLOP/step':>10s} {'XLA_GFLOP':>10s} {'MFU':>6s} "
        f"{'peak_mem':>15s} {'official':>9s} {'ratio':>6s}")
  for model_name in args.models.split(","):
    for size in map(int, args.sizes.split(",")):
      for batch in map(int, args.batches.split(",")):
        for dtype, n_devices in itertools.product(args.dtypes.split(","), device_counts):
          r = bench_one(model_name, size, batch, dtype, n_devices, args)
          ref = (official_pairs_per_s(args, model_name, size, batch)
                 if dtype == "float32" and n_devices == device_counts[0] else None)
          mfu = f"{100 * r['mfu']:.1f}%" if r["mfu"] is not None else "n/a"
          ref_s, ratio = (f"{ref:.3f}", f"{r['pairs_s'] / ref:.2f}") if ref else ("n/a", "n/a")
          print(f"{model_name:9s} {size:4d} {batch:5d} {dtype:>8s} {n_devices:3d} "
                f"{r['pairs_s']:9.3f} {1e3 * r['step_s']:9.1f} {r['compile_s']:9.1f} "
                f"{r['gflop']:10.1f} {r['xla_gflop']:10.1f} {mfu:>6s} "
                f"{r['mem_gib']:6.2f} GiB {r['mem_kind']:>4s} {ref_s:>9s} {ratio:>6s}", flush=True)


if __name__ == "__main__":
  main()
