"""JAX's persistent compilation cache for the CLI: compile once per machine, not once per run.

Every run compiles the same steps again (train, evaluation, scoring, the VAE +
discriminator, core-set; on 2 CPU cores a good part of a digits run's wall time). With the
cache on, XLA's compiled programs are written to a folder and a later process that compiles
the same program (same code, shapes, jax/jaxlib and XLA_FLAGS: all part of JAX's cache key)
loads it instead. `tavaal_jax.main` turns it on by default (--compilation_cache_dir,
--nocompilation_cache); a library user calls `enable()` before the first computation.

The folder is, in order: the cache_dir given, JAX_COMPILATION_CACHE_DIR (JAX's own setting),
`$XDG_CACHE_HOME/tavaal_jax/jax_cache` (default `~/.cache/tavaal_jax/jax_cache`). It only
grows (JAX bounds it only with the optional `filelock` package); deleting it is always safe.
In a run over several processes only process 0 writes entries (JAX's rule); all read them.
"""

import logging
import os
from typing import Optional

# Every program is kept. JAX's default (1 s) writes only those slower to compile, which on a
# CPU leaves out most jits and every eager op, each still tens to hundreds of ms to compile
# again: on the digits run (2 cores) 1 s kept 8 programs and the warm run took 105 s of CPU,
# 0 keeps 114 (2.2 MB) and it took 100 s (cold: 156-164 s). A user's
# JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS wins.
MIN_COMPILE_SECS = 0.0


def default_dir(environ=os.environ) -> str:
  """$XDG_CACHE_HOME/tavaal_jax/jax_cache, ~/.cache/tavaal_jax/jax_cache without it."""
  base = environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
  return os.path.join(base, "tavaal_jax", "jax_cache")


def enable(cache_dir: Optional[str] = None) -> str:
  """Turns JAX's persistent compilation cache on; returns its folder.

  cache_dir: where entries go (default: JAX_COMPILATION_CACHE_DIR, else `default_dir()`).
  Call before the first compilation: JAX fixes the cache when it first compiles.
  """
  import jax   # not at import: `import tavaal_jax` sets no jax.config
  cache_dir = cache_dir or jax.config.jax_compilation_cache_dir or default_dir()
  jax.config.update("jax_enable_compilation_cache", True)
  jax.config.update("jax_compilation_cache_dir", cache_dir)
  if "JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS" not in os.environ:
    jax.config.update("jax_persistent_cache_min_compile_time_secs", MIN_COMPILE_SECS)
  logging.info("compilation cache: %s", cache_dir)
  return cache_dir


def disable() -> None:
  """Turns JAX's persistent compilation cache off, also one JAX_COMPILATION_CACHE_DIR names."""
  import jax
  jax.config.update("jax_enable_compilation_cache", False)
  logging.info("compilation cache: off")
