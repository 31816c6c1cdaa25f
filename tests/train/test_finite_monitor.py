"""The NaN/Inf check of the train loop: the stop message names the step, the term and what is left."""

import numpy as np
import pytest

from i2ijax.train.loop import FiniteMonitor


def test_finite_metrics_are_averaged_and_cleared():
  monitor = FiniteMonitor(lambda: None, "/run/checkpoints")
  monitor.add(1, {"G": np.float32(1.0), "D": np.float32(3.0)})
  monitor.add(2, {"G": np.float32(2.0), "D": np.float32(5.0)})
  assert monitor.mean_and_clear() == {"G": 1.5, "D": 4.0}
  assert monitor.pending == [] and monitor.checked == []


def test_a_metric_is_averaged_over_the_steps_that_report_it():
  # Static phases: StarGAN's G losses exist only in the iterations that update G.
  monitor = FiniteMonitor(lambda: None, "/run/checkpoints")
  for step in range(1, 11):
    metrics = {"D": np.float32(step)}
    if step % 5 == 0:
      metrics["G"] = np.float32(10.0 * step)
    monitor.add(step, metrics)
  assert monitor.mean_and_clear() == {"D": 5.5, "G": 75.0}  # not diluted by the D-only steps


def test_non_finite_value_names_the_step_the_term_and_the_newest_checkpoint():
  monitor = FiniteMonitor(lambda: 400, "/run/checkpoints")
  monitor.add(401, {"G": np.float32(1.0), "D": np.float32(2.0)})
  monitor.add(402, {"G": np.float32(np.nan), "D": np.float32(2.0)})
  with pytest.raises(FloatingPointError, match=r"non-finite value at step 402: G=nan\. .*the "
                     r"newest checkpoint \(step 400\) in /run/checkpoints holds the last good state"):
    monitor.check()


def test_non_finite_value_before_any_checkpoint_says_there_is_none():
  monitor = FiniteMonitor(lambda: None, "/run/checkpoints")
  monitor.add(3, {"G": np.float32(np.inf)})
  with pytest.raises(FloatingPointError) as info:
    monitor.check()
  message = str(info.value)
  assert "step 3: G=inf" in message and "no checkpoint had been written yet" in message
  assert "step None" not in message
