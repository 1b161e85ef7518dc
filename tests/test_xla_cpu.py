"""The package's XLA:CPU default (YNNPACK fusions of dots, element-wise ops and reductions,
for the train step) under the explicit CPU tuning, the per-jit opt-out every other jit uses,
and an `import tavaal_jax` that changes nothing in the process."""

import json
import logging
import os
import subprocess
import sys

import jax
import jax.numpy as jnp
import pytest

from tavaal_jax import cpu_tuning, xla_cpu

FLAG = "--xla_cpu_experimental_ynn_fusion_type"

# Prints, as JSON, whether the compiled HLO of a small dense layer holds a YNNPACK fusion under
# jax.jit and under xla_cpu.jit_without_ynn, in a fresh process (XLA reads XLA_FLAGS once)
# that applies the CPU tuning first, as every entry point does.
_COMPILED_DENSE = """
import json
from tavaal_jax import cpu_tuning
cpu_tuning.apply()
import jax, jax.numpy as jnp
from tavaal_jax import xla_cpu
dense = lambda x, w: jnp.tanh(x @ w).sum(1)
args = jnp.ones((64, 128)), jnp.ones((128, 256))
hlo = lambda jitted: jitted.lower(*args).compile().as_text()
print(json.dumps({"jit": "ynn" in hlo(jax.jit(dense)),
                  "jit_without_ynn": "ynn" in hlo(xla_cpu.jit_without_ynn(dense))}))
"""

# What importing the package (every module the CLI imports) leaves set in a fresh process.
_AFTER_IMPORT = """
import json, os
before = os.environ.get("XLA_FLAGS")
import tavaal_jax, tavaal_jax.main
import jax
from tavaal_jax import host_memory, xla_cpu
print(json.dumps({"xla_flags_unchanged": os.environ.get("XLA_FLAGS") == before,
                  "ynn_flag": xla_cpu.set_by_package(), "malloc": host_memory.applied(),
                  "cache_dir": jax.config.jax_compilation_cache_dir}))
"""


def _fresh_process(script, xla_flags):
  env = dict(os.environ, JAX_PLATFORMS="cpu")
  for name in ("XLA_FLAGS", "JAX_COMPILATION_CACHE_DIR"):
    env.pop(name, None)
  if xla_flags is not None:
    env["XLA_FLAGS"] = xla_flags
  done = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True,
                        text=True, timeout=120, check=True)
  return json.loads(done.stdout.strip().splitlines()[-1])


def test_import_changes_nothing_in_the_process():
  assert _fresh_process(_AFTER_IMPORT, "--xla_dump_to=/tmp/x") == {
      "xla_flags_unchanged": True, "ynn_flag": False, "malloc": False, "cache_dir": None}


def test_apply_default_flags_appends_and_keeps_the_users():
  default = f"{FLAG}=dot,eltwise,reduce"
  tested = xla_cpu.TESTED_JAXLIB_VERSIONS[0]
  environ = {}
  assert xla_cpu.apply_default_flags(environ, jaxlib_version=tested) == default
  environ = {"XLA_FLAGS": "--xla_dump_to=/tmp/x"}
  assert xla_cpu.apply_default_flags(environ, jaxlib_version=tested) == (
      f"--xla_dump_to=/tmp/x {default}")
  environ = {"XLA_FLAGS": f"{FLAG}=individual_convolution --xla_dump_to=/tmp/x"}
  assert xla_cpu.apply_default_flags(environ, jaxlib_version=tested) == environ["XLA_FLAGS"]
  assert environ["XLA_FLAGS"] == f"{FLAG}=individual_convolution --xla_dump_to=/tmp/x"


def test_an_untested_jaxlib_gets_no_experimental_flag(monkeypatch, caplog):
  # XLA aborts on a flag it does not know: only tested versions get it, with a line saying so.
  environ = {"XLA_FLAGS": "--xla_dump_to=/tmp/x"}
  with caplog.at_level(logging.INFO):
    assert xla_cpu.apply_default_flags(environ, jaxlib_version="0.0.1") == "--xla_dump_to=/tmp/x"
  assert environ == {"XLA_FLAGS": "--xla_dump_to=/tmp/x"}
  assert "jaxlib 0.0.1 is not a version" in caplog.text
  monkeypatch.setattr(xla_cpu, "installed_jaxlib_version", lambda: "99.0.0")
  assert xla_cpu.apply_default_flags(environ) == "--xla_dump_to=/tmp/x"
  monkeypatch.setattr(xla_cpu, "installed_jaxlib_version", lambda: None)
  assert xla_cpu.apply_default_flags(environ) == "--xla_dump_to=/tmp/x"
  assert xla_cpu.untested_reason(xla_cpu.installed_jaxlib_version()) != ""


def test_the_tuning_is_for_a_cpu_backend_only():
  assert cpu_tuning.not_cpu_reason("cpu", ["jax_plugins.xla_cuda12"]) == ""
  assert cpu_tuning.not_cpu_reason("cpu,cuda", []) == ""   # JAX's default: the first named
  assert "cuda" in cpu_tuning.not_cpu_reason("cuda,cpu", [])
  assert "tpu" in cpu_tuning.not_cpu_reason("tpu", [])
  assert cpu_tuning.not_cpu_reason("", []) == ""
  assert "xla_cuda12" in cpu_tuning.not_cpu_reason("", ["jax_plugins.xla_cuda12"])


def test_the_tuning_leaves_a_started_backend_alone(monkeypatch):
  # XLA has read XLA_FLAGS and its threads have allocated: too late to change either.
  jnp.ones(1).block_until_ready()
  monkeypatch.setenv("XLA_FLAGS", "--xla_dump_to=/tmp/x")
  assert "already started" in cpu_tuning.skip_reason()
  cpu_tuning.apply()
  assert os.environ["XLA_FLAGS"] == "--xla_dump_to=/tmp/x"


@pytest.mark.skipif(jax.default_backend() != "cpu", reason="an XLA:CPU flag")
@pytest.mark.skipif(bool(xla_cpu.untested_reason(xla_cpu.installed_jaxlib_version())),
                    reason="the flag is only set on the jaxlib versions it was tested with")
def test_cpu_tuning_fuses_with_ynnpack_and_jit_without_ynn_opts_out():
  assert _fresh_process(_COMPILED_DENSE, None) == {"jit": True, "jit_without_ynn": False}


@pytest.mark.skipif(jax.default_backend() != "cpu", reason="an XLA:CPU flag")
def test_the_users_flag_wins_for_every_jit():
  # Naming the flag turns the package's default and its per-jit opt-out off alike.
  assert _fresh_process(_COMPILED_DENSE, f"{FLAG}=") == {"jit": False,
                                                         "jit_without_ynn": False}
  assert _fresh_process(_COMPILED_DENSE, f"{FLAG}=dot,eltwise,reduce") == {
      "jit": True, "jit_without_ynn": True}


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
