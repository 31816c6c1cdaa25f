"""Evaluation reports: scoring a workdir's checkpoint, and writing, naming and printing reports."""

import json
import os

from i2ijax.data import images as image_io
from i2ijax.evaluate.scoring import METRICS, Evaluator, rgb


def report_scalars(report: dict) -> dict:
  """{name: value}: eval/{task}/{metric} and eval/{task}/baseline_{metric} (and eval/mean/...).

  The prefix is eval/{split}/ for splits other than test, with _train_mode
  appended to its first part in train mode.
  """
  prefix = "eval" + ("_train_mode" if report.get("mode") == "train" else "")
  if report.get("split", "test") != "test":
    prefix += f"/{report['split']}"
  groups = dict(report["tasks"])
  if "mean" in report:
    groups["mean"] = report["mean"]
  out = {}
  for name, group in groups.items():
    for key, value in group.get("model", {}).items():
      out[f"{prefix}/{name}/{key}"] = float(value)
    for base, metrics in _baselines(group):
      for key, value in metrics.items():
        out[f"{prefix}/{name}/{base.replace('_input', '')}_{key}"] = float(value)
    for part, metrics in _other_parts(group):
      for key, value in metrics.items():
        out[f"{prefix}/{name}/{part}_{key}"] = float(value)
  return out


def _numbers(part: dict) -> dict:
  return {m: v for m, v in part.items() if isinstance(v, (int, float))}


def _baselines(group: dict) -> list[tuple[str, dict]]:
  """[(key, {metric: number})] of a task's baselines: baseline_input, baseline_blend, then any
  other baseline_* (IcGAN's reconstruction: baseline_random_z)."""
  keys = [k for k in ("baseline_input", "baseline_blend") if k in group]
  keys += sorted(k for k in group if k.startswith("baseline_") and k not in keys
                 and isinstance(group[k], dict))
  return [(k, _numbers(group[k])) for k in keys]


def _other_parts(group: dict) -> list[tuple[str, dict]]:
  """[(name, {metric: number})] of a task's scores kept under names other than model and
  baseline_* (Face-Age's reconstruction: encoder and optimised; IcGAN's: encoder_y)."""
  return [(k, _numbers(part)) for k, part in group.items()
          if isinstance(part, dict) and k != "model" and not k.startswith("baseline_")]


def own_report(config, state, split: str) -> dict:
  """The report of a model's own evaluation (`ModelSpec.evaluate`), with the fields every
  report has (model_name, split, mode)."""
  from i2ijax import registry
  evaluate = registry.get(config.model_name).evaluate
  return {"model_name": config.model_name, "split": split, "mode": "eval",
          **evaluate(config, state, split)}


def report_path(workdir: str, split: str, step: int, train_mode: bool = False) -> str:
  """DIR/eval/{split}_step{N}[_train_mode] (without the .json extension)."""
  suffix = "_train_mode" if train_mode else ""
  return os.path.join(workdir, "eval", f"{split}_step{step}{suffix}")


def evaluate_workdir(workdir: str, split: str = "test", step: int | None = None, *,
                     train_mode: bool = False, save_images: bool = False, num_styles: int = 10,
                     inception_weights: str | None = None, lpips_backbone: str | None = None,
                     lpips_heads: str | None = None, lpips_net: str = "alex",
                     write_scalars: bool = True) -> dict:
  """Translates and scores `split` with the run in `workdir`; writes and returns the report.

  The report: workdir, model_name, split, step, mode, images (inputs over all
  tasks), tasks {name: {source, target, images, outputs_per_image, model
  {metric: value}, baseline_input {metric: value}}}, skipped {metric:
  reason}; paired models also keep "model" and "baseline_input" with
  per-image PSNR/SSIM; multi-domain and multi-label models add "mean" over
  their tasks; multi-label models add "classifier" {steps, test_accuracy
  {attribute: accuracy}, mean_test_accuracy}: the attribute classifier
  that judged them and its accuracy on the real test images (it is cached
  in DIR/attribute_classifier/).
  """
  import jax
  from i2ijax import registry
  from i2ijax.checkpoint import load_config, load_state
  config = load_config(workdir)
  if registry.get(config.model_name).evaluate is not None:  # the model's own tasks
    _, state = load_state(workdir, config, step)
    step = int(state.step)
    report = {"workdir": workdir, "step": step, **own_report(config, state, split)}
    name = report_path(workdir, split, step, train_mode)
    if jax.process_index() == 0:
      write_json(report, name + ".json")
    if write_scalars:
      _write_scalars(workdir, step, report_scalars(report))
    return report
  evaluator = Evaluator(config, split, num_styles=num_styles, train_mode=train_mode,
                        inception_weights=inception_weights, lpips_backbone=lpips_backbone,
                        lpips_heads=lpips_heads, lpips_net=lpips_net, workdir=workdir)
  _, state = load_state(workdir, config, step)
  step = int(state.step)
  # With images: the model's additional outputs (attention maps) too, for the grids.
  outputs, extras = (evaluator.translate(state, extras=True) if save_images
                     else (evaluator.translate(state), None))
  report = {"workdir": workdir, "step": step, **evaluator(state, outputs)}
  name = report_path(workdir, split, step, train_mode)
  if save_images and jax.process_index() == 0:
    save_grids(evaluator.tasks, outputs, name, extras)
  if jax.process_index() == 0:
    write_json(report, name + ".json")
  if write_scalars:
    _write_scalars(workdir, step, report_scalars(report))
  return report


def save_grids(tasks, outputs, folder: str, extras=None) -> None:
  """One PNG per input: input | its K outputs | their additional outputs (`extras`, per task
  the per-input {name: images} of `Evaluator.translate`, e.g. U-GAT-IT's attention
  heatmaps) | the truth (where known)."""
  for t, (task, outs) in enumerate(zip(tasks, outputs)):
    for i, (x, ys) in enumerate(zip(task.inputs, outs)):
      row = [rgb(x)] + [rgb(y) for y in ys]
      if extras is not None:
        row += [rgb(y) for images in extras[t][i].values() for y in images]
      if task.truths is not None:
        row.append(rgb(task.truths[i]))
      if len({im.shape for im in row}) == 1:
        name = f"{i:04d}.png" if len(tasks) == 1 else os.path.join(task.name, f"{i:04d}.png")
        image_io.save_image(image_io.make_grid([row]), os.path.join(folder, name))


def _write_scalars(workdir: str, step: int, scalars: dict, writer=None) -> None:
  """Writes `scalars` at `step` with `writer`, or with the workdir's own TensorBoard writer."""
  import jax
  from clu import metric_writers
  own = writer is None
  if own:
    writer = metric_writers.create_default_writer(workdir, just_logging=jax.process_index() > 0)
  writer.write_scalars(step, scalars)
  writer.flush()
  if own:
    writer.close()


def write_json(report: dict, path: str) -> None:
  """Writes `report` to `path` atomically (tmp file + rename)."""
  os.makedirs(os.path.dirname(path), exist_ok=True)
  with open(path + ".tmp", "w") as f:
    json.dump(report, f, indent=1)
  os.replace(path + ".tmp", path)


def summary(report: dict) -> str:
  """The mean scores as a small table (PSNR/SSIM for paired data, every metric per task else)."""
  if "model" in report:
    lines = [f"{'':16s} {'PSNR (dB)':>10s} {'SSIM':>8s}   ({report['images']} images)"]
    for key, label in (("model", "model"), ("baseline_input", "baseline (input)")):
      if key in report:
        lines.append(f"{label:16s} {report[key]['psnr']:10.3f} {report[key]['ssim']:8.4f}")
    return "\n".join(lines)
  groups = dict(report["tasks"])
  if "mean" in report:
    groups["mean"] = report["mean"]
  blend = any("baseline_blend" in g for g in groups.values())
  lines = [f"{'task':24s} {'metric':28s} {'model':>10s} {'baseline':>10s}"
           + (f" {'blend':>10s}" if blend else "")]
  for name, group in groups.items():
    label = name
    if "source" in group:
      label += f" ({group['images']}x{group['outputs_per_image']})"
    base, mix = group.get("baseline_input", {}), group.get("baseline_blend", {})
    for metric in METRICS:
      if metric in group.get("model", {}):
        b = f"{base[metric]:10.4f}" if metric in base else f"{'-':>10s}"
        m = (f" {mix[metric]:10.4f}" if metric in mix else f" {'-':>10s}") if blend else ""
        lines.append(f"{label:24s} {metric:28s} {group['model'][metric]:10.4f} {b}{m}")
        label = ""
    rows = [(f"{part} {metric}", f"{value:10.4f}", f"{'-':>10s}")
            for part, metrics in _other_parts(group) for metric, value in metrics.items()]
    rows += [(f"{metric} ({base[len('baseline_'):]})", f"{'-':>10s}", f"{value:10.4f}")
             for base, metrics in _baselines(group)
             if base not in ("baseline_input", "baseline_blend")
             for metric, value in metrics.items()]
    no_blend = f" {'-':>10s}" if blend else ""
    for metric, model, baseline in rows:
      lines.append(f"{label:24s} {metric:28s} {model} {baseline}{no_blend}")
      label = ""
  if "classifier" in report:
    c = report["classifier"]
    lines.append(f"attribute classifier ({c['steps']} steps): mean test accuracy "
                 f"{c['mean_test_accuracy']:.4f} (" + ", ".join(
                     f"{k} {v:.3f}" for k, v in c["test_accuracy"].items()) + ")")
  for metric, reason in report.get("skipped", {}).items():
    lines.append(f"skipped {metric}: {reason}")
  return "\n".join(lines)
