"""tavaal_jax: task-aware variational adversarial active learning in JAX/Flax."""

from tavaal_jax import xla_cpu

xla_cpu.apply_default_flags()   # before JAX creates its CPU backend (see xla_cpu.py)

__version__ = "0.1.0"
