"""The CLI's persistent compilation cache (tavaal_jax/compile_cache.py): a second process
loads what the first compiled, JAX_COMPILATION_CACHE_DIR is respected, and
--nocompilation_cache leaves no cache behind; the CLI prepares its process first."""

import json
import os
import subprocess
import sys

import pytest

from tavaal_jax import compile_cache

# A fresh process set up as the CLI sets itself up (its flags, then main.prepare_process),
# then one small jit; prints the CPU tuning in force and the persistent-cache hits, as JSON.
_CLI_PROCESS = """
import json, sys
import jax, jax.numpy as jnp
from absl import flags
from tavaal_jax import host_memory, main, xla_cpu
flags.FLAGS(["main"] + sys.argv[1:])
main.prepare_process()
hits = []
jax.monitoring.register_event_listener(
    lambda event, **kwargs: hits.append(event) if event.endswith("cache_hits") else None)
x = jnp.arange(64.0).reshape(8, 8)
jax.jit(lambda x: jnp.tanh(x) @ x.T)(x).block_until_ready()
print(json.dumps({"ynn_flag": xla_cpu.set_by_package(), "malloc": host_memory.applied(),
                  "hits": len(hits)}))
"""


def _cli_process(flags, **env_overrides):
  env = dict(os.environ, JAX_PLATFORMS="cpu")
  for name in ("JAX_COMPILATION_CACHE_DIR", "XDG_CACHE_HOME"):
    env.pop(name, None)
  env.update(env_overrides)
  done = subprocess.run([sys.executable, "-c", _CLI_PROCESS, *flags], env=env,
                        capture_output=True, text=True, timeout=120, check=True)
  return json.loads(done.stdout.strip().splitlines()[-1])


def _entries(folder):
  return sorted(os.listdir(folder)) if os.path.isdir(folder) else []


def test_a_second_process_loads_what_the_first_compiled(tmp_path):
  cache = str(tmp_path / "cache")
  first = _cli_process([f"--compilation_cache_dir={cache}"],
                       XDG_CACHE_HOME=str(tmp_path / "xdg"))
  # The CLI on a CPU backend runs tuned (the flag only on a tested jaxlib).
  assert first["malloc"] is True
  assert first["hits"] == 0 and _entries(cache)
  assert not (tmp_path / "xdg").exists()      # the flag's folder, not the default one
  # JAX's own variable names the same folder: everything compiled there is loaded.
  second = _cli_process([], JAX_COMPILATION_CACHE_DIR=cache,
                        XDG_CACHE_HOME=str(tmp_path / "xdg"))
  assert second["hits"] >= 1
  assert second["ynn_flag"] == first["ynn_flag"]
  assert not (tmp_path / "xdg").exists()


def test_nocompilation_cache_leaves_no_cache(tmp_path):
  env_dir = tmp_path / "env_cache"
  _cli_process(["--nocompilation_cache"], JAX_COMPILATION_CACHE_DIR=str(env_dir),
               XDG_CACHE_HOME=str(tmp_path / "xdg"))
  assert not env_dir.exists() and not (tmp_path / "xdg").exists()


def test_default_folder_is_under_the_users_cache_directory():
  assert compile_cache.default_dir({"XDG_CACHE_HOME": "/c"}) == "/c/tavaal_jax/jax_cache"
  assert compile_cache.default_dir({}) == os.path.expanduser("~/.cache/tavaal_jax/jax_cache")


def test_main_prepares_the_process_before_anything_else(monkeypatch):
  # Before the backend starts (XLA reads XLA_FLAGS once) and before the first compilation.
  from tavaal_jax import main

  class Prepared(Exception):
    pass

  def prepare():
    raise Prepared

  monkeypatch.setattr(main, "prepare_process", prepare)
  with pytest.raises(Prepared):
    main.main(["main"])
