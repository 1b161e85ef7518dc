"""Markdown tables from a `benchmarks.run` JSON file: `python -m benchmarks.report FILE.json`."""

import json
import sys
from typing import Any, Dict, List


def _f(x, digits=3):
  if x is None:
    return "-"
  if isinstance(x, bool):
    return "yes" if x else "**no**"
  if isinstance(x, (int, float)):
    if abs(x) >= 1000:
      return f"{x:,.0f}"
    return f"{x:.{digits}g}"
  return str(x)


def main_table(r: Dict[str, Any]) -> List[str]:
  lines = ["| measurement | JAX | comparator | ratio (JAX / comparator) | paired ratio | "
           "CPU-time ratio | target | met |", "|---|---|---|---|---|---|---|---|"]

  def row(name, unit, j, c, entry, comparator="torch"):
    lines.append(f"| {name} | {_f(j)} {unit} | {comparator} {_f(c)} {unit} | "
                 f"{_f(entry.get('ratio'))} | {_f(entry.get('ratio_paired'))} | "
                 f"{_f(entry.get('ratio_cpu_time'))} | {_f(entry.get('target'))} | "
                 f"{_f(entry.get('target_met'))} |")

  for name, key, unit in (("train_step", "images_per_s", "images/s"),
                          ("adversary_step", "iterations_per_s", "it/s"),
                          ("scoring", "images_per_s", "images/s")):
    if name in r:
      e = r[name]
      row(name, unit, e["jax"][key], (e.get("torch") or {}).get(key), e)
  if "coreset" in r:
    e = r["coreset"]
    lines.append(f"| coreset | {_f(e['jax']['seconds'])} s | numpy/sklearn "
                 f"{_f(e['numpy']['seconds'])} s | {_f(e['ratio'])} | - | - | "
                 f"{_f(e['target'])} | {_f(e['target_met'])} |")
  if "badge_memory" in r:
    e = r["badge_memory"]["jax"]
    lines.append(f"| badge_memory ({e['candidates']:,} x {e['classes']} x {e['dim']}) | XLA temp "
                 f"{_f(e['temp_mb'])} MiB, peak RSS {_f(e['peak_rss_mb'])} MiB | explicit "
                 f"matrix {_f(e['explicit_matrix_mb'])} MiB | - | - | - | - | - |")
  if "scoring_memory" in r:
    e = r["scoring_memory"]["jax"]
    lines.append(f"| scoring_memory | {e['small_pool']:,}: {_f(e['small']['peak_rss_mb'])} MiB, "
                 f"{e['large_pool']:,}: {_f(e['large']['peak_rss_mb'])} MiB | - | "
                 f"RSS x{_f(e['rss_ratio'])} | - | - | <= 1.5 | "
                 f"{_f(r['scoring_memory']['target_met'])} |")
  if "stage" in r:
    e = r["stage"]["jax"]
    lines.append(f"| stage (digits) | {_f(e['seconds'])} s warm, {_f(e['first_stage_seconds'])} "
                 f"s first | - | - | - | - | - | - |")
  return lines


def details(r: Dict[str, Any]) -> List[str]:
  lines = []
  m = r["machine"]
  lines.append(f"- machine: {m['device']}; fp32 matmul {m['jax']['matmul_size']}^3: JAX "
               f"{_f(m['jax']['matmul_flops'] / 1e9)} GFLOP/s, PyTorch "
               f"{_f(((m.get('torch') or {}).get('matmul_fp32_flops') or 0) / 1e9)} GFLOP/s")
  for name, flops_key in (("train_step", "flops_per_step"),
                          ("adversary_step", "flops_per_iteration"),
                          ("scoring", "flops_per_image")):
    if name not in r:
      continue
    e = r[name]
    j, t = e["jax"], e.get("torch") or {}
    lines.append(
        f"- {name}: JAX median {_f(j['seconds'])} s per call (all: {j['seconds_all']}), "
        f"compile/warm-up {_f(j.get('compile_seconds', j.get('warmup_seconds')))} s, "
        f"{_f(j[flops_key] / 1e9)} GFLOP ({flops_key}), FLOP fraction JAX "
        f"{_f(j.get('flop_fraction'))} / PyTorch {_f(t.get('flop_fraction'))}, peak RSS JAX "
        f"{_f(j.get('peak_rss_mb'))} MiB / PyTorch {_f(t.get('peak_rss_mb'))} MiB; PyTorch "
        f"median {_f(t.get('seconds'))} s (all: {t.get('seconds_all')}); parameters "
        f"{e.get('param_counts')}; load average {j.get('load_average')}")
  return lines


def main(argv=None) -> int:
  argv = sys.argv[1:] if argv is None else argv
  with open(argv[0]) as f:
    r = json.load(f)
  print("\n".join(main_table(r)))
  print()
  print("\n".join(details(r)))
  return 0


if __name__ == "__main__":
  sys.exit(main())
