"""The CPU tuning of a process: one explicit call, before JAX starts its backend.

  from tavaal_jax import cpu_tuning
  cpu_tuning.apply()   # first thing in a program, before its first JAX computation

sets, when JAX's backend will be the CPU, the two process-wide settings that make XLA:CPU
faster on this project's steps (BENCHMARKS.md):
* XLA_FLAGS gets YNNPACK fusions for the train step (`xla_cpu.py`; only on the jaxlib
  versions that flag was tested with, since XLA aborts on an unknown flag);
* glibc malloc keeps freed memory for reuse (`host_memory.py`).
Both change the whole process, so `import tavaal_jax` does neither: a program that only
reads reports, or runs on a GPU, keeps its process as it was. The CLI (`tavaal_jax.main`,
and through it every run of `launch/sweep.py`) and the benchmark workers call `apply()`.

XLA reads XLA_FLAGS once, when JAX creates its first backend, and glibc fixes its arenas when
a second thread first allocates (XLA's threads start with that backend), so the backend is
never started here. Whether it will be the CPU is decided as JAX decides
(`jax._src.xla_bridge.backends`), from what is configured and installed:
* JAX_PLATFORMS (or `jax.config.jax_platforms`) set: JAX makes the first platform named
  the default one, so the CPU iff that is `cpu` (`cpu` and `cpu,cuda` alike);
* unset: JAX takes the highest-priority backend that starts, and every accelerator plugin
  outranks the CPU: a module of the `jax_plugins` namespace package or a `jax_plugins`
  entry point (CUDA, ROCm, ...), the `libtpu` package or TPU_LIBRARY_PATH, a plugin in
  PJRT_NAMES_AND_LIBRARY_PATHS. Where one is installed the tuning is skipped, even on a
  machine where it would find no device; JAX_PLATFORMS=cpu turns it on there.
"""

import importlib.metadata
import importlib.util
import logging
import os
import pkgutil
import sys
from typing import List, NamedTuple, Optional

from tavaal_jax import host_memory, xla_cpu


class Tuning(NamedTuple):
  """What is in force after `apply()`."""
  ynn_flag: bool            # XLA_FLAGS got the package's YNNPACK flag (xla_cpu.py)
  keep_freed_memory: bool   # glibc malloc keeps freed memory (host_memory.py)


def _configured_platforms() -> str:
  # Once jax is imported, its config is what it will use (the program may have updated it);
  # before, the environment it will read.
  jax = sys.modules.get("jax")
  if jax is not None and hasattr(jax, "config"):
    return jax.config.jax_platforms or ""
  return os.environ.get("JAX_PLATFORMS", "")


def accelerator_plugins(environ=os.environ) -> List[str]:
  """Installed JAX plugins that would outrank the CPU backend, found without importing them:
  sorted names, [] when JAX can only start its CPU backend."""
  found = set()
  spec = importlib.util.find_spec("jax_plugins")   # a namespace package: no code runs
  if spec is not None and spec.submodule_search_locations:
    found.update(f"jax_plugins.{module.name}"
                 for module in pkgutil.iter_modules(spec.submodule_search_locations))
  found.update(entry.value for entry in importlib.metadata.entry_points(group="jax_plugins"))
  if importlib.util.find_spec("libtpu") is not None or environ.get("TPU_LIBRARY_PATH"):
    found.add("libtpu")
  if environ.get("PJRT_NAMES_AND_LIBRARY_PATHS"):
    found.add(f"PJRT_NAMES_AND_LIBRARY_PATHS={environ['PJRT_NAMES_AND_LIBRARY_PATHS']}")
  return sorted(found)


def _backend_started() -> bool:
  if "jax" not in sys.modules:
    return False
  try:
    from jax._src import xla_bridge
    return xla_bridge.backends_are_initialized()
  except (ImportError, AttributeError):   # private API: if it moves, assume not started
    return False


def not_cpu_reason(jax_platforms: Optional[str] = None,
                   plugins: Optional[List[str]] = None) -> str:
  """Why JAX's default backend may not be the CPU here; '' when it will be.

  jax_platforms: JAX_PLATFORMS as JAX will read it (default: the configured value);
  plugins: the installed accelerator plugins (default: `accelerator_plugins()`).
  """
  jax_platforms = _configured_platforms() if jax_platforms is None else jax_platforms
  named = [p.strip().lower() for p in jax_platforms.split(",") if p.strip()]
  if named:
    return "" if named[0] == "cpu" else f"JAX_PLATFORMS={jax_platforms} puts {named[0]} first"
  plugins = accelerator_plugins() if plugins is None else plugins
  if plugins:
    return (f"JAX may pick an accelerator ({', '.join(plugins)} installed; "
            "JAX_PLATFORMS=cpu would tune for the CPU)")
  return ""


def skip_reason() -> str:
  """Why `apply` would leave this process alone; '' when it would tune it."""
  if _backend_started():
    return "JAX's backend is already started (XLA has read XLA_FLAGS)"
  return not_cpu_reason()


def apply(jaxlib_version: Optional[str] = None) -> Tuning:
  """Applies the CPU tuning to this process if its JAX backend will be the CPU; idempotent.

  Call it before the first JAX computation (importing jax is fine). jaxlib_version: the
  version whose tested flags apply (default: the installed jaxlib's).
  """
  reason = skip_reason()
  if reason:
    logging.info("CPU tuning skipped: %s", reason)
  else:
    xla_cpu.apply_default_flags(jaxlib_version=jaxlib_version)
    if not host_memory.keep_freed_memory():
      logging.info("glibc malloc left as it is: %s", host_memory.skip_reason() or "mallopt refused")
  tuning = Tuning(ynn_flag=xla_cpu.set_by_package(), keep_freed_memory=host_memory.applied())
  logging.info("CPU tuning in force: %s", tuning)
  return tuning
