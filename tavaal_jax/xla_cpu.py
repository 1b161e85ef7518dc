"""XLA:CPU flags the package sets before JAX creates its CPU backend.

jax 0.10.2's XLA:CPU hands convolutions to YNNPACK ("ynn_fusion" ops in a profile). On the
x86 CPU measured here (AMD EPYC, AVX-512) Eigen's convolutions, the other code path, were up
to 2.7x faster per layer (forward, input and kernel gradients) and the train step, VAE + D
iteration and scoring pass 1.2-1.35x faster (BENCHMARKS.md, "What changed", 2), so the
package turns the YNNPACK fusions off. The flag only concerns the CPU
backend: GPU and TPU runs are unaffected.

A user who sets `--xla_cpu_experimental_ynn_fusion_type` in XLA_FLAGS keeps their value.
XLA reads XLA_FLAGS once, when the first backend is created, so this must run before the
first computation; `import tavaal_jax` does it.
"""

import os

# Empty value: no YNNPACK fusion of any kind (convolutions, dots, element-wise, reductions).
DEFAULT_FLAGS = {"--xla_cpu_experimental_ynn_fusion_type": ""}


def apply_default_flags(environ=os.environ) -> str:
  """Appends each of DEFAULT_FLAGS to environ['XLA_FLAGS'] unless it is already named there;
  returns the resulting XLA_FLAGS."""
  flags = environ.get("XLA_FLAGS", "")
  named = {token.split("=", 1)[0] for token in flags.split()}
  extra = [f"{name}={value}" for name, value in DEFAULT_FLAGS.items() if name not in named]
  if extra:
    environ["XLA_FLAGS"] = " ".join([flags] + extra).strip()
  return environ.get("XLA_FLAGS", "")
