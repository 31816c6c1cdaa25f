"""Train every model's quickstart on its embedded suite task and score it; one table.

python experiments/benchmark_suite.py [--models=cyclegan,pix2pix,stargan_v2,munit,unit,stargan]
    [--steps=N] [--workdir_root=workdirs/suite] [--num_styles=10]

The tasks and scores are those of `i2ijax.benchmark_suite`: CycleGAN, MUNIT
and UNIT on embedded day -> night (PSNR of AtoB against the known truth,
`night_grade`), pix2pix on its embedded paired task (PSNR against the
clean targets), StarGAN v2 on the embedded style domains (mean domain-
classifier accuracy of its translations), StarGAN on the embedded attribute
photos (mean PSNR over its single-attribute changes against their known
truth; each change's PSNR is printed under the table and kept in the row's
task_scores). Each row gives the score beside
its trivial baseline (the untranslated inputs scored the same way), the SSIM
against the truth and its baseline where the task has a truth, and the wall
time of training plus evaluation. `--steps` replaces the quickstart's
number of steps. A workdir that already holds the run resumes it (or, if
finished, is only evaluated). The rows are also written to
WORKDIR_ROOT/suite.json.
"""

import argparse
import importlib.util
import json
import os
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from i2ijax.benchmark_suite import (  # noqa: E402
    format_table, format_task_scores, suite_config, suite_score, suite_tasks)
from i2ijax.train.loop import train_and_evaluate  # noqa: E402


def quickstart(name: str):
  """configs/<name>.py:quickstart."""
  spec = importlib.util.spec_from_file_location(f"suite_config_{name}",
                                                os.path.join(ROOT, "configs", f"{name}.py"))
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  return module.get_config("quickstart")


def main():
  parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  parser.add_argument("--models", default="cyclegan,pix2pix,stargan_v2,munit,unit,stargan",
                      help="comma-separated models of the suite")
  parser.add_argument("--steps", type=int, default=0,
                      help="training steps per model (default: the quickstart's)")
  parser.add_argument("--workdir_root", default=os.path.join("workdirs", "suite"))
  parser.add_argument("--num_styles", type=int, default=10,
                      help="MUNIT / StarGAN v2 styles per input")
  args = parser.parse_args()
  models = [m.strip() for m in args.models.split(",") if m.strip()]
  tasks = suite_tasks()
  unknown = sorted(set(models) - set(tasks))
  if unknown:
    raise SystemExit(f"--models: unknown {unknown}; the suite has {sorted(tasks)}")
  rows = []
  for name in models:
    config = suite_config(quickstart(name), args.steps or None)
    workdir = os.path.join(args.workdir_root, name)
    print(f"== {name}: {tasks[name]}, workdir {workdir}", flush=True)
    start = time.time()
    train_and_evaluate(config, workdir)
    row = suite_score(workdir, num_styles=args.num_styles)
    row["wall_s"] = time.time() - start
    rows.append(row)
    print(format_table([row]), flush=True)
    if row.get("task_scores"):
      print(format_task_scores(row), flush=True)
  os.makedirs(args.workdir_root, exist_ok=True)
  with open(os.path.join(args.workdir_root, "suite.json"), "w") as f:
    json.dump(rows, f, indent=1)
  print()
  print(format_table(rows))
  per_task = [format_task_scores(r) for r in rows if r.get("task_scores")]
  if per_task:
    print("\nper task (model, task, metric, value, baseline):")
    print("\n".join(per_task))


if __name__ == "__main__":
  main()
