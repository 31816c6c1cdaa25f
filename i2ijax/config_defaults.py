"""Config blocks shared by the `configs/` files of the junyanz-family models."""

import ml_collections


def official_optimizer() -> ml_collections.ConfigDict:
  """`--lr 2e-4 --beta1 0.5`, Adam beta2 0.999, no weight decay, `--lr_policy linear`
  over `--n_epochs 100 --n_epochs_decay 100`, `--epoch_count 1`."""
  o = ml_collections.ConfigDict()
  o.lr = 2e-4
  o.beta1 = 0.5
  o.beta2 = 0.999
  o.weight_decay = 0.0
  o.n_epochs = 100
  o.n_epochs_decay = 100
  o.epoch_count = 1
  return o


def add_run_settings(c: ml_collections.ConfigDict) -> ml_collections.ConfigDict:
  """Logging, sampling and checkpointing intervals of the train loop."""
  c.log_every_steps = 100
  c.sample_every_steps = 1000
  c.checkpoint_every_steps = 5000
  c.max_to_keep = 3
  c.num_sample_images = 4
  return c
