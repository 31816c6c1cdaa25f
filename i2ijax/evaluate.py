"""Score translations against ground truth: PSNR and SSIM, beside the trivial baseline.

  python -m i2ijax.evaluate --workdir=DIR [--split=test] [--step=N] [--train_mode]
  python -m i2ijax.evaluate --input=TRANSLATED --reference=TRUTH [--baseline=INPUTS]

With a workdir (a model trained on paired data, e.g. pix2pix), every pair
(A, B) of the config's `split` is translated A -> fake_B by the checkpoint's
generator and scored against B; the input A itself is scored too as the
trivial baseline (the bicubic upsampling for super-resolution, the gray image
for colorization), when it has B's channels. Images are prepared as the
official test script does: `resize_and_crop` resizes to crop_size x crop_size
(test load_size = crop_size, no flip); `crop` and `none` keep the whole image.
Results go to DIR/eval/{split}_step{N}.json (`..._train_mode.json` with
--train_mode; with --save_images, input | output | target grids go to the
folder of the same name).
With folders, files of --input and --reference (and --baseline) are matched by
their path without extension. Metrics are computed on uint8 values (range 255).
"""

import json
import os

from absl import app, flags, logging
import numpy as np

from i2ijax.data import images as image_io
from i2ijax.metrics.image_quality import psnr, ssim


def score(outputs: list[np.ndarray], targets: list[np.ndarray]) -> dict:
  """Mean and per-image PSNR (dB) and SSIM of uint8 images against uint8 targets."""
  per_psnr, per_ssim = [], []
  for out, target in zip(outputs, targets):
    if out.shape != target.shape:
      raise ValueError(f"output of shape {out.shape} cannot be scored against a target of "
                       f"shape {target.shape}")
    per_psnr.append(float(psnr(out[None], target[None])[0]))
    per_ssim.append(float(ssim(out[None], target[None])[0]))
  return {"psnr": float(np.mean(per_psnr)), "ssim": float(np.mean(per_ssim)),
          "psnr_per_image": per_psnr, "ssim_per_image": per_ssim}


def load_paired_split(config, split: str):
  """(inputs, targets): uint8 lists of the paired `split`, prepared as the official test does."""
  from i2ijax.data.sources import aligned_domains
  domain_a, domain_b = aligned_domains(config.data, split)
  size = config.data.crop_size
  prepare = ((lambda im: image_io.resize(im, size, size))
             if config.data.preprocess == "resize_and_crop" else (lambda im: im))
  inputs = [prepare(domain_a.load(i)) for i in range(len(domain_a))]
  targets = [prepare(domain_b.load(i)) for i in range(len(domain_b))]
  return inputs, targets


def evaluate_workdir(workdir: str, split: str = "test", step: int | None = None, *,
                     train_mode: bool = False, save_images: bool = False) -> dict:
  """Translates and scores the paired `split` of the run in `workdir`; writes and returns the report."""
  from i2ijax.train.loop import model_module
  from i2ijax.translate import load_config, make_translator
  config = load_config(workdir)
  if not getattr(model_module(config.model_name), "PAIRED_DATA", False):
    raise ValueError(f"{workdir}: model {config.model_name!r} is trained on unpaired data, so "
                     "its config has no ground truth; translate a test folder with "
                     "`python -m i2ijax.translate` and score it with --input/--reference")
  translate, config, step = make_translator(workdir, "AtoB", step, train_mode=train_mode)
  inputs, targets = load_paired_split(config, split)
  outputs = [translate(x) for x in inputs]
  report = {"workdir": workdir, "split": split, "step": step, "images": len(outputs),
            "mode": "train" if train_mode else "eval", "model": score(outputs, targets)}
  if all(x.shape == t.shape for x, t in zip(inputs, targets)):
    report["baseline_input"] = score(inputs, targets)
  name = os.path.join(workdir, "eval", f"{split}_step{step}" + ("_train_mode" if train_mode else ""))
  if save_images:
    for i, (x, y, t) in enumerate(zip(inputs, outputs, targets)):
      image_io.save_image(image_io.make_grid([[x, y, t]]), os.path.join(name, f"{i:04d}.png"))
  _write_json(report, name + ".json")
  return report


def matched_files(folders: dict[str, str]) -> dict[str, list[str]]:
  """{role: paths} of the files every folder has, matched by path without extension."""
  found = {}
  for role, folder in folders.items():
    paths = [folder] if os.path.isfile(folder) else image_io.list_images(folder)
    root = os.path.dirname(folder) if os.path.isfile(folder) else folder
    found[role] = {os.path.splitext(os.path.relpath(p, root))[0]: p for p in paths}
  keys = set.intersection(*(set(v) for v in found.values()))
  for role, files in found.items():
    missing = sorted(set(files) - keys)
    if missing:
      raise ValueError(f"{folders[role]} (--{role}) has images the other folders lack: "
                       f"{missing[:5]}{' ...' if len(missing) > 5 else ''}")
  if not keys:
    raise ValueError(f"no images to score in {sorted(folders.values())}")
  return {role: [files[k] for k in sorted(keys)] for role, files in found.items()}


def evaluate_folders(inputs: str, reference: str, baseline: str | None = None) -> dict:
  """Scores the images of `inputs` (and of `baseline`) against same-named images of `reference`."""
  folders = {"input": inputs, "reference": reference}
  if baseline:
    folders["baseline"] = baseline
  files = matched_files(folders)
  targets = [image_io.load_image(p) for p in files["reference"]]
  report = {"images": len(targets),
            "model": score([image_io.load_image(p) for p in files["input"]], targets)}
  if baseline:
    report["baseline_input"] = score([image_io.load_image(p) for p in files["baseline"]], targets)
  return report


def _write_json(report: dict, path: str) -> None:
  os.makedirs(os.path.dirname(path), exist_ok=True)
  with open(path + ".tmp", "w") as f:
    json.dump(report, f, indent=1)
  os.replace(path + ".tmp", path)


def summary(report: dict) -> str:
  """A two- or three-line table of the mean scores."""
  lines = [f"{'':16s} {'PSNR (dB)':>10s} {'SSIM':>8s}   ({report['images']} images)"]
  for key, label in (("model", "model"), ("baseline_input", "baseline (input)")):
    if key in report:
      lines.append(f"{label:16s} {report[key]['psnr']:10.3f} {report[key]['ssim']:8.4f}")
  return "\n".join(lines)


FLAGS = flags.FLAGS


def define_flags() -> None:
  """The command-line flags (defined only when run as a program, so modules import freely)."""
  flags.DEFINE_string("workdir", None, "Training workdir of a model trained on paired data.")
  flags.DEFINE_string("split", "test", "Split of the config's paired data to score.")
  flags.DEFINE_integer("step", None, "Checkpoint step (default: newest).")
  flags.DEFINE_bool("train_mode", False, "Batch statistics and dropout at test time "
                    "(the official test default) instead of running averages (its --eval).")
  flags.DEFINE_bool("save_images", False, "Also write input | output | target grids.")
  flags.DEFINE_string("input", None, "Folder of translated images (instead of --workdir).")
  flags.DEFINE_string("reference", None, "Folder of ground-truth images matching --input.")
  flags.DEFINE_string("baseline", None, "Optional folder of baseline images to score as well.")


def main(argv):
  del argv
  if FLAGS.workdir:
    report = evaluate_workdir(FLAGS.workdir, FLAGS.split, FLAGS.step,
                              train_mode=FLAGS.train_mode, save_images=FLAGS.save_images)
  elif FLAGS.input and FLAGS.reference:
    report = evaluate_folders(FLAGS.input, FLAGS.reference, FLAGS.baseline)
  else:
    raise app.UsageError("give --workdir, or --input and --reference")
  logging.info("\n%s", summary(report))
  print(summary(report))


if __name__ == "__main__":
  define_flags()
  app.run(main)
