"""Shared fixtures: tiny configs that run the real code paths in seconds on a CPU."""

import os
import tempfile

# Compile time dominates tiny test models; XLA's optimisations only cost time here.
os.environ.setdefault("XLA_FLAGS", "")
# The driver's subprocesses share one compilation cache for the session, not the user's.
os.environ.setdefault("JAX_COMPILATION_CACHE_DIR",
                      tempfile.mkdtemp(prefix="tavaal_jax_test_cache_"))
import jax  # noqa: E402
import pytest  # noqa: E402

jax.config.update("jax_disable_most_optimizations", True)
# Tests build many learners whose steps are the same programs (each Learner jits its own
# partials): the session cache keeps every program, not only those over JAX's 1 s default,
# so that a program compiles once per session.
jax.config.update("jax_persistent_cache_min_compile_time_secs", 0)

from configs import digits  # noqa: E402


def tiny(config):
  """Shrinks any config to a few-second run: width-4 model, 1 epoch, small batches."""
  config.trials = 1
  config.model.width = 4
  config.train.epochs = 1
  config.train.batch_size = 8
  config.train.eval_batch_size = 64
  return config


@pytest.fixture
def tiny_digits_config():
  """configs/digits.py with a width-4 ResNet, 1 epoch, 3 stages of 20, random selection
  (tests of other strategies set strategy.name themselves)."""
  config = tiny(digits.get_config())
  config.strategy.name = "random"
  config.al.initial = 20
  config.al.budget = 20
  config.al.stages = 3
  config.al.subset = 200
  return config
