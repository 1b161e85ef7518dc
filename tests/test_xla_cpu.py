"""The package's XLA:CPU default (YNNPACK fusions of dots, element-wise ops and reductions,
for the train step) and the per-jit opt-out every other jit uses."""

import json
import os
import subprocess
import sys

import jax
import jax.numpy as jnp
import pytest

import tavaal_jax  # noqa: F401  (sets the flags, as every entry point does)
from tavaal_jax import xla_cpu

FLAG = "--xla_cpu_experimental_ynn_fusion_type"

# Prints, as JSON, whether the compiled HLO of a small dense layer holds a YNNPACK fusion under
# jax.jit and under xla_cpu.jit_without_ynn, in a fresh process (XLA reads XLA_FLAGS once).
_COMPILED_DENSE = """
import json
import tavaal_jax
import jax, jax.numpy as jnp
from tavaal_jax import xla_cpu
dense = lambda x, w: jnp.tanh(x @ w).sum(1)
args = jnp.ones((64, 128)), jnp.ones((128, 256))
hlo = lambda jitted: jitted.lower(*args).compile().as_text()
print(json.dumps({"jit": "ynn" in hlo(jax.jit(dense)),
                  "jit_without_ynn": "ynn" in hlo(xla_cpu.jit_without_ynn(dense))}))
"""


def test_apply_default_flags_appends_and_keeps_the_users():
  default = f"{FLAG}=dot,eltwise,reduce"
  environ = {}
  assert xla_cpu.apply_default_flags(environ) == default
  environ = {"XLA_FLAGS": "--xla_dump_to=/tmp/x"}
  assert xla_cpu.apply_default_flags(environ) == f"--xla_dump_to=/tmp/x {default}"
  environ = {"XLA_FLAGS": f"{FLAG}=individual_convolution --xla_dump_to=/tmp/x"}
  assert xla_cpu.apply_default_flags(environ) == environ["XLA_FLAGS"]
  assert environ["XLA_FLAGS"] == f"{FLAG}=individual_convolution --xla_dump_to=/tmp/x"


def _ynn_in_compiled_dense(xla_flags):
  """{'jit': bool, 'jit_without_ynn': bool}: YNNPACK fusions in a fresh process's HLO."""
  env = dict(os.environ, JAX_PLATFORMS="cpu")
  env.pop("XLA_FLAGS", None)
  if xla_flags is not None:
    env["XLA_FLAGS"] = xla_flags
  done = subprocess.run([sys.executable, "-c", _COMPILED_DENSE], env=env, capture_output=True,
                        text=True, timeout=120, check=True)
  return json.loads(done.stdout.strip().splitlines()[-1])


@pytest.mark.skipif(jax.default_backend() != "cpu", reason="an XLA:CPU flag")
def test_package_default_fuses_with_ynnpack_and_jit_without_ynn_opts_out():
  assert f"{FLAG}=dot,eltwise,reduce" in os.environ["XLA_FLAGS"]
  assert _ynn_in_compiled_dense(None) == {"jit": True, "jit_without_ynn": False}


@pytest.mark.skipif(jax.default_backend() != "cpu", reason="an XLA:CPU flag")
def test_the_users_flag_wins_for_every_jit():
  # Naming the flag turns the package's default and its per-jit opt-out off alike.
  assert _ynn_in_compiled_dense(f"{FLAG}=") == {"jit": False, "jit_without_ynn": False}
  assert _ynn_in_compiled_dense(f"{FLAG}=dot,eltwise,reduce") == {"jit": True,
                                                                  "jit_without_ynn": True}


def test_jit_without_ynn_is_a_jit_in_value_and_in_api():
  """Same results as jax.jit, static arguments and donation pass through, lower() works."""
  def scaled(x, factor):
    return jnp.tanh(x) * factor
  x = jax.random.normal(jax.random.key(0), (8, 16))
  plain = jax.jit(scaled, static_argnums=(1,))
  wrapped = xla_cpu.jit_without_ynn(scaled, static_argnums=(1,))
  assert jnp.allclose(wrapped(x, 3), plain(x, 3), atol=1e-6)
  assert wrapped.__name__ == "scaled"
  assert "tanh" in wrapped.lower(x, 3).as_text()
  decorated = xla_cpu.jit_without_ynn(static_argnums=(1,))(scaled)
  assert jnp.allclose(decorated(x, 2), plain(x, 2), atol=1e-6)
  # Inside another jit (jax rejects compiler_options on a nested jit) it traces as a plain one.
  outer = jax.jit(lambda x: wrapped(x, 3) + 1.0)
  assert jnp.allclose(outer(x), plain(x, 3) + 1.0, atol=1e-6)


def test_conv_results_unchanged_in_value():
  """Both code paths compute the same convolution (to float rounding)."""
  x = jax.random.normal(jax.random.key(0), (2, 8, 8, 3))
  w = jax.random.normal(jax.random.key(1), (3, 3, 3, 4))
  conv = lambda x, w: jax.lax.conv_general_dilated(x, w, (1, 1), "SAME",
                                                   dimension_numbers=("NHWC", "HWIO", "NHWC"))
  patches = jnp.stack([jnp.pad(x, ((0, 0), (1, 1), (1, 1), (0, 0)))[:, i:i + 8, j:j + 8]
                       for i in range(3) for j in range(3)], 3)
  expected = jnp.einsum("bhwtc,tco->bhwo", patches, w.reshape(9, 3, 4))
  assert jnp.allclose(jax.jit(conv)(x, w), expected, atol=1e-5)
  assert jnp.allclose(xla_cpu.jit_without_ynn(conv)(x, w), expected, atol=1e-5)
