"""python -m i2ijax.evaluate: score a workdir's checkpoint or folders of images (see `i2ijax.evaluate`)."""

from absl import app, flags, logging

from i2ijax.evaluate.folders import evaluate_folders
from i2ijax.evaluate.reports import evaluate_workdir, summary

FLAGS = flags.FLAGS


def define_flags() -> None:
  """The command-line flags (defined only when run as a program, so modules import freely)."""
  flags.DEFINE_string("workdir", None, "Training workdir of the model to score.")
  flags.DEFINE_string("split", "test", "Split of the config's data to score.")
  flags.DEFINE_integer("step", None, "Checkpoint step (default: newest).")
  flags.DEFINE_bool("train_mode", False, "Batch statistics and dropout at test time "
                    "(the official test default) instead of running averages (its --eval).")
  flags.DEFINE_bool("save_images", False, "Also write input | output(s) | target grids.")
  flags.DEFINE_integer("num_styles", 10, "Multimodal models (MUNIT, StarGAN v2): styles per "
                       "input (LPIPS diversity needs >= 2).")
  flags.DEFINE_string("inception_weights", None, "FID Inception weights (pytorch-fid's .pth or "
                      "an .npz); default $I2IJAX_INCEPTION_WEIGHTS. Without them FID/KID are "
                      "skipped.")
  flags.DEFINE_string("lpips_backbone", None, "LPIPS backbone weights (torchvision); default "
                      "$I2IJAX_LPIPS_BACKBONE.")
  flags.DEFINE_string("lpips_heads", None, "LPIPS v0.1 head weights; default $I2IJAX_LPIPS_HEADS.")
  flags.DEFINE_enum("lpips_net", "alex", ["alex", "vgg"], "LPIPS backbone.")
  flags.DEFINE_string("input", None, "Folder of translated images (instead of --workdir).")
  flags.DEFINE_string("reference", None, "Folder of ground-truth images matching --input.")
  flags.DEFINE_string("baseline", None, "Optional folder of baseline images to score as well.")


def main(argv):
  del argv
  if FLAGS.workdir:
    report = evaluate_workdir(FLAGS.workdir, FLAGS.split, FLAGS.step,
                              train_mode=FLAGS.train_mode, save_images=FLAGS.save_images,
                              num_styles=FLAGS.num_styles,
                              inception_weights=FLAGS.inception_weights,
                              lpips_backbone=FLAGS.lpips_backbone, lpips_heads=FLAGS.lpips_heads,
                              lpips_net=FLAGS.lpips_net)
  elif FLAGS.input and FLAGS.reference:
    report = evaluate_folders(FLAGS.input, FLAGS.reference, FLAGS.baseline)
  else:
    raise app.UsageError("give --workdir, or --input and --reference")
  logging.info("\n%s", summary(report))
  print(summary(report))


if __name__ == "__main__":
  import i2ijax.evaluate
  __doc__ = i2ijax.evaluate.__doc__  # the usage absl prints
  define_flags()
  app.run(main)
