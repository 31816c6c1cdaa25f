"""The built-in benchmark suite: every model on an embedded task whose answer is known.

No network is needed: the tasks are built from photos that scikit-image ships
(`i2ijax.data.embedded`). A model's task follows from its data kind
(`registry.DataKind`):

  two-domain    day -> night (`data.embedded_domains` = ""): the true
                translation of a day test crop x is `night_grade(x)`;
                score: PSNR (dB) of the AtoB translations against it
                (multimodal models: mean over their sampled styles);
  paired        the embedded paired task (`data.embedded_task`, denoising
                by default); score: PSNR (dB) against the clean targets;
  multi-domain  the three style domains (day / night / duotone, a random
                style per image: no unique truth); score: the fraction of
                latent-guided translations that the nearest-centroid
                domain classifier fitted on the training images assigns to
                the target domain, mean over the target domains.
  multi-label   the embedded attribute photos (warm / cool tint, dark,
                faded, vignette, rendered on held-out photos, so the true
                translation to any label is known); score: PSNR (dB) of
                the translations against the truth, mean over the tasks,
                one per direction of a single-attribute change
                (`evaluate.tasks.attribute_tasks`: Warm_Tint=1,
                Cool_Tint=1, Dark=1, Dark=0, ...). The report also holds
                each task's PSNR and the attribute classifier's accuracy.

Each score comes with its trivial baseline, the same metric of the
untranslated inputs: their PSNR against the truth (identity), or the
fraction of them the classifier already assigns to the target domain.
`experiments/benchmark_suite.py` trains the quickstarts on these tasks and
prints one table.
"""

from i2ijax import registry
from i2ijax.registry import DataKind

KIND_TASKS = {
    DataKind.TWO_DOMAIN: "embedded day -> night",
    DataKind.PAIRED: "embedded paired task",
    DataKind.MULTI_DOMAIN: "embedded style domains",
    DataKind.MULTI_LABEL: "embedded attribute photos",
}


def suite_tasks() -> dict:
  """{model name: its suite task} of the registered models whose data kind has one."""
  kinds = {name: registry.get(name).data_kind for name in registry.MODELS}
  return {name: KIND_TASKS[kind] for name, kind in kinds.items() if kind in KIND_TASKS}


def suite_config(config, steps: int | None = None):
  """`config` (a quickstart) set to its suite task; `steps` overrides num_train_steps."""
  kind = registry.get(config.model_name).data_kind
  if kind not in KIND_TASKS:
    raise ValueError(f"{config.model_name!r} ({kind.value} data) has no suite task; suite "
                     f"models: {sorted(suite_tasks())}")
  if config.data.source != "embedded":
    raise ValueError(f"the suite runs on embedded data, got config.data.source="
                     f"{config.data.source!r}: start from the :quickstart preset")
  if kind == DataKind.TWO_DOMAIN and "embedded_domains" in config.data:
    config.data.embedded_domains = ""  # day -> night, with a known truth
  if steps:
    config.num_train_steps = int(steps)
  return config


def headline(report: dict) -> dict:
  """The suite's scores of an `evaluate` report.

  {score_name, score, baseline, higher_is_better, ssim, baseline_ssim}: the one
  score (paired: PSNR against the targets; two-domain: AtoB PSNR against the
  truth where known, else AtoB classifier accuracy, else AtoB FID;
  multi-domain: the mean classifier accuracy over target domains, else the
  mean FID; multi-label: the mean PSNR over the tasks against the truth,
  else the mean classifier accuracy, else the mean FID) and, where the task
  has a truth, the SSIM against it (else None). Reports of several tasks add
  task_scores {task: {metric: model value, baseline_<metric>: baseline}} of
  the score's metric.
  """
  def pick(group, names):
    for name in names:
      if name in group.get("model", {}):
        return name, group["model"][name], group.get("baseline_input", {}).get(name)
    return None

  if "model" in report:  # paired
    group, names, label = report, ("psnr",), "{}"
  elif "mean" in report:  # multi-domain and multi-label
    kind = registry.get(report["model_name"]).data_kind if "model_name" in report else None
    first = ("psnr",) if kind == DataKind.MULTI_LABEL else ()
    group, names, label = report["mean"], first + ("classifier_accuracy", "fid"), "mean {}"
  else:
    group, names, label = report["tasks"]["AtoB"], ("psnr", "classifier_accuracy", "fid"), "AtoB {}"
  found = pick(group, names)
  if found is None:
    raise ValueError(f"the report of {report.get('workdir')} has no suite score: "
                     f"{sorted(report.get('skipped', {}).items())}")
  name, value, baseline = found
  ssim = pick(group, ("ssim",))
  out = {"score_name": label.format(name), "score": value, "baseline": baseline,
         "higher_is_better": name != "fid", "ssim": ssim[1] if ssim else None,
         "baseline_ssim": ssim[2] if ssim else None}
  if "mean" in report:
    out["task_scores"] = {
        task: {name: t["model"][name], f"baseline_{name}": t.get("baseline_input", {}).get(name)}
        for task, t in report["tasks"].items() if name in t.get("model", {})}
  return out


def suite_score(workdir: str, step: int | None = None, *, num_styles: int = 10) -> dict:
  """{model, step, score_name, score, baseline, higher_is_better} of the run in `workdir`.

  Evaluates the checkpoint (`evaluate.evaluate_workdir`, which also writes
  its JSON report and TensorBoard scalars) and picks `headline`.
  """
  from i2ijax.evaluate import evaluate_workdir
  report = evaluate_workdir(workdir, "test", step, num_styles=num_styles)
  return {"model": report["model_name"], "step": report["step"], **headline(report)}


def format_task_scores(row: dict) -> str:
  """The per-task scores of a suite row (`headline`'s task_scores), one line each; "" if none."""
  tasks = row.get("task_scores") or {}
  lines = []
  for task, scores in tasks.items():
    name = next(k for k in scores if not k.startswith("baseline_"))
    base = scores.get(f"baseline_{name}")
    lines.append(f"  {row['model']:11s} {task:24s} {name:20s} {scores[name]:8.4f} "
                 + ("-" if base is None else f"{base:8.4f}"))
  return "\n".join(lines)


def format_table(rows: list[dict]) -> str:
  """One line per row: model, steps, score name, score, its baseline, SSIM and its
  baseline (where the task has a truth), wall time (s)."""
  def num(value):
    return "-" if value is None else f"{value:.4f}"

  lines = [f"{'model':11s} {'steps':>6s}  {'score':26s} {'value':>8s} {'baseline':>8s} "
           f"{'ssim':>7s} {'baseline':>8s} {'wall_s':>7s}"]
  for r in rows:
    lines.append(f"{r['model']:11s} {r['step']:6d}  {r['score_name']:26s} {num(r['score']):>8s} "
                 f"{num(r.get('baseline')):>8s} {num(r.get('ssim')):>7s} "
                 f"{num(r.get('baseline_ssim')):>8s} {r['wall_s']:7.1f}")
  return "\n".join(lines)
