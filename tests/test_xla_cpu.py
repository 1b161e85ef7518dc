"""The package's XLA:CPU default (convolutions on Eigen, not YNNPACK) and its opt-out."""

import os
import subprocess
import sys

import jax
import jax.numpy as jnp
import pytest

import tavaal_jax  # noqa: F401  (sets the flags, as every entry point does)
from tavaal_jax import xla_cpu

FLAG = "--xla_cpu_experimental_ynn_fusion_type"

_COMPILED_CONV = """
import sys
import jax, jax.numpy as jnp
if sys.argv[1] == "package":
  import tavaal_jax
conv = lambda x, w: jax.lax.conv_general_dilated(x, w, (1, 1), 'SAME',
                                                 dimension_numbers=('NHWC', 'HWIO', 'NHWC'))
print(jax.jit(conv).lower(jnp.ones((8, 32, 32, 16)), jnp.ones((3, 3, 16, 32))).compile().as_text())
"""


def test_apply_default_flags_appends_and_keeps_the_users():
  environ = {}
  assert xla_cpu.apply_default_flags(environ) == f"{FLAG}="
  environ = {"XLA_FLAGS": "--xla_dump_to=/tmp/x"}
  assert xla_cpu.apply_default_flags(environ) == f"--xla_dump_to=/tmp/x {FLAG}="
  environ = {"XLA_FLAGS": f"{FLAG}=individual_convolution --xla_dump_to=/tmp/x"}
  assert xla_cpu.apply_default_flags(environ) == environ["XLA_FLAGS"]
  assert environ["XLA_FLAGS"] == f"{FLAG}=individual_convolution --xla_dump_to=/tmp/x"


def _compiled_conv_hlo(xla_flags, import_package=True):
  """Optimised HLO of a 3x3 convolution compiled in a fresh process."""
  env = dict(os.environ, JAX_PLATFORMS="cpu")
  env.pop("XLA_FLAGS", None)
  if xla_flags is not None:
    env["XLA_FLAGS"] = xla_flags
  done = subprocess.run(
      [sys.executable, "-c", _COMPILED_CONV, "package" if import_package else "jax"], env=env,
      capture_output=True, text=True, timeout=120, check=True)
  return done.stdout


@pytest.mark.skipif(jax.default_backend() != "cpu", reason="an XLA:CPU flag")
def test_importing_the_package_moves_convolutions_off_ynnpack():
  assert FLAG in os.environ["XLA_FLAGS"]
  assert "ynn" in _compiled_conv_hlo(None, import_package=False)   # jax's own default
  assert "ynn" not in _compiled_conv_hlo(None)
  # The user's own setting wins: asking for YNNPACK convolutions gets them.
  assert "ynn" in _compiled_conv_hlo(f"{FLAG}=individual_convolution")


def test_conv_results_unchanged_in_value():
  """Both code paths compute the same convolution (to float rounding)."""
  x = jax.random.normal(jax.random.key(0), (2, 8, 8, 3))
  w = jax.random.normal(jax.random.key(1), (3, 3, 3, 4))
  y = jax.lax.conv_general_dilated(x, w, (1, 1), "SAME",
                                   dimension_numbers=("NHWC", "HWIO", "NHWC"))
  patches = jnp.stack([jnp.pad(x, ((0, 0), (1, 1), (1, 1), (0, 0)))[:, i:i + 8, j:j + 8]
                       for i in range(3) for j in range(3)], 3)
  expected = jnp.einsum("bhwtc,tco->bhwo", patches, w.reshape(9, 3, 4))
  assert jnp.allclose(y, expected, atol=1e-5)
