"""CycleGAN train step: learning, schedule, update rule, configs."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from i2ijax.data.embedded import day_night_domains
from i2ijax.train import cyclegan
from i2ijax.train.common import linear_decay_schedule
from tests.helpers import load_config, tiny_cyclegan_config


def _batch(n, size, seed=0):
  ka, kb = jax.random.split(jax.random.key(seed))
  return {"A": jax.random.uniform(ka, (n, size, size, 3), minval=-1, maxval=1),
          "B": jax.random.uniform(kb, (n, size, size, 3), minval=-1, maxval=1)}


def _setup(config, size, dataset_size=8):
  shapes = {"A": (size, size, 3), "B": (size, size, 3)}
  state = cyclegan.create_state(config, jax.random.key(0), shapes, dataset_size)
  step = jax.jit(cyclegan.make_train_step(config, dataset_size))
  return state, step


@pytest.mark.slow
def test_overfits_a_fixed_batch():
  """On one fixed tiny batch the cycle loss falls by at least 5x within 300 steps."""
  c = tiny_cyclegan_config(size=32)
  c.optimizer.n_epochs = 1000  # constant official rate 2e-4 throughout
  state, step = _setup(c, 32)
  day, night = day_night_domains(2, 32)
  batch = {"A": np.stack(day.arrays) / 127.5 - 1, "B": np.stack(night.arrays) / 127.5 - 1}
  batch = {k: jnp.asarray(v, jnp.float32) for k, v in batch.items()}
  rng = jax.random.key(0)
  history = []
  for _ in range(300):
    state, m = step(state, batch, rng)
    history.append(float(m["cycle_A"] + m["cycle_B"]))
  assert history[-1] < history[0] / 5, history[::25]


@pytest.mark.slow
def test_generator_update_comes_first_and_discriminators_see_pre_update_fakes():
  """D's gradient uses fakes of the generators *before* their update (official order)."""
  c = tiny_cyclegan_config(size=32)
  c.model.pool_size = 0
  state, step = _setup(c, 32)
  batch = _batch(2, 32)
  new_state, m = step(state, batch, jax.random.key(0))
  models = cyclegan.build_models(c)
  fake_b = models["G_A"].apply({"params": state.params["G_A"]}, batch["A"])
  d_a = lambda x: models["D_A"].apply({"params": state.params["D_A"]}, x)
  real_logits, fake_logits = d_a(batch["B"]), d_a(fake_b)
  expected = 0.5 * (jnp.mean((real_logits - 1) ** 2) + jnp.mean(fake_logits**2))
  assert float(m["D_A"]) == pytest.approx(float(expected), rel=1e-5)
  # Generator terms are evaluated with the initial parameters too.
  assert float(m["G_A"]) == pytest.approx(float(jnp.mean((fake_logits - 1) ** 2)), rel=1e-5)
  assert int(new_state.step) == 1


def test_loss_weights_are_the_papers():
  c = tiny_cyclegan_config(size=32)
  paper = load_config("cyclegan").model
  c.model.lambda_A, c.model.lambda_B, c.model.lambda_identity = (
      paper.lambda_A, paper.lambda_B, paper.lambda_identity)  # the quickstart's identity is 10
  state, step = _setup(c, 32)
  batch = _batch(2, 32)
  _, m = step(state, batch, jax.random.key(0))
  models = cyclegan.build_models(c)
  g = lambda name, x: models[name].apply({"params": state.params[name]}, x)
  rec_a = g("G_B", g("G_A", batch["A"]))
  idt_a = g("G_A", batch["B"])
  assert float(m["cycle_A"]) == pytest.approx(10 * float(jnp.mean(jnp.abs(rec_a - batch["A"]))),
                                              rel=1e-5)
  assert float(m["idt_A"]) == pytest.approx(5 * float(jnp.mean(jnp.abs(idt_a - batch["B"]))),
                                            rel=1e-5)
  total = sum(float(m[k]) for k in ("G_A", "G_B", "cycle_A", "cycle_B", "idt_A", "idt_B"))
  assert float(m["G_total"]) == pytest.approx(total, rel=1e-5)


@pytest.mark.slow
def test_batch_norm_variant_trains_and_updates_running_stats():
  c = tiny_cyclegan_config(size=32)
  c.model.norm = "batch"
  state, step = _setup(c, 32)
  new_state, m = step(state, _batch(2, 32), jax.random.key(0))
  assert all(np.isfinite(float(v)) for v in m.values())
  before = jax.tree_util.tree_leaves(state.batch_stats["G_A"])
  after = jax.tree_util.tree_leaves(new_state.batch_stats["G_A"])
  assert before and any(not np.allclose(a, b) for a, b in zip(before, after))


def test_linear_decay_schedule_matches_official_lambda_rule():
  # 10 steps per epoch, 100 + 100 epochs, epoch_count 1 (the scheduler steps after each epoch).
  s = linear_decay_schedule(2e-4, 10, 100, 100, 1)
  assert float(s(0)) == pytest.approx(2e-4)
  assert float(s(999)) == pytest.approx(2e-4)  # epoch 100 still at the base rate
  assert float(s(1000)) == pytest.approx(2e-4 * (1 - 1 / 101))  # epoch 101
  assert float(s(1999)) == pytest.approx(2e-4 * (1 - 100 / 101))  # epoch 200: > 0
  # Fractional epochs (dataset size not a multiple of the batch).
  s = linear_decay_schedule(1.0, 2.5, 1, 1, 1)
  assert [float(s(i)) for i in (0, 2, 3, 4)] == pytest.approx([1.0, 1.0, 0.5, 0.5])
  assert float(s(5)) == 0.0  # past n_epochs + n_epochs_decay: stays at 0, never negative


def test_default_config_is_the_papers():
  c = load_config("cyclegan")
  assert (c.data.load_size, c.data.crop_size, c.data.flip) == (286, 256, True)
  assert c.data.preprocess == "resize_and_crop" and c.batch_size == 1
  m = c.model
  assert (m.netG, m.netD, m.norm, m.gan_mode) == ("resnet_9blocks", "basic", "instance", "lsgan")
  assert (m.ngf, m.ndf, m.use_dropout, m.pool_size) == (64, 64, False, 50)
  assert (m.lambda_A, m.lambda_B, m.lambda_identity) == (10.0, 10.0, 0.5)
  assert (m.upsample, m.gan_mode, m.remat, m.dtype, m.param_dtype) == (
      "transpose", "lsgan", False, "float32", "float32")
  o = c.optimizer
  assert (o.lr, o.beta1, o.beta2, o.weight_decay) == (2e-4, 0.5, 0.999, 0.0)
  assert (o.n_epochs, o.n_epochs_decay, o.epoch_count) == (100, 100, 1)
  q, qp = load_config("cyclegan", "quickstart"), load_config("cyclegan", "quickstart_paper_weights")
  assert (q.model.lambda_identity, q.optimizer.n_epochs, q.optimizer.n_epochs_decay) == (10, 35, 15)
  assert (qp.model.lambda_identity, qp.optimizer.n_epochs, qp.optimizer.n_epochs_decay) == (
      0.5, 70, 30)
  for key in ("lambda_identity", "n_epochs", "n_epochs_decay"):  # the presets differ only there
    for preset in (q, qp):
      (preset.model if key.startswith("lambda") else preset.optimizer)[key] = 0
  assert q.to_dict() == qp.to_dict()
  with pytest.raises(ValueError, match="unknown cyclegan preset 'nope'"):
    load_config("cyclegan", "nope")
