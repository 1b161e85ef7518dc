"""tavaal_jax: task-aware variational adversarial active learning in JAX/Flax."""

__version__ = "0.1.0"
