"""Helpers shared by the JAX, PyTorch and NumPy measurements: timing, memory, synthetic data."""

import os
import platform
import resource
import statistics
import time
from typing import Callable, Dict, List, Sequence, Tuple

import numpy as np


def peak_rss_mb() -> float:
  """This process's peak resident set size so far, MiB (Linux reports KiB)."""
  return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


class Times(list):
  """Wall seconds of each call, with the process CPU seconds (all threads) of each in `cpu`."""

  def __init__(self):
    super().__init__()
    self.cpu: List[float] = []


def repeat(fn: Callable[[], None], repetitions: int) -> Times:
  """Times of `repetitions` calls of `fn` (which must block until its work is done)."""
  times = Times()
  for _ in range(max(1, repetitions)):
    cpu, start = time.process_time(), time.perf_counter()
    fn()
    times.append(time.perf_counter() - start)
    times.cpu.append(time.process_time() - cpu)
  return times


def load_average() -> float:
  """The 1-minute load average (other processes on this machine skew wall times)."""
  try:
    return round(os.getloadavg()[0], 2)
  except OSError:
    return -1.0


def summary(times: Sequence[float], units_per_call: float, unit: str) -> Dict:
  """Median wall seconds per call, its rate (units_per_call / median) and the raw times.

  `cpu_seconds` is the median process CPU time per call (all threads): less sensitive to
  other processes competing for the cores than wall time, but it also counts spinning.
  """
  median = statistics.median(times)
  out = {"seconds": median, f"{unit}_per_s": units_per_call / median,
         "repetitions": len(times), "seconds_all": [round(t, 6) for t in times],
         "load_average": load_average()}
  cpu = getattr(times, "cpu", None)
  if cpu:
    out["cpu_seconds"] = statistics.median(cpu)
    out[f"{unit}_per_cpu_s"] = units_per_call / out["cpu_seconds"]
  return out


def cpu_model() -> str:
  """lscpu's 'Model name' (falls back to /proc/cpuinfo, then platform)."""
  try:
    with open("/proc/cpuinfo") as f:
      for line in f:
        if line.startswith("model name"):
          return line.split(":", 1)[1].strip()
  except OSError:
    pass
  return platform.processor() or platform.machine()


def cpu_count() -> int:
  try:
    return len(os.sched_getaffinity(0))
  except AttributeError:
    return os.cpu_count() or 1


class SyntheticSource:
  """An `ImageSource` of `n` images generated from their index; nothing is stored.

  Pixel p of image i is the top byte of a 32-bit integer hash of (i, p): noise-like,
  deterministic, and the same on every call, so a pool of any size costs no memory.
  Labels are i % num_classes.
  """

  def __init__(self, n: int, image_shape: Tuple[int, int, int], num_classes: int = 10,
               seed: int = 0):
    self.n = int(n)
    self.image_shape = tuple(int(s) for s in image_shape)
    self.num_classes = int(num_classes)
    self._pixels = np.arange(int(np.prod(self.image_shape)), dtype=np.uint32)
    self._seed = np.uint32(seed * 0x27D4EB2F + 0x165667B1)

  def __len__(self) -> int:
    return self.n

  def get(self, indices):
    idx = np.asarray(indices, np.int64)
    if idx.size and (idx.min() < 0 or idx.max() >= self.n):
      raise IndexError(f"index out of range for a source of {self.n} images")
    with np.errstate(over="ignore"):
      h = (idx.astype(np.uint32)[:, None] * np.uint32(2654435761)
           + self._pixels[None, :] * np.uint32(2246822519) + self._seed)
      h ^= h >> np.uint32(15)
      h *= np.uint32(2246822519)
      h ^= h >> np.uint32(13)
    images = (h >> np.uint32(24)).astype(np.uint8).reshape((len(idx),) + self.image_shape)
    return images, (idx % self.num_classes).astype(np.int32)

  def labels(self):
    return (np.arange(self.n) % self.num_classes).astype(np.int32)

  def names(self, indices):
    return [f"synthetic[{i}]" for i in np.asarray(indices, np.int64)]


def coreset_data(p: Dict):
  """(candidates [p.candidates, p.dim], labeled [p.labeled, p.dim]) float32 embeddings."""
  rng = np.random.default_rng(0)
  dim = int(p.get("dim", 512))
  # Clustered embeddings (ReLU-pooled features are non-negative and clustered by class).
  centers = rng.normal(0.0, 1.0, (10, dim)).astype(np.float32)

  def draw(n):
    return np.abs(centers[rng.integers(0, 10, n)] + rng.normal(0, 0.7, (n, dim))
                  ).astype(np.float32)
  return draw(int(p["candidates"])), draw(int(p["labeled"]))


class Bench:
  """A prepared measurement: `call()` runs one timed repetition (blocking) worth `units`
  `unit`s; `info` holds figures known before timing (compile seconds, FLOPs, parameter
  counts); `finish()` figures taken after timing (peak RSS). `warmup` untimed calls precede
  the timed ones."""

  def __init__(self, call: Callable[[], None], units: float, unit: str, info: Dict,
               warmup: int = 0, finish: Callable[[], Dict] = None):
    self.call, self.units, self.unit, self.info = call, units, unit, info
    self.warmup = warmup
    self.finish = finish or (lambda: {"peak_rss_mb": peak_rss_mb()})

  def results(self, times: Times) -> Dict:
    out = summary(times, self.units, self.unit)
    out.update(self.info)
    out.update(self.finish())
    return out


def run_bench(bench: Bench, repetitions: int) -> Dict:
  """Warm-up, then the median of `repetitions` timed calls."""
  for _ in range(bench.warmup):
    bench.call()
  return bench.results(repeat(bench.call, repetitions))


def unpaired_sections(paired: Dict[str, Callable[[Dict], Bench]]) -> Dict[str, Callable]:
  """{section: prepare(p) -> Bench} -> {section: run(p) -> figures}, each run alone: warm-up,
  then the median of p['reps'] timed calls (p['scoring_reps'] for scoring)."""
  def runner(section, prepare):
    key, default = ("scoring_reps", 3) if section == "scoring" else ("reps", 5)
    return lambda p: run_bench(prepare(p), int(p.get(key, default)))
  return {section: runner(section, prepare) for section, prepare in paired.items()}


PROTOCOL = "@@bench "


def serve(bench: Bench, stdin, stdout) -> Dict:
  """Paired timing: warm up, say 'ready', then time one call per 'go' line read from
  `stdin` (answering with its seconds) until 'stop'. The caller alternates two such
  processes, so that both sides see the same load from other processes."""
  import json
  for _ in range(bench.warmup):
    bench.call()
  stdout.write(PROTOCOL + "ready\n")
  stdout.flush()
  times = Times()
  for line in stdin:
    if line.strip() != "go":
      break
    one = repeat(bench.call, 1)
    times.append(one[0])
    times.cpu.append(one.cpu[0])
    stdout.write(PROTOCOL + json.dumps({"seconds": one[0]}) + "\n")
    stdout.flush()
  return bench.results(times)
