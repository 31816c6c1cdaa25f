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
