"""glibc malloc kept from unmapping XLA's freed buffers (tavaal_jax/host_memory.py), set by
the explicit CPU tuning (`cpu_tuning.apply()`; `import tavaal_jax` alone sets nothing, see
tests/test_xla_cpu.py)."""

import json
import os
import platform
import subprocess
import sys

import pytest

from tavaal_jax import host_memory

# In a fresh process: minor page faults of each of 6 calls of a jit whose output is a new
# 256 MiB buffer, dropped before the next call (65,536 pages of 4 KiB each when a call maps
# fresh memory, as glibc does by default for a block this large). jaxlib may free a buffer
# after the next call has allocated its own, so the kept heap can still grow on some calls
# before it holds every buffer alive at once: what must hold is that calls reuse memory.
_FAULTS_PER_CALL = """
import json, resource
from tavaal_jax import cpu_tuning, host_memory
cpu_tuning.apply()   # as every entry point does, before JAX's threads start
import jax, jax.numpy as jnp
f = jax.jit(lambda x: x * 2.0 + 1.0)
x = jnp.ones((64, 1024, 1024), jnp.float32)
f(x).block_until_ready()
faults = []
for _ in range(6):
  before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
  y = f(x)
  y.block_until_ready()
  del y
  faults.append(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
print(json.dumps({"applied": host_memory.applied(), "faults": faults}))
"""

glibc_only = pytest.mark.skipif(
    platform.system() != "Linux" or platform.libc_ver()[0] != "glibc",
    reason="mallopt settings of glibc")


def _fresh_process(**env_overrides):
  env = dict(os.environ, JAX_PLATFORMS="cpu")
  for name in (host_memory.OPT_OUT, "GLIBC_TUNABLES"):
    env.pop(name, None)
  env.update(env_overrides)
  done = subprocess.run([sys.executable, "-c", _FAULTS_PER_CALL], env=env,
                        capture_output=True, text=True, timeout=180, check=True)
  return json.loads(done.stdout.strip().splitlines()[-1])


@glibc_only
def test_freed_buffers_are_reused_without_page_faults():
  # Now and then (one process in a few on this project's VMs) every call faults even with
  # the settings in force and the heap not growing, so a fresh process is tried up to
  # three times; with glibc's defaults no call of any process reuses the buffer.
  runs = [_fresh_process()]
  while min(runs[-1]["faults"][1:]) >= 1000 and len(runs) < 3:
    runs.append(_fresh_process())
  assert all(run["applied"] is True for run in runs)
  assert min(runs[-1]["faults"][1:]) < 1000, runs      # a freed buffer is reused
  default = _fresh_process(**{host_memory.OPT_OUT: "0"})
  assert default["applied"] is False
  assert min(default["faults"][1:]) > 60000, default   # glibc maps each buffer afresh


def test_skip_reason_leaves_the_users_choices():
  assert host_memory.skip_reason({host_memory.OPT_OUT: "0"}) == f"{host_memory.OPT_OUT}=0"
  assert "GLIBC_TUNABLES" in host_memory.skip_reason(
      {"GLIBC_TUNABLES": "glibc.malloc.arena_max=2"})
  if platform.system() == "Linux" and platform.libc_ver()[0] == "glibc":
    assert host_memory.skip_reason({}) == ""
    assert host_memory.skip_reason({"GLIBC_TUNABLES": "glibc.pthread.rseq=0"}) == ""
