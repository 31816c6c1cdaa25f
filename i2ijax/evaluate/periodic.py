"""The evaluation during training (`config.eval_every_steps`), called by the train loop."""

from absl import logging

from i2ijax.evaluate.reports import own_report, report_path, report_scalars, write_json
from i2ijax.evaluate.scoring import Evaluator


class PeriodicEvaluation:
  """The evaluation during training, every `config.eval_every_steps` steps (0: never).

  Built once before training (so a config with nothing to score, or a
  missing test split, fails before the first step): the cheap metrics
  always, FID/KID and LPIPS only when their weights are configured
  (environment variables, or config.eval_inception_weights,
  config.eval_lpips_backbone, config.eval_lpips_heads), with
  config.eval_num_styles (default 10) styles per input for the multimodal
  models; multi-label models train their attribute classifier here once
  (cached in the workdir). `evaluation(state, step, writer)` writes the report to
  DIR/eval/test_step{N}.json and its scalars (`report_scalars`) with the
  training writer. It reads the state only: no training key is drawn and
  nothing in the state changes.
  """

  def __init__(self, config, workdir: str):
    self.every = int(config.get("eval_every_steps", 0))
    if self.every < 0:
      raise ValueError(f"config.eval_every_steps={self.every} must be >= 0 (0: no evaluation)")
    self.workdir = workdir
    from i2ijax import registry
    if registry.get(config.model_name).evaluate is not None:  # the model's own tasks
      self.evaluator = lambda state: own_report(config, state, "test")
      return
    self.evaluator = Evaluator(
        config, "test", num_styles=int(config.get("eval_num_styles", 10)),
        inception_weights=config.get("eval_inception_weights", "") or None,
        lpips_backbone=config.get("eval_lpips_backbone", "") or None,
        lpips_heads=config.get("eval_lpips_heads", "") or None, workdir=workdir)
    if self.evaluator.skipped:
      logging.info("Periodic evaluation skips: %s", self.evaluator.skipped)

  def due(self, step: int, num_steps: int) -> bool:
    return self.every > 0 and (step % self.every == 0 or step == num_steps)

  def __call__(self, state, step: int, writer) -> dict | None:
    import jax
    if jax.process_index() != 0:
      return None
    report = {"workdir": self.workdir, "step": step, **self.evaluator(state)}
    write_json(report, report_path(self.workdir, "test", step) + ".json")
    scalars = report_scalars(report)
    writer.write_scalars(step, scalars)
    logging.info("eval at step %d: %s", step,
                 "  ".join(f"{k[len('eval/'):]} {v:.4f}" for k, v in sorted(scalars.items())))
    return report
