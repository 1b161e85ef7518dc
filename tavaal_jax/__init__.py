"""tavaal_jax: task-aware variational adversarial active learning in JAX/Flax.

Importing the package changes nothing in the process (no XLA_FLAGS, no malloc settings, no
jax.config): programs that train on a CPU call `tavaal_jax.cpu_tuning.apply()` first, as the
CLI (`tavaal_jax.main`) does.
"""

__version__ = "0.1.0"
