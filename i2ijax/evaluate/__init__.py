"""Score a trained model with the metrics that fit it, beside the trivial baseline.

  python -m i2ijax.evaluate --workdir=DIR [--split=test] [--step=N] [--train_mode]
      [--inception_weights=PTH] [--lpips_backbone=PTH --lpips_heads=PTH] [--num_styles=10]
  python -m i2ijax.evaluate --input=TRANSLATED --reference=TRUTH [--baseline=INPUTS]

With a workdir, the checkpoint's networks translate the config's `split` and
the scores depend on the model's data kind (`registry.DataKind`) and on
whether it is multimodal (`ModelSpec.multimodal`); each task is translated
with the model's `registry.Translator` (`ModelSpec.translator`), with the
options `translate` would take:

* paired (pix2pix): every pair (A, B) is translated A -> fake_B and scored
  against B with PSNR and SSIM; the input A itself is scored too as the
  trivial baseline (the bicubic upsampling for super-resolution, the gray
  image for colorization), when it has B's channels.
* unpaired two-domain (CycleGAN, MUNIT, UNIT): the test images of A are
  translated to B (task "AtoB") and those of B to A ("BtoA"). Per task:
  FID and KID against the real test images of the target domain (with the
  FID Inception weights); on the embedded day -> night data, whose true
  translation of a day crop x is exactly `embedded.night_grade(x)`, PSNR and
  SSIM of AtoB against that truth; on embedded data, the domain-classifier
  accuracy (the fraction of translations that a nearest-centroid classifier
  fitted on the two training domains, `embedded.fit_domain_classifier`,
  assigns to the target domain).
* multi-domain (StarGAN v2): for every target domain ("to_<name>"), the test
  images of all other domains, each with `num_styles` latent-guided styles
  (latent seeds 0..K-1, as `translate --seed=k`): domain-classifier
  accuracy on embedded data, FID and KID against that domain's real test
  images, and their means over the domains ("mean").
* multi-label (StarGAN): one task per direction of a single-attribute
  change of the test images (`tasks.attribute_tasks`: "<name>=1" over the
  images without attribute k, with the other members of k's group, e.g.
  the other hair colours, set off; for an ungrouped attribute also
  "<name>=0" over the images with it; single-label data: "<class>" over
  the other classes' images), translated with `translate --attrs=` that
  change and each input's own test labels. Per task: the attribute-
  classifier accuracy (the fraction of translations whose changed
  attribute the classifier of `metrics.attribute_classifier`, trained on
  the real training images and cached in DIR/attribute_classifier/, reads
  as the target value: probability > 0.5, or the arg-max class), the
  paper's measure; on the embedded attribute photos PSNR and SSIM against
  the exact rendering of the target label (`EmbeddedAttributes.truth`);
  FID and KID against the real test images with the target value; their
  means over the tasks ("mean"), and the classifier's accuracy on the real
  test images ("classifier").
* multimodal (MUNIT, StarGAN v2): LPIPS diversity, the mean pairwise LPIPS
  of the `num_styles` (K >= 2) outputs of each input (the styles of
  `translate --num_styles=K --seed=0`: MUNIT's are K codes ~ N(0, I) from
  seed 0), with the LPIPS weights. PSNR, SSIM, accuracy and FID/KID then use
  all K outputs.

Each metric of a task is also computed on the untranslated inputs (the
identity baseline, "baseline_input"): their PSNR/SSIM against the truth,
the fraction the classifier already assigns to the target domain (or
already reads as the target attribute value), their FID/KID against the
target domain. Weights are found from the flags or the
environment variables I2IJAX_INCEPTION_WEIGHTS, I2IJAX_LPIPS_BACKBONE and
I2IJAX_LPIPS_HEADS; when none is given, FID/KID (or LPIPS) are skipped and
the report's "skipped" says why. A model with nothing to score (unpaired
or multi-domain folder data without Inception or LPIPS weights) is an error
that says what to pass. During training, `config.eval_every_steps` = N > 0
runs the same evaluation every N steps (`PeriodicEvaluation`).

Images are prepared as the official test scripts do: `resize_and_crop`
resizes to crop_size x crop_size (bicubic, or `data.resize_filter`: U-GAT-IT
bilinear; test load_size = crop_size, no flip); `resize_short_and_crop` resizes the shorter side to crop_size
(bilinear) and center-crops a square; StarGAN v2 resizes to crop_size x
crop_size (bilinear); StarGAN takes its training transform without the flip
(the centre crop `data.center_crop`, then the short side resized to
crop_size, bilinear); `crop` and `none` keep the whole image. Inputs of
fully convolutional models are padded to the multiple their networks need
and the outputs cropped back. Metrics are computed on uint8 values (range
255); FID/KID, LPIPS and the classifier see the uint8 outputs as a saved PNG
would hold them.
Results go to DIR/eval/{split}_step{N}.json (`..._train_mode.json` with
--train_mode; with --save_images, grids of input | output(s) | (truth) go to
the folder of the same name) and, as scalars eval/{task}/{metric} and
eval/{task}/baseline_{metric}, to the workdir's TensorBoard events at the
checkpoint's step. With folders, files of --input and --reference (and
--baseline) are matched by their path without extension.

Modules: `tasks` (the tasks of a split and their translators), `scoring`
(`score`, `Evaluator`), `reports` (`evaluate_workdir`, report files and
scalars), `periodic` (`PeriodicEvaluation`), `folders` (`evaluate_folders`);
`python -m i2ijax.evaluate` runs `__main__`.
"""

from i2ijax.evaluate.folders import evaluate_folders, matched_files
from i2ijax.evaluate.periodic import PeriodicEvaluation
from i2ijax.evaluate.reports import (evaluate_workdir, report_path, report_scalars, save_grids,
                                     summary)
from i2ijax.evaluate.scoring import METRICS, Evaluator, score
from i2ijax.evaluate.tasks import (Task, attribute_tasks, domain_names, evaluation_tasks,
                                   fit_classifier, prepare_fn)

__all__ = ["METRICS", "Evaluator", "PeriodicEvaluation", "Task", "attribute_tasks",
           "domain_names", "evaluate_folders", "evaluate_workdir", "evaluation_tasks",
           "fit_classifier", "matched_files", "prepare_fn", "report_path", "report_scalars",
           "save_grids", "score", "summary"]
