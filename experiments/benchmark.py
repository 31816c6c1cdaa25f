"""Steady-state train-step throughput, compile time, memory and MFU; one table.

python experiments/benchmark.py [--models=cyclegan,pix2pix,stargan_v2,munit,unit] [--sizes=256]
    [--batches=1] [--dtypes=float32,bfloat16] [--devices=1,2,4,8] [--steps=10] [--warmup=3]
    [--peak_tflops=X] [--set [MODEL:]key=value ...] [--official_repo=DIR | MODEL=DIR,...]
    [--official_python=PYTHON]

For every combination it builds the model's paper-default config
(configs/<model>.py; fields can be overridden with --set, e.g. --set
model.remat=True for every model or --set pix2pix:model.netG=unet_128 for one;
they apply to ours only, so compare with the official code at the defaults),
sets its image size and batch size, compiles the sharded train step exactly as
the train loop does (state replicated, batch split over a 'data' mesh of the
first N devices) and feeds it random batches in the model's layout (its
`registry` spec's image shapes, uniform in [-1, 1]; multi-domain models also
get int32 domain labels uniform in [0, num_domains)). A size the model cannot
take (not a multiple of its `input_multiple`, or refused by its
`validate_config`) gives a "skipped" row. It reports:
  pairs/s     images per second of one batch key (image pairs for the two-domain
              and paired models, source images for StarGAN v2): batch / median
              step time over --steps timed steps after --warmup untimed ones;
  compile_s   lowering + compilation of the step;
  GFLOP/step  analytic count: 2 x multiply-accumulates of every convolution
              and matrix product in the step's jaxpr (forward and backward,
              all networks), from their shapes; XLA's estimate is printed beside it;
  MFU         GFLOP/step x steps/s / (devices x peak), the peak from
              --peak_tflops or the table below (dense tensor-core numbers;
              float32 matmuls/convs run as TF32 on NVIDIA GPUs);
  peak_mem    the device's peak bytes in use (accelerators), else the host
              process's peak resident set size.
With --official_repo the official training iteration of each model that has a
checkout is timed in the same run by experiments/benchmark_official.py (run by
--official_python, a Python that has torch; see that file for what one
official iteration is), at the same size and batch, and the ratio
ours / official is printed (float32 rows on the first device count only).
The checkouts are kept outside this repository. --official_repo is either
  MODEL=DIR,...  one checkout per model, e.g. cyclegan=D1,pix2pix=D1,
                 stargan_v2=D2,munit=D3,unit=D4; or
  DIR            a checkout itself, or a directory holding checkouts under the
                 names of OFFICIAL below (pytorch-CycleGAN-and-pix2pix,
                 stargan-v2, MUNIT, UNIT, UGATIT-pytorch); each model takes the
                 one that has its identifying file.
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

from i2ijax import registry  # noqa: E402
from i2ijax.ops import stock_convolutions  # noqa: E402
from i2ijax.train.loop import StateShardings, compile_model, make_mesh, phase_args  # noqa: E402

# Dense peak FLOP/s of one device: (substring of device_kind, {compute dtype: FLOP/s}).
PEAK_FLOPS = (
    ("H100", {"bfloat16": 989e12, "float32": 494.7e12}),  # SXM
    ("H200", {"bfloat16": 989e12, "float32": 494.7e12}),
    ("A100", {"bfloat16": 312e12, "float32": 156e12}),
    ("TPU v4", {"bfloat16": 275e12, "float32": 275e12}),
    ("TPU v5 lite", {"bfloat16": 197e12, "float32": 197e12}),
    ("TPU v5p", {"bfloat16": 459e12, "float32": 459e12}),
)

# model: (folder name of its official checkout, a file that identifies that checkout).
OFFICIAL = {
    "cyclegan": ("pytorch-CycleGAN-and-pix2pix", "models/cycle_gan_model.py"),
    "pix2pix": ("pytorch-CycleGAN-and-pix2pix", "models/pix2pix_model.py"),
    "stargan_v2": ("stargan-v2", "core/solver.py"),
    "munit": ("MUNIT", "configs/edges2handbags_folder.yaml"),
    "unit": ("UNIT", "configs/unit_edges2handbags_folder.yaml"),
    "ugatit": ("UGATIT-pytorch", "UGATIT.py"),
}


def load_config(name: str, overrides: list[str]):
  """configs/<name>.py's defaults with `[model:]key=value` overrides (typed like the old value).

  An override with a `model:` prefix applies to that model only; one without
  applies to every model (and must name a key each of them has).
  """
  spec = importlib.util.spec_from_file_location("bench_config",
                                                os.path.join(ROOT, "configs", f"{name}.py"))
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  config = module.get_config(None)
  for item in overrides:
    key, _, value = item.partition("=")
    target, _, key = key.rpartition(":")
    if target and target != name:
      continue
    *parents, leaf = key.split(".")
    node = config
    try:
      for p in parents:
        node = node[p]
      old = node[leaf]
    except KeyError:
      raise SystemExit(f"--set {item}: {name}'s config has no {key}") from None
    node[leaf] = value.lower() in ("1", "true") if isinstance(old, bool) else type(old)(value)
  return config


def random_batch(spec, config, image_shapes: dict, batch: int, rng) -> dict:
  """Uniform [-1, 1] images for every image key (and domain labels for multi-domain models)."""
  out = {k: rng.uniform(-1, 1, (batch, *s)).astype(np.float32) for k, s in image_shapes.items()}
  if spec.data_kind == registry.DataKind.MULTI_DOMAIN:
    for key in ("y_src", "y_ref"):
      out[key] = rng.integers(0, config.model.num_domains, batch).astype(np.int32)
  if spec.data_kind == registry.DataKind.MULTI_LABEL:
    k = len([a for a in config.model.attrs.split(",") if a.strip()])
    out["label"] = rng.integers(0, 2, (batch, k)).astype(np.float32)
  return out


def official_checkouts(value: str | None) -> dict:
  """{model: checkout directory} named by --official_repo (see the module docstring)."""
  if not value:
    return {}
  if "=" in value:
    out = {}
    for item in value.split(","):
      model_name, _, path = item.partition("=")
      if model_name not in OFFICIAL:
        raise SystemExit(f"--official_repo: unknown model {model_name!r}; "
                         f"valid: {sorted(OFFICIAL)}")
      out[model_name] = os.path.abspath(path)
    return out
  out = {}
  for model_name, (folder, marker) in OFFICIAL.items():
    for path in (value, os.path.join(value, folder)):
      if os.path.exists(os.path.join(path, marker)):
        out[model_name] = os.path.abspath(path)
        break
  if not out:
    raise SystemExit(f"--official_repo={value}: no official checkout there (looked for "
                     f"{sorted({f for f, _ in OFFICIAL.values()})})")
  return out


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


def make_config(model_name, size, batch, dtype, args):
  """(spec, config) at `size` x `size`, or (spec, reason) where the model cannot take that size."""
  config = load_config(model_name, args.set)
  config.model.dtype = dtype
  config.batch_size = batch
  config.data.load_size = config.data.crop_size = size
  spec = registry.get(config.model_name)
  multiple = spec.input_multiple(config)
  if size % multiple:
    return spec, f"size {size} is not a multiple of {multiple}"
  try:
    spec.validate_config(config)
  except ValueError as e:
    return spec, str(e)
  return spec, config


def bench_one(spec, config, n_devices, args) -> dict:
  batch, dtype = config.batch_size, config.model.dtype
  shapes = spec.image_shapes(config)
  dataset_size = 1000
  shardings = StateShardings(make_mesh(jax.devices()[:n_devices]))
  init, step, _ = compile_model(config, spec, dataset_size, shapes, shardings)
  state = init(jax.random.key(0))
  rng = np.random.default_rng(0)

  def make_batch():
    return shardings.global_batch(random_batch(spec, config, shapes, batch, rng))

  key = jax.jit(lambda: jax.random.key(1), out_shardings=shardings.replicated)()
  example = make_batch()
  # One compilation per static phase of a cycle of iterations (StarGAN: D-only and D + G).
  t0 = time.perf_counter()
  cycle = phase_cycle(spec, config, dataset_size)
  compiled = {}
  for kw in cycle:
    if repr(kw) not in compiled:
      compiled[repr(kw)] = step.lower(state, example, key, *kw).compile()
  compile_s = time.perf_counter() - t0
  flops = 0.0  # mean over the cycle of iterations
  with stock_convolutions():  # the model's convolutions, not the CPU backward formulation
    fn = spec.make_train_step(config, dataset_size)
    for kw in cycle:
      phase = {"phase": kw[0]} if kw else {}
      jaxpr = jax.make_jaxpr(lambda s, b, k: fn(s, b, k, **phase))(state, example, key)
      flops += conv_and_matmul_flops(jaxpr.jaxpr) / len(cycle)
  cost = compiled[repr(cycle[-1])].cost_analysis()
  cost = cost[0] if isinstance(cost, (list, tuple)) else cost
  xla_flops = float(cost.get("flops", float("nan"))) if cost else float("nan")
  times = []
  for i in range(args.warmup + args.steps):
    b = make_batch()
    jax.block_until_ready(b)
    t = time.perf_counter()
    state, metrics = compiled[repr(cycle[i % len(cycle)])](state, b, key)
    jax.block_until_ready((state, metrics))
    if i >= args.warmup:
      times.append(time.perf_counter() - t)
  if len(cycle) > 1:  # the mean iteration of whole cycles
    times = times[:len(times) // len(cycle) * len(cycle)] or times
    step_s = statistics.mean(times)
  else:
    step_s = statistics.median(times)
  peak = peak_flops(jax.devices()[0], dtype, args.peak_tflops)
  mem, mem_kind = peak_memory(jax.devices()[0])
  return {"step_s": step_s, "pairs_s": batch / step_s, "compile_s": compile_s,
          "gflop": flops / 1e9, "xla_gflop": xla_flops / 1e9,
          "mfu": flops / step_s / (peak * n_devices) if peak else None,
          "mem_gib": mem, "mem_kind": mem_kind}


def phase_cycle(spec, config, dataset_size: int, horizon: int = 120) -> list:
  """The `phase_args` of the shortest cycle of iterations that repeats over the first
  `horizon` iterations (StarGAN's n_critic, HomoInterpGAN's n_discrim, DRIT++'s d_iter; [()]
  without phases)."""
  phases = [phase_args(spec, config, i, dataset_size) for i in range(horizon)]
  period = next(p for p in range(1, horizon + 1)
                if all(phases[i] == phases[i % p] for i in range(horizon)))
  return phases[:period]


def official_pairs_per_s(args, checkout, model_name, size, batch) -> float | None:
  """Pairs/s of the official code, timed by experiments/benchmark_official.py; None without it."""
  if not checkout:
    return None
  cmd = [args.official_python or sys.executable,
         os.path.join(ROOT, "experiments", "benchmark_official.py"),
         f"--official_repo={checkout}", f"--model={model_name}", f"--size={size}",
         f"--batch={batch}", f"--steps={args.steps}", f"--warmup={args.warmup}"]
  out = subprocess.run(cmd, capture_output=True, text=True)
  if out.returncode:
    print(f"official {model_name} failed:\n{out.stderr[-2000:]}", file=sys.stderr)
    return None
  return float([l for l in out.stdout.splitlines() if l.startswith("pairs_per_s=")][-1][12:])


def main():
  p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  p.add_argument("--models", default=",".join(registry.MODELS))
  p.add_argument("--sizes", default="256")
  p.add_argument("--batches", default="1")
  p.add_argument("--dtypes", default="float32")
  p.add_argument("--devices", default=None, help="device counts, e.g. 1,2,4,8 (default: all)")
  p.add_argument("--steps", type=int, default=10)
  p.add_argument("--warmup", type=int, default=3)
  p.add_argument("--peak_tflops", type=float, default=None, help="peak of one device")
  p.add_argument("--set", action="append", default=[],
                 help="config override [model:]key=value (ours only)")
  p.add_argument("--official_repo", default=None,
                 help="official checkouts: DIR, or model=DIR,... (see the module docstring)")
  p.add_argument("--official_python", default=None, help="a Python that has torch")
  args = p.parse_args()
  models = args.models.split(",")
  for model_name in models:  # unknown models and bad --set keys fail before any timing
    try:
      registry.get(model_name)
    except ValueError as e:
      raise SystemExit(f"--models: {e}") from None
    load_config(model_name, args.set)
  checkouts = official_checkouts(args.official_repo)
  device_counts = [int(n) for n in args.devices.split(",")] if args.devices else [jax.device_count()]
  dev = jax.devices()[0]
  print(f"JAX {jax.__version__}, {jax.device_count()} x {dev.device_kind} ({dev.platform})")
  for model_name, checkout in checkouts.items():
    print(f"official {model_name}: {checkout}")
  print(f"{'model':10s} {'size':>4s} {'batch':>5s} {'dtype':>8s} {'dev':>3s} {'pairs/s':>9s} "
        f"{'step_ms':>9s} {'compile_s':>9s} {'GFLOP/step':>10s} {'XLA_GFLOP':>10s} {'MFU':>6s} "
        f"{'peak_mem':>15s} {'official':>9s} {'ratio':>6s}")
  for model_name in models:
    for size in map(int, args.sizes.split(",")):
      for batch in map(int, args.batches.split(",")):
        for dtype, n_devices in itertools.product(args.dtypes.split(","), device_counts):
          spec, config = make_config(model_name, size, batch, dtype, args)
          row = f"{model_name:10s} {size:4d} {batch:5d} {dtype:>8s} {n_devices:3d}"
          if isinstance(config, str):
            print(f"{row} skipped: {config}", flush=True)
            continue
          r = bench_one(spec, config, n_devices, args)
          ref = (official_pairs_per_s(args, checkouts.get(model_name), model_name, size, batch)
                 if dtype == "float32" and n_devices == device_counts[0] else None)
          mfu = f"{100 * r['mfu']:.1f}%" if r["mfu"] is not None else "n/a"
          ref_s, ratio = (f"{ref:.3f}", f"{r['pairs_s'] / ref:.2f}") if ref else ("n/a", "n/a")
          print(f"{row} {r['pairs_s']:9.3f} {1e3 * r['step_s']:9.1f} {r['compile_s']:9.1f} "
                f"{r['gflop']:10.1f} {r['xla_gflop']:10.1f} {mfu:>6s} "
                f"{r['mem_gib']:6.2f} GiB {r['mem_kind']:>4s} {ref_s:>9s} {ratio:>6s}", flush=True)


if __name__ == "__main__":
  main()
