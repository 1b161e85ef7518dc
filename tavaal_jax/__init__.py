"""tavaal_jax: task-aware variational adversarial active learning in JAX/Flax."""

from tavaal_jax import host_memory, xla_cpu

xla_cpu.apply_default_flags()   # before JAX creates its CPU backend (see xla_cpu.py)
host_memory.keep_freed_memory()   # before XLA's threads first allocate (see host_memory.py)

__version__ = "0.1.0"
