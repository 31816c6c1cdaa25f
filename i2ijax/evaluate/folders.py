"""Scoring folders of images against same-named ground-truth images (no model needed)."""

import os

from i2ijax.data import images as image_io
from i2ijax.evaluate.scoring import score


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
  """Scores the images of `inputs` (and of `baseline`) against same-named images of `reference`.

  Returns {"images": N, "model": `score`, "baseline_input": `score`} (the
  last with `baseline` only).
  """
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
