"""Host memory: glibc malloc set to keep freed memory for reuse (part of `cpu_tuning.apply()`).

XLA:CPU allocates every step's buffers (activations, gradients, the new train state) with
malloc and frees them when the step is done. glibc serves allocations above its mmap
threshold (at most 32 MiB by default, far smaller than a batch of activations) with fresh
`mmap`s and unmaps them on free, and each XLA thread allocates from its own arena, whose
heaps cannot hold such blocks either. So every step faults in and zeroes all of its memory
again: ~410,000 minor page faults and ~1.6 s of kernel time per ResNet-18 train step at
batch 128 on a 2-core machine (BENCHMARKS.md, "What changed", 5).

`keep_freed_memory()` makes malloc keep and reuse that memory through mallopt(3):
* one arena (M_ARENA_MAX = 1), the main heap, which grows as far as needed;
* blocks up to 2 GiB come from that heap, not from mmap (M_MMAP_THRESHOLD);
* freed memory is never handed back to the kernel (M_TRIM_THRESHOLD = -1).
After the first steps, steps fault no page in (that train step: 5.4 -> 4.0-4.5 s). The
process's peak RSS is higher: the heap keeps its largest extent, which grows in the first
steps past the live data (that train step: 2.6 GiB -> 3.8-5.3 GiB, flat after the third
step). Numerics do not change: this only decides where buffers live.

It applies on Linux with glibc, and must run before a second thread first allocates: glibc
fixes its number of arenas then (XLA's threads start with its backend; importing jax alone
was measured not to spoil it). It is skipped when GLIBC_TUNABLES names a `glibc.malloc.`
setting (the user chose), or with TAVAAL_JAX_KEEP_FREED_MEMORY=0. `cpu_tuning.apply()` only
calls it when JAX's backend will be the CPU (GPU / TPU runs keep little on the host).
"""

import ctypes
import os
import platform

# mallopt(3) parameter numbers (glibc's malloc.h).
M_TRIM_THRESHOLD = -1
M_MMAP_THRESHOLD = -3
M_ARENA_MAX = -8
_SETTINGS = ((M_ARENA_MAX, 1), (M_MMAP_THRESHOLD, 2**31 - 1), (M_TRIM_THRESHOLD, -1))

OPT_OUT = "TAVAAL_JAX_KEEP_FREED_MEMORY"

_applied = False


def skip_reason(environ=os.environ) -> str:
  """Why `keep_freed_memory` would leave malloc alone here; '' when it would apply."""
  if environ.get(OPT_OUT, "1").strip().lower() in ("0", "false", "no", "off"):
    return f"{OPT_OUT}={environ[OPT_OUT]}"
  if "glibc.malloc." in environ.get("GLIBC_TUNABLES", ""):
    return "GLIBC_TUNABLES names glibc.malloc settings"
  if platform.system() != "Linux" or platform.libc_ver()[0] != "glibc":
    return "not Linux with glibc"
  return ""


def keep_freed_memory(environ=os.environ) -> bool:
  """Applies the mallopt settings above unless `skip_reason`; True when they are in force."""
  global _applied
  if _applied or skip_reason(environ):
    return _applied
  libc = ctypes.CDLL(None)   # the process's own C library
  _applied = all(libc.mallopt(param, value) == 1 for param, value in _SETTINGS)
  return _applied


def applied() -> bool:
  """Whether this process runs with the settings (set by `keep_freed_memory`)."""
  return _applied
