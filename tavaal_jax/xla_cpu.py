"""XLA:CPU flags the CPU tuning sets before JAX creates its CPU backend, and per-jit exceptions.

jax 0.10.2's XLA:CPU hands work to YNNPACK ("ynn_fusion" ops in a profile), and which work
is the fastest there depends on the step (BENCHMARKS.md, "What changed", 2):
* the train step (forward + backward of ResNet-18 + ranker) runs faster with YNNPACK
  fusions of dots, element-wise ops and reductions
  (`--xla_cpu_experimental_ynn_fusion_type=dot,eltwise,reduce`) than with Eigen alone;
* forward-only passes (scoring, evaluation), the VAE + discriminator steps and core-set
  run faster, or pick more stably, with no YNNPACK fusion at all (Eigen convolutions).

The YNNPACK fusions only pay off when XLA_FLAGS names them globally (enabling them for one
jit through `compiler_options` gave no gain), so the package sets the train step's flag in
XLA_FLAGS and compiles every other jit with `jit_without_ynn`, which turns the fusions off
for that jit alone. The flag only concerns the CPU backend: on GPU and TPU nothing changes.

A user who sets `--xla_cpu_experimental_ynn_fusion_type` in XLA_FLAGS keeps their value, for
every jit. XLA reads XLA_FLAGS once, when the first backend is created, so this must run
before the first computation: `tavaal_jax.cpu_tuning.apply()` calls `apply_default_flags`,
and the entry points call that first; `import tavaal_jax` sets nothing.

The flag is experimental, and XLA aborts the process on a flag it does not know, so it is
only set on the jaxlib versions it was measured with (TESTED_JAXLIB_VERSIONS); on any other
the jits run with XLA's own default and one log line says so.
"""

import functools
import importlib.metadata
import logging
import os
from typing import Optional

YNN_FLAG = "--xla_cpu_experimental_ynn_fusion_type"
DEFAULT_FLAGS = {YNN_FLAG: "dot,eltwise,reduce"}
# jaxlib versions whose XLA knows DEFAULT_FLAGS and where they were measured (BENCHMARKS.md).
TESTED_JAXLIB_VERSIONS = ("0.10.2",)
# The same setting as a per-jit compiler option; the empty value means no YNNPACK fusion.
_NO_YNN_OPTIONS = {YNN_FLAG.lstrip("-"): ""}

# Names of DEFAULT_FLAGS that apply_default_flags added to os.environ (not the user's own).
_set_by_package = set()


def installed_jaxlib_version() -> Optional[str]:
  """jaxlib's version from its package metadata (importing jaxlib would not start a backend
  either, but this needs no import at all); None when no jaxlib distribution is installed."""
  try:
    return importlib.metadata.version("jaxlib")
  except importlib.metadata.PackageNotFoundError:
    return None


def untested_reason(jaxlib_version: Optional[str]) -> str:
  """Why DEFAULT_FLAGS are not set with this jaxlib; '' when it is a tested version."""
  if jaxlib_version in TESTED_JAXLIB_VERSIONS:
    return ""
  return (f"jaxlib {jaxlib_version or '(not installed as a package)'} is not a version the "
          f"experimental flag was tested with ({', '.join(TESTED_JAXLIB_VERSIONS)})")


def apply_default_flags(environ=os.environ, jaxlib_version: Optional[str] = None) -> str:
  """Appends each of DEFAULT_FLAGS to environ['XLA_FLAGS'] unless it is already named there
  or jaxlib_version (default: the installed one) is untested; returns the resulting
  XLA_FLAGS."""
  flags = environ.get("XLA_FLAGS", "")
  reason = untested_reason(installed_jaxlib_version() if jaxlib_version is None
                           else jaxlib_version)
  if reason:
    logging.warning("XLA_FLAGS left as they are (no %s): %s", YNN_FLAG, reason)
    return flags
  named = {token.split("=", 1)[0] for token in flags.split()}
  added = [name for name in DEFAULT_FLAGS if name not in named]
  if added:
    environ["XLA_FLAGS"] = " ".join([flags] + [f"{n}={DEFAULT_FLAGS[n]}" for n in added]).strip()
    if environ is os.environ:
      _set_by_package.update(added)
  return environ.get("XLA_FLAGS", "")


def set_by_package() -> bool:
  """Whether apply_default_flags set the YNNPACK flag in this process's XLA_FLAGS."""
  return YNN_FLAG in _set_by_package


def no_ynn_compiler_options():
  """`compiler_options` that turn YNNPACK fusions off for one jit, or None where the package's
  flag is not in force (no CPU tuning, the user named the flag, or the default backend is not
  the CPU)."""
  import jax   # here, not at import: the backend must not start before the flags are set
  if YNN_FLAG not in _set_by_package or jax.default_backend() != "cpu":
    return None
  return dict(_NO_YNN_OPTIONS)


class _JitWithoutYnn:
  """`jax.jit(fun, **jit_kwargs)` built at the first use, when the backend is known."""

  def __init__(self, fun, jit_kwargs):
    functools.update_wrapper(self, fun)
    self._fun, self._jit_kwargs = fun, jit_kwargs
    self._jits = {}   # nested (bool) -> jitted function

  def _jit(self, nested=False):
    # Called inside another jit, compiler_options are the outer jit's to give (jax rejects
    # them on a nested one), so the call is traced as a plain jit.
    if nested not in self._jits:
      import jax
      options = None if nested else no_ynn_compiler_options()
      self._jits[nested] = jax.jit(self._fun, compiler_options=options, **self._jit_kwargs)
    return self._jits[nested]

  def __call__(self, *args, **kwargs):
    import jax
    nested = any(isinstance(leaf, jax.core.Tracer)
                 for leaf in jax.tree_util.tree_leaves((args, kwargs)))
    return self._jit(nested)(*args, **kwargs)

  def __getattr__(self, name):   # lower, trace, eval_shape, clear_cache, _cache_size, ...
    # Only reached for names the instance lacks; dunders and our own fields (before __init__
    # set them, e.g. in copy) are not the jitted function's.
    if name.startswith("__") or name in ("_fun", "_jit_kwargs", "_jits"):
      raise AttributeError(name)
    return getattr(self._jit(), name)


def jit_without_ynn(fun=None, **jit_kwargs):
  """`jax.jit`, compiled with no YNNPACK fusion under the package's XLA:CPU default (and a
  plain `jax.jit` where that default is not in force).

  For every jit but the train step. Usable as `jit_without_ynn(f, donate_argnums=(0,))` or
  as a decorator, `@functools.partial(jit_without_ynn, static_argnums=(0,))`.
  """
  if fun is None:
    return functools.partial(jit_without_ynn, **jit_kwargs)
  return _JitWithoutYnn(fun, jit_kwargs)
