r"""Measured speed of tavaal_jax against its comparators, written to one JSON file.

  python -m benchmarks.run --out bench.json                 # the issue's sizes (long on 2 cores)
  python -m benchmarks.run --quick --out bench_quick.json   # tiny sizes, a smoke run
  python -m benchmarks.run --out bench.json --levers        # also the XLA-flag / chunk sweeps

Every measurement runs in its own worker subprocess (`--worker`), so its peak RSS is its own,
XLA flags apply per measurement, and PyTorch's and XLA's thread pools never share a process.
Timings are taken after warm-up; each figure is the median of several repetitions.

Top-level objects: machine, train_step, adversary_step, scoring, coreset, badge_memory
(BADGE's k-means++ seeding at 10,000 candidates x 100 classes x 512-d: XLA's buffers and peak
RSS), stage, scoring_memory (and levers with --levers). Each holds `jax` figures and, where a comparator
exists, `torch` (or `numpy`) figures and `ratio` = JAX speed / comparator speed (> 1: JAX is
faster); a missing comparator is null with a `*_reason`.
"""

import argparse
import concurrent.futures
import importlib.util
import json
import os
import platform
import shlex
import statistics
import subprocess
import sys
import tempfile
import time
from typing import Any, Dict, List, Optional, Sequence, Tuple

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# Sizes: the (full) and a smoke run's (--quick). Command-line flags override either.
FULL = dict(batch_size=128, image_size=32, width=64, vae_batch_size=128, vae_width=128,
            latent_dim=64, pool=10000, scoring_batch_size=500, scan_steps=8,
            candidates=10000, labeled=10000, dim=512, budget=1000, matmul_size=4096,
            badge_candidates=10000, badge_classes=100,
            reps=5, scoring_reps=2, coreset_reps=3, numpy_reps=1, warmup=2, steps_per_rep=1,
            memory_pools=(10000, 1000000), memory_width=4, memory_image_size=16,
            memory_batch_size=1000, stage={}, cifar10_stage={})
QUICK = dict(batch_size=8, image_size=16, width=4, vae_batch_size=8, vae_width=8,
             latent_dim=8, pool=256, scoring_batch_size=64, scan_steps=2, candidates=500,
             labeled=500, dim=64, budget=50, matmul_size=256, badge_candidates=500,
             badge_classes=10, reps=2, scoring_reps=2,
             coreset_reps=2, numpy_reps=1, warmup=1, steps_per_rep=1,
             memory_pools=(500, 5000), memory_width=4, memory_image_size=16,
             memory_batch_size=250,
             stage=dict(stages=2, width=4, epochs=1, vae_epochs=1, subset=100, initial=20,
                        budget=20, strategy="random"),
             cifar10_stage=dict(train=200, test=64, image_size=16, width=4, epochs=1,
                                batch_size=16, vae_width=8, latent_dim=8, vae_epochs=1,
                                vae_batch_size=16, subset=64, initial=32, budget=16,
                                scoring_batch_size=32, eval_batch_size=32),
             # A smoke run shares the cores among its workers: one thread each.
             torch_threads=1)

SECTIONS = ("machine", "train_step", "adversary_step", "scoring", "coreset", "badge_memory",
            "stage", "scoring_memory")
# Run only when --sections names them: cifar10_stage is one whole stage of configs/cifar10.py
# on synthetic data (benchmarks/stage.py), sized for an accelerator (benchmarks/accelerator.sh).
EXTRA_SECTIONS = ("cifar10_stage",)

TARGETS = {"train_step": 1.0, "adversary_step": 1.0, "scoring": 1.5, "coreset": 20.0}

# XLA:CPU flags tried by --levers (each in its own process: an unknown flag aborts it).
# "" is the package's default (tavaal_jax/cpu_tuning.py, xla_cpu.py: YNNPACK fusions of dots,
# element-wise ops and reductions for the train step, none for every other jit). A lever naming
# --xla_cpu_experimental_ynn_fusion_type replaces that default for every jit.
XLA_FLAG_LEVERS = (
    "",
    "--xla_cpu_experimental_ynn_fusion_type=",   # no YNNPACK fusion anywhere (Eigen convolutions)
    "--xla_cpu_experimental_ynn_fusion_type=individual_convolution",   # jax 0.10.2's own
    "--xla_cpu_use_onednn=true",
    "--xla_cpu_experimental_onednn_fusion_type=dot,eltwise",
    "--xla_cpu_experimental_ynn_fusion_type=dot,eltwise,reduce",
    "--xla_cpu_experimental_ynn_fusion_type=dot,eltwise,reduce,individual_convolution",
    "--xla_cpu_experimental_xnn_fusion_type=dot,eltwise",
    "--xla_cpu_use_xnnpack=true",
    "--xla_cpu_multi_thread_eigen=false",
    "--xla_force_host_platform_device_count=2",
)


# ----------------------------------------------------------------------------- workers


def _worker(sections: str, backend: str, params: Dict[str, Any], result_path: str,
            serve: bool = False) -> None:
  """Runs the comma-separated `sections` in this process; writes {section: figures}.

  serve: one paired section, timed call by call on the orchestrator's 'go' (see run_pair).
  """
  if os.environ.get("BENCH_FAST_COMPILE"):
    import jax
    jax.config.update("jax_disable_most_optimizations", True)
  if backend == "jax":
    # First: the package's CPU tuning (XLA flags, malloc), before JAX's backend starts, as
    # the CLI does (tavaal_jax/cpu_tuning.py).
    from tavaal_jax import cpu_tuning
    cpu_tuning.apply()
    from benchmarks import jax_bench as module
  elif backend == "torch":
    if params.get("torch_keep_freed_memory"):
      # The package's malloc settings (tavaal_jax/host_memory.py) for PyTorch too, for the
      # record: set before torch's threads first allocate.
      from tavaal_jax import host_memory
      host_memory.keep_freed_memory()
    from benchmarks import torch_reference as module
  elif backend == "numpy":
    from benchmarks import numpy_reference as module
  else:
    raise SystemExit(f"unknown backend {backend!r}")
  out = {}
  if serve:
    from benchmarks.common import serve as serve_bench
    out[sections] = serve_bench(module.PAIRED[sections](params), sys.stdin, sys.stdout)
    with open(result_path, "w") as f:
      json.dump(out, f)
    return
  for section in sections.split(","):
    start = time.perf_counter()
    out[section] = module.SECTIONS[section](params)
    out[section]["section_wall_seconds"] = time.perf_counter() - start
  with open(result_path, "w") as f:
    json.dump(out, f)


class WorkerError(RuntimeError):
  pass


def run_worker(sections: Sequence[str], backend: str, params: Dict[str, Any],
               env: Dict[str, str], log=None) -> Dict[str, Dict[str, Any]]:
  """Runs `sections` on `backend` in one fresh interpreter: {section: figures}, or
  WorkerError with the end of its output."""
  with tempfile.TemporaryDirectory() as tmp:
    result = os.path.join(tmp, "result.json")
    cmd = [sys.executable, "-m", "benchmarks.run", "--worker", ",".join(sections),
           "--backend", backend, "--params", json.dumps(params), "--result", result]
    start = time.perf_counter()
    proc = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - start
    if proc.returncode != 0 or not os.path.exists(result):
      tail = "\n".join((proc.stderr or proc.stdout or "").strip().splitlines()[-12:])
      raise WorkerError(f"{backend} {','.join(sections)} exited with {proc.returncode}: {tail}")
    with open(result) as f:
      out = json.load(f)
  if log:
    log(f"  {backend:5s} {','.join(sections):40s} {wall:6.1f} s")
  return out


def run_group(section: str, params: Dict[str, Any], sides: Dict[str, Tuple],
              repetitions: int, log=None, tolerate_failures: bool = False
              ) -> Dict[str, Dict[str, Any]]:
  """Times `section` in one worker process per side ({label: (backend, env[, params])}), one
  repetition of each side in turn, rotating which goes first, so that every side sees the
  same load from whatever else runs on the machine. Returns {label: figures}; each gets
  `paired_seconds` (its time in each round). With `tolerate_failures` a side that dies
  (e.g. an XLA flag this build rejects) becomes {'error': ...} and the others go on."""
  from benchmarks.common import PROTOCOL
  out: Dict[str, Dict[str, Any]] = {}
  start = time.perf_counter()
  with tempfile.TemporaryDirectory() as tmp:
    procs, logs, paths = {}, {}, {}
    for i, (label, (backend, env, *own)) in enumerate(sides.items()):
      paths[label] = os.path.join(tmp, f"{i}.json")
      logs[label] = open(os.path.join(tmp, f"{i}.log"), "w+")
      procs[label] = subprocess.Popen(
          [sys.executable, "-m", "benchmarks.run", "--worker", section, "--backend", backend,
           "--params", json.dumps(own[0] if own else params), "--result", paths[label],
           "--serve"],
          cwd=REPO, env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
          stderr=logs[label], text=True, bufsize=1)

    def fail(label):
      if procs[label].poll() is None:
        procs[label].kill()
      procs[label].wait()
      logs[label].seek(0)
      tail = "\n".join(logs[label].read().strip().splitlines()[-12:])
      error = WorkerError(f"{label} {section} exited with {procs[label].returncode}: {tail}")
      if not tolerate_failures:
        raise error
      out[label] = {"error": str(error)[-800:]}
      del procs[label]

    def expect(label):
      for line in procs[label].stdout:
        if line.startswith(PROTOCOL):
          return line[len(PROTOCOL):].strip()
      return None

    try:
      for label in list(procs):
        if expect(label) != "ready":
          fail(label)
      paired = {label: [] for label in procs}
      for r in range(repetitions):
        order = list(procs)
        for label in order[r % len(order):] + order[:r % len(order)] if order else []:
          procs[label].stdin.write("go\n")
          procs[label].stdin.flush()
          answer = expect(label)
          if answer is None:
            fail(label)
            continue
          paired[label].append(json.loads(answer)["seconds"])
      for label in list(procs):
        procs[label].stdin.write("stop\n")
        procs[label].stdin.close()
        if procs[label].wait() != 0 or not os.path.exists(paths[label]):
          fail(label)
          continue
        with open(paths[label]) as f:
          out[label] = json.load(f)[section]
        out[label]["paired_seconds"] = paired[label]
    finally:
      for label, proc in procs.items():
        if proc.poll() is None:
          proc.kill()
      for f in logs.values():
        f.close()
  if log:
    log(f"  {'|'.join(sides):9s} {section:38s} {time.perf_counter() - start:6.1f} s (paired)")
  return out


def run_pair(section: str, params: Dict[str, Any], envs: Dict[str, Dict[str, str]],
             repetitions: int, log=None) -> Dict[str, Dict[str, Any]]:
  """JAX against PyTorch, alternating repetitions (see run_group): {backend: figures}."""
  return run_group(section, params, {b: (b, e) for b, e in envs.items()}, repetitions, log)


def worker_env(device: str, xla_flags: str, fast_compile: bool,
               extra_xla_flags: str = "") -> Dict[str, str]:
  env = dict(os.environ)
  env["PYTHONPATH"] = REPO + os.pathsep + env.get("PYTHONPATH", "")
  env["JAX_PLATFORMS"] = {"cpu": "cpu", "gpu": "cuda", "cuda": "cuda", "tpu": "tpu"}.get(
      device, device)
  flags = " ".join(f for f in (env.get("XLA_FLAGS", ""), xla_flags, extra_xla_flags) if f)
  if flags:
    env["XLA_FLAGS"] = flags
  else:
    env.pop("XLA_FLAGS", None)
  env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
  env["TQDM_DISABLE"] = "1"
  if fast_compile:
    env["BENCH_FAST_COMPILE"] = "1"
  else:
    env.pop("BENCH_FAST_COMPILE", None)
  return env


# ----------------------------------------------------------------------------- assembling


def _ratio(a: Optional[float], b: Optional[float]) -> Optional[float]:
  if a is None or b is None or not b:
    return None
  return a / b


def _fraction(flops_per_unit: float, units_per_s: float, machine_flops: Optional[float]):
  if not machine_flops or not flops_per_unit:
    return None
  return flops_per_unit * units_per_s / machine_flops


def torch_unavailable(args) -> Optional[str]:
  """None when the torch comparator can run, else the reason it cannot."""
  if args.no_torch:
    return "skipped (--no-torch)"
  if importlib.util.find_spec("torch") is None:
    return "torch is not installed (pip install -r requirements-bench.txt)"
  return None


def measure(args, p: Dict[str, Any], log) -> Dict[str, Any]:
  """Runs every requested measurement and assembles the JSON object of each."""
  env = worker_env(args.device, args.xla_flags, args.fast_compile,
                   "--xla_cpu_multi_thread_eigen=false" if args.quick else "")
  torch_reason = torch_unavailable(args)
  p = dict(p, torch_device="cpu" if args.device == "cpu" else "cuda")
  if torch_reason is None and args.device != "cpu":
    probe = subprocess.run([sys.executable, "-c", "import torch; print(torch.cuda.is_available())"],
                           capture_output=True, text=True, env=env)
    if probe.stdout.strip() != "True":
      torch_reason = "this torch build has no CUDA; the comparator runs on CPU only"
  wanted = ["machine"] + [s for s in args.sections if s != "machine"]
  jax_sections = [s for s in wanted if s not in ("scoring_memory",)]
  torch_sections = ([s for s in wanted if s in ("machine", "train_step", "adversary_step",
                                                "scoring")] if torch_reason is None else [])
  # --quick: one process per backend (a smoke run: start-up dominates); otherwise one per
  # measurement, so each peak RSS and each XLA flag setting is its own.
  group = (lambda xs: [xs] if xs else []) if args.quick else (lambda xs: [[x] for x in xs])
  figures: Dict[str, Dict[str, Any]] = {"jax": {}, "torch": {}, "numpy": {}}
  errors: Dict[str, str] = {}

  def save_partial():
    # Raw figures so far, so that a long run that is stopped keeps what it measured.
    with open(args.out + ".partial", "w") as f:
      json.dump({"figures": figures, "errors": errors, "sizes": p}, f, default=float)

  if not args.quick:
    # Paired timing for the comparisons: JAX and PyTorch alternate repetition by repetition.
    for section in [s for s in torch_sections if s != "machine"]:
      reps = p["scoring_reps"] if section == "scoring" else p["reps"]
      try:
        pair = run_pair(section, p, {"jax": env, "torch": env}, reps, log=log)
      except WorkerError as error:
        log(f"  {error}")
        errors[section] = str(error)[-800:]
        continue
      figures["jax"][section], figures["torch"][section] = pair["jax"], pair["torch"]
      save_partial()
    done = set(figures["jax"])
    jax_sections = [s for s in jax_sections if s not in done]
    torch_sections = [s for s in torch_sections if s not in done and s not in errors]
  jobs = []   # (backend, sections, params, key prefix)
  for backend, sections in (("jax", jax_sections), ("torch", torch_sections),
                            ("numpy", ["coreset"] if "coreset" in wanted else [])):
    jobs += [(backend, chunk, p, "") for chunk in group(sections)]
  if "scoring_memory" in wanted:
    for n in p["memory_pools"]:
      jobs.append(("jax", ["scoring_memory_one"], dict(
          pool=n, width=p["memory_width"], image_size=p["memory_image_size"],
          scoring_batch_size=p["memory_batch_size"], scan_steps=p["scan_steps"],
          outputs="scalar"), f"scoring_memory_{n}"))

  def run_job(job):
    backend, sections, params, key = job
    try:
      out = run_worker(sections, backend, params, env, log=log)
    except WorkerError as error:
      if backend == "jax":
        raise
      log(f"  {error}")
      for section in sections:
        errors[section] = str(error)[-800:]
      return
    if key:
      figures[backend][key] = out["scoring_memory_one"]
    else:
      figures[backend].update(out)
    save_partial()

  if args.quick:
    # A smoke run: the workers are mostly compiling (one core each), so run them together.
    with concurrent.futures.ThreadPoolExecutor(max_workers=len(jobs) or 1) as pool:
      for future in [pool.submit(run_job, job) for job in jobs]:
        future.result()
  else:
    for job in jobs:
      run_job(job)
  return assemble(figures, p, wanted, torch_reason, errors, log)


def assemble(figures, p, wanted, torch_reason, errors, log) -> Dict[str, Any]:
  jx, tx = figures["jax"], figures["torch"]
  results: Dict[str, Any] = {}
  mismatches: List[str] = []

  def torch_side(entry, section):
    if section in tx:
      return tx[section]
    entry["torch_reason"] = errors.get(section, torch_reason)
    return None

  m = jx["machine"]
  # The machine's measured fp32 matmul rate: the faster of JAX's and PyTorch's matmul.
  machine_flops = max(m["matmul_flops"], tx.get("machine", {}).get("matmul_fp32_flops", 0.0))
  results["machine"] = {"jax": m, "device": m["device"], "matmul_fp32_flops": machine_flops}
  t = torch_side(results["machine"], "machine")
  results["machine"]["torch"] = t
  results["machine"]["ratio"] = _ratio(machine_flops, (t or {}).get("matmul_fp32_flops"))
  log(f"machine: {m['device']}; fp32 matmul {machine_flops / 1e9:.1f} GFLOP/s (jax)"
      + (f", {t['matmul_fp32_flops'] / 1e9:.1f} GFLOP/s (torch)" if t else ""))

  def comparison(section, rate, flops_per_unit, sizes):
    j = jx[section]
    entry = {"jax": j, "torch": None, "ratio": None, "target": TARGETS[section],
             "sizes": {k: p[k] for k in sizes}}
    j["flop_fraction"] = _fraction(flops_per_unit(j), j[rate], machine_flops)
    t = torch_side(entry, section)
    if t is not None:
      # The same model and shapes: XLA's FLOP count applies to the PyTorch step too.
      t["flop_fraction"] = _fraction(flops_per_unit(j), t[rate], machine_flops)
      entry["torch"] = t
      entry["ratio"] = _ratio(j[rate], t[rate])
      if j.get("paired_seconds") and t.get("paired_seconds"):
        entry["ratio_paired"] = statistics.median(
            ts / js for js, ts in zip(j["paired_seconds"], t["paired_seconds"]))
      cpu_rate = rate.replace("_per_s", "_per_cpu_s")
      if cpu_rate in j and cpu_rate in t:
        entry["ratio_cpu_time"] = _ratio(j[cpu_rate], t[cpu_rate])
      if "param_count" in t:
        entry["param_counts"] = {"jax": j["param_count"], "torch": t["param_count"]}
        diff = abs(j["param_count"] - t["param_count"]) / max(1, j["param_count"])
        log(f"  {section} parameters: jax {j['param_count']:,} | torch {t['param_count']:,} "
            f"(difference {100 * diff:.3f}%)")
        if diff > 0.01:
          mismatches.append(section)
    entry["target_met"] = None if entry["ratio"] is None else entry["ratio"] >= entry["target"]
    log(f"{section}: jax {j[rate]:.4g} {rate}" + (
        f", torch {t[rate]:.4g}, ratio {entry['ratio']:.3f} (target {entry['target']})"
        if t else f" (torch: {entry.get('torch_reason')})"))
    return entry

  if "train_step" in wanted:
    results["train_step"] = comparison("train_step", "images_per_s",
                                       lambda j: j["flops_per_step"] / p["batch_size"],
                                       ("batch_size", "image_size", "width"))
  if "adversary_step" in wanted:
    results["adversary_step"] = comparison(
        "adversary_step", "iterations_per_s", lambda j: j["flops_per_iteration"],
        ("vae_batch_size", "image_size", "vae_width", "latent_dim"))
  if "scoring" in wanted:
    results["scoring"] = comparison(
        "scoring", "images_per_s", lambda j: j["flops_per_image"],
        ("pool", "scoring_batch_size", "scan_steps", "image_size", "width"))
  if "coreset" in wanted:
    j, n = jx["coreset"], figures["numpy"]["coreset"]
    ratio = _ratio(n["seconds"], j["seconds"])
    jax_picks, numpy_picks = j.pop("picks"), n.pop("picks")
    agree = len(set(jax_picks) & set(numpy_picks)) / max(1, p["budget"])
    # scikit-learn computes the reference's distances in float64 blocks: where the pick
    # orders first differ (None: they agree throughout).
    first_order_difference = next(
        (i for i, (a, b) in enumerate(zip(jax_picks, numpy_picks)) if a != b), None)
    results["coreset"] = {
        "jax": j, "numpy": n, "ratio": ratio, "target": TARGETS["coreset"],
        "target_met": ratio >= TARGETS["coreset"], "picks_agree": agree,
        "first_order_difference": first_order_difference,
        "sizes": {k: p[k] for k in ("candidates", "labeled", "dim", "budget")}}
    log(f"coreset: jax {j['seconds']:.3f} s, numpy {n['seconds']:.3f} s, ratio {ratio:.1f} "
        f"(target 20), same picks {agree:.3f}, same order "
        f"{'throughout' if first_order_difference is None else f'until pick {first_order_difference}'}")
  if "badge_memory" in wanted:
    j = jx["badge_memory"]
    results["badge_memory"] = {
        "jax": j, "torch": None, "ratio": None, "torch_reason": "no comparator (a memory bound)",
        "sizes": {k: j[k] for k in ("candidates", "classes", "dim", "budget")}}
    log(f"badge_memory: {j['candidates']:,} x {j['classes']} classes x {j['dim']}-d: XLA temp "
        f"{j['temp_mb']:.1f} MiB + arguments {j['argument_mb']:.1f} MiB (the explicit matrix: "
        f"{j['explicit_matrix_mb']:,.0f} MiB), peak RSS {j['peak_rss_before_mb']:.0f} -> "
        f"{j['peak_rss_mb']:.0f} MiB over the call, {j['seconds']:.2f} s for {j['budget']} picks")
  if "stage" in wanted:
    j = jx["stage"]
    results["stage"] = {
        "jax": j, "torch": None, "ratio": None,
        "torch_reason": "no comparator: the reference's whole stage is not reimplemented",
        "config": "configs/digits.py" + (" shrunk by --quick" if p["stage"] else "")}
    log(f"stage: warm {j['seconds']:.2f} s, first (with compilation) "
        f"{j['first_stage_seconds']:.2f} s")
  if "cifar10_stage" in wanted:
    j = jx["cifar10_stage"]
    results["cifar10_stage"] = {
        "jax": j, "torch": None, "ratio": None,
        "torch_reason": "no comparator: the reference's whole stage is not reimplemented",
        "config": "configs/cifar10.py on synthetic data (benchmarks/stage.py)"}
    log(f"cifar10_stage: {j['seconds']:.1f} s (train {j['train_seconds']:.1f} s at "
        f"{j['steps_per_second']:.1f} steps/s, select {j['select_seconds']:.1f} s)")
  if "scoring_memory" in wanted:
    small, large = (jx[f"scoring_memory_{n}"] for n in p["memory_pools"])
    ratio = large["peak_rss_mb"] / small["peak_rss_mb"]
    results["scoring_memory"] = {
        "jax": {"small": small, "large": large, "rss_ratio": ratio,
                "small_pool": small["pool"], "large_pool": large["pool"]},
        "torch": None, "ratio": None, "torch_reason": "no comparator (a memory bound)",
        "target": 1.5, "target_met": ratio <= 1.5}
    log(f"scoring_memory: {small['pool']:,} -> {small['peak_rss_mb']:.0f} MiB, "
        f"{large['pool']:,} -> {large['peak_rss_mb']:.0f} MiB (x{ratio:.2f}, target <= 1.5)")
  if mismatches:
    results["param_count_mismatch"] = mismatches
  return results


def structure_levers(args, p, adv, env, log) -> Dict[str, Any]:
  """Whole steps with the convolutions written differently (same parameters, same outputs
  to ~1e-6; see tavaal_jax.models.phase_conv / jax_bench.use_s2d_strided_conv), paired
  against the package as it is, and an XLA flag on top."""
  ynn = "--xla_cpu_experimental_ynn_fusion_type=dot,eltwise,reduce,individual_convolution"
  flagged = worker_env(args.device, args.xla_flags, args.fast_compile, ynn)
  out: Dict[str, Any] = {}
  for section, sp, variants in (
      # The VAE's encoder convs are PhaseGradConv modules now, which the s2d lever (a patch
      # of nn.Conv) does not touch; YNNPACK is measured on top of the package's form.
      ("adversary_step", adv, {"package": (env, {}),
                               "native convs": (env, {"conv_form": "native"}),
                               "ynn": (flagged, {})}),
      ("train_step", p, {"package": (env, {}), "ynn": (flagged, {}),
                         "s2d conv": (env, {"strided": "s2d"}),
                         "s2d conv + ynn": (flagged, {"strided": "s2d"})})):
    labels = list(variants)[:max(2, args.lever_parallel)]
    group = run_group(section, sp, {k: ("jax", variants[k][0], dict(sp, **variants[k][1]))
                                    for k in labels}, p["reps"], log=log, tolerate_failures=True)
    base = group.get("package", {})
    rows = {}
    for label, r in group.items():
      rows[label] = r
      if "error" not in r and base.get("paired_seconds"):
        r["speedup_paired"] = statistics.median(
            b / a for b, a in zip(base["paired_seconds"], r["paired_seconds"]))
        log(f"  {section} {label}: x{r['speedup_paired']:.2f} (paired)")
    out[section] = {"variants": rows, "sizes": {k: sp[k] for k in (
        ("vae_width", "vae_batch_size", "latent_dim", "image_size") if section == "adversary_step"
        else ("batch_size", "image_size", "width"))}, "ynn_flag": ynn}
  return out


def measure_levers(args, profile: Dict[str, Any], log) -> Dict[str, Any]:
  """The levers that can be pulled from outside the package, each measured here."""
  p = dict(profile, reps=max(3, profile["reps"] // 2 + 1))
  levers: Dict[str, Any] = {"xla_flags": {}, "scoring_chunks": []}
  # Every flag setting in its own process, all timed round-robin (see run_group), so the
  # speed-ups are paired against the baseline under the same load.
  # At most `args.lever_parallel` processes at once (memory): the flags go in groups, each
  # with its own baseline.
  flags = [f for f in args.flag_levers if f]
  size = max(1, args.lever_parallel - 1)
  # The JAX VAE + D iteration at the paper's sizes takes minutes on 2 cores (see
  # adversary_step), so its levers run at a smaller VAE unless --lever-vae-width says otherwise.
  adv = dict(p, vae_width=args.lever_vae_width, vae_batch_size=args.lever_vae_batch_size)
  levers["adversary_sizes"] = {k: adv[k] for k in ("vae_width", "vae_batch_size", "latent_dim",
                                                   "image_size")}
  env = worker_env(args.device, args.xla_flags, args.fast_compile)
  if "flags" in args.lever_sets:
    for section, key in (("train_step", "images_per_s"), ("adversary_step", "iterations_per_s")):
      sp = adv if section == "adversary_step" else p
      rows = levers["xla_flags"].setdefault(section, {})
      for start in range(0, len(flags), size):
        sides = {"(none)": ("jax", worker_env(args.device, args.xla_flags, args.fast_compile))}
        sides.update({f: ("jax", worker_env(args.device, args.xla_flags, args.fast_compile, f))
                      for f in flags[start:start + size]})
        group = run_group(section, sp, sides, p["reps"], log=log, tolerate_failures=True)
        base = group.get("(none)", {})
        for label, out in group.items():
          if label == "(none)":
            label = f"(none) #{start // size + 1}"
          if "error" in out:
            rows[label] = out
            continue
          row = {key: out[key], "seconds_all": out["seconds_all"],
                 "compile_seconds": out["compile_seconds"], "load_average": out["load_average"]}
          if base.get("paired_seconds"):
            row["speedup_paired"] = statistics.median(
                b / s for b, s in zip(base["paired_seconds"], out["paired_seconds"]))
            row["speedup"] = out[key] / base[key]
          rows[label] = row
          log(f"  {section} {label}: {out[key]:.4g} {key}, x{row.get('speedup_paired', 1):.3f} "
              "(paired)")
  if "structure" in args.lever_sets:
    levers["structure"] = structure_levers(args, p, adv, env, log)
  if "chunks" in args.lever_sets:
    chunk_sides = {f"{batch}x{steps}": ("jax", env, dict(
        p, scoring_batch_size=batch, scan_steps=steps, pool=args.lever_pool or p["pool"]))
        for batch, steps in args.chunk_grid}
    group = {}
    labels = list(chunk_sides)
    for start in range(0, len(labels), args.lever_parallel):
      group.update(run_group("scoring", p, {k: chunk_sides[k] for k in
                                            labels[start:start + args.lever_parallel]},
                             max(2, profile["scoring_reps"]), log=log, tolerate_failures=True))
    first = next(iter(group.values()))
    for label, out in group.items():
      if "error" in out:
        levers["scoring_chunks"].append({"chunk": label, **out})
        continue
      row = {k: out[k] for k in ("batch_size", "scan_steps", "pool", "padded_images",
                                 "images_per_s", "seconds_all", "peak_rss_mb", "warmup_seconds",
                                 "load_average")}
      if first.get("paired_seconds"):
        row["speedup_paired_vs_first"] = statistics.median(
            a / b for a, b in zip(first["paired_seconds"], out["paired_seconds"]))
      levers["scoring_chunks"].append(row)
      log(f"  scoring batch {label}: {out['images_per_s']:.1f} images/s")
  if "scan" in args.lever_sets:
    small = dict(batch_size=32, image_size=16, width=16, scan_steps=8, reps=p["reps"])
    if args.quick:
      small = dict(profile, scan_steps=2)
    levers["train_step_scan"] = run_worker(["train_step_scan"], "jax", small, env)[
        "train_step_scan"]
    levers["train_step_scan"]["sizes"] = {k: small[k] for k in ("batch_size", "image_size",
                                                                "width")}
    log(f"  lax.scan over {small['scan_steps']} train steps at digits sizes: "
        f"x{levers['train_step_scan']['speedup']:.2f}")
  if "deconv" in args.lever_sets:
    levers["deconv"] = run_worker(["deconv"], "jax", p, env)["deconv"]
    for row in levers["deconv"]["layers"]:
      log(f"  deconv {row['input']}: x{row['speedup']:.2f} as phase convs "
          f"(max rel diff {row['max_rel_diff']:.1e})")
  if "winograd" in args.lever_sets:
    levers["winograd"] = run_worker(["winograd"], "jax", p, env)["winograd"]
    for row in levers["winograd"]["layers"]:
      parts = ", ".join(f"{k} {row[k]['seconds'] * 1e3:.0f} ms" for k in
                        ("direct", "input_transform", "batched_dot", "output_transform"))
      log(f"  winograd {row['input']}: x{row['speedup']:.2f} against XLA's conv ({parts}; "
          f"max rel diff {row['max_rel_diff']:.1e})")
  if "coreset" in args.lever_sets:
    levers["coreset"] = run_worker(["coreset_lever"], "jax", p, env)["coreset_lever"]
    log(f"  coreset with hoisted norms: x{levers['coreset']['speedup']:.2f}, same picks "
        f"{levers['coreset']['same_picks']:.3f}")
  return levers


def parse_args(argv=None):
  parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                   formatter_class=argparse.RawDescriptionHelpFormatter)
  parser.add_argument("--out", help="where to write the JSON figures")
  parser.add_argument("--quick", action="store_true", help="tiny sizes: a smoke run")
  parser.add_argument("--batch-size", type=int, help="train-step batch (default 128)")
  parser.add_argument("--image-size", type=int, help="square image side (default 32)")
  parser.add_argument("--width", type=int, help="ResNet-18 base width (default 64)")
  parser.add_argument("--vae-batch-size", type=int, help="VAE batch per side (default 128)")
  parser.add_argument("--vae-width", type=int, help="VAE base width (default 128)")
  parser.add_argument("--latent-dim", type=int, help="VAE latent size (default 64)")
  parser.add_argument("--pool", type=int, help="scoring pool size (default 10000)")
  parser.add_argument("--scoring-batch-size", type=int, help="score_pool batch (default 500)")
  parser.add_argument("--scan-steps", type=int, help="score_pool scan_steps (default 8)")
  parser.add_argument("--memory-pools", help="two pool sizes, e.g. 10000,1000000")
  parser.add_argument("--reps", type=int, help="timed repetitions per step measurement")
  parser.add_argument("--warmup", type=int, help="untimed calls before timing (default 2)")
  parser.add_argument("--scoring-reps", type=int, help="timed scoring passes (default 2)")
  parser.add_argument("--memory-image-size", type=int, help="image side of scoring_memory")
  parser.add_argument("--device", default="cpu", help="cpu | gpu | tpu (JAX's platform)")
  parser.add_argument("--sections", default=",".join(SECTIONS),
                      help=f"comma-separated subset of {', '.join(SECTIONS)} "
                           f"(also: {', '.join(EXTRA_SECTIONS)})")
  parser.add_argument("--no-torch", action="store_true", help="skip the PyTorch comparator")
  parser.add_argument("--xla-flags", default="", help="XLA_FLAGS for every JAX worker")
  parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                      help="extra worker parameter, e.g. conv_form=native or "
                           "strided=s2d (levers of the JAX side), torch_keep_freed_memory=1 "
                           "(the package's malloc settings for PyTorch too; BENCHMARKS.md), "
                           "dtype=bfloat16 (model.dtype of the JAX steps and stages), "
                           "cifar10_stage.epochs=1 (a field of a nested size dict)")
  parser.add_argument("--fast-compile", action="store_true",
                      help="jax_disable_most_optimizations in the workers (smoke runs only)")
  parser.add_argument("--levers", action="store_true",
                      help="also sweep XLA flags, scoring chunks, lax.scan steps, deconv form")
  parser.add_argument("--levers-only", action="store_true", help="only the lever sweeps")
  parser.add_argument("--lever-sets",
                      default="flags,structure,chunks,scan,deconv,winograd,coreset",
                      help="which lever sweeps --levers runs")
  parser.add_argument("--lever-vae-width", type=int, default=32,
                      help="VAE width of the adversary levers (the full one is slow)")
  parser.add_argument("--lever-vae-batch-size", type=int, default=64,
                      help="VAE batch per side of the adversary levers")
  parser.add_argument("--lever-parallel", type=int, default=4,
                      help="most worker processes alive at once in a lever group (memory)")
  parser.add_argument("--chunk-grid", default="250x8,500x4,500x8,1000x2,1000x10,2000x5",
                      help="score_pool batch x scan_steps pairs tried by --levers")
  parser.add_argument("--lever-pool", type=int, help="pool size for the chunk sweep")
  parser.add_argument("--flag-levers", default="|".join(XLA_FLAG_LEVERS),
                      help="'|'-separated XLA_FLAGS settings tried by --levers ('' = none)")
  # Internal: one measurement in this process.
  parser.add_argument("--worker", help=argparse.SUPPRESS)
  parser.add_argument("--backend", help=argparse.SUPPRESS)
  parser.add_argument("--params", help=argparse.SUPPRESS)
  parser.add_argument("--result", help=argparse.SUPPRESS)
  parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
  args = parser.parse_args(argv)
  if args.worker is None and not args.out:
    parser.error("--out is required")
  args.sections = [s for s in args.sections.split(",") if s]
  unknown = set(args.sections) - set(SECTIONS + EXTRA_SECTIONS)
  if unknown:
    parser.error(f"unknown sections {sorted(unknown)}; valid: "
                 f"{', '.join(SECTIONS + EXTRA_SECTIONS)}")
  args.flag_levers = [""] + [f for f in args.flag_levers.split("|") if f]
  args.chunk_grid = [tuple(int(v) for v in pair.split("x")) for pair in
                     args.chunk_grid.split(",") if pair]
  return args


def profile_from(args) -> Dict[str, Any]:
  profile = dict(QUICK if args.quick else FULL)
  for name in ("batch_size", "image_size", "width", "vae_batch_size", "vae_width",
               "latent_dim", "pool", "scoring_batch_size", "scan_steps", "reps", "warmup",
               "scoring_reps", "memory_image_size"):
    value = getattr(args, name)
    if value is not None:
      profile[name] = value
  for item in args.set:
    key, _, value = item.partition("=")
    value = int(value) if value.lstrip("-").isdigit() else value
    if "." in key:   # e.g. cifar10_stage.epochs=1: one field of a nested size dict
      outer, inner = key.split(".", 1)
      profile[outer] = dict(profile.get(outer) or {}, **{inner: value})
    else:
      profile[key] = value
  if args.memory_pools:
    profile["memory_pools"] = tuple(int(v) for v in args.memory_pools.split(","))
  return profile


def main(argv=None) -> int:
  args = parse_args(argv)
  if args.worker:
    _worker(args.worker, args.backend, json.loads(args.params), args.result, args.serve)
    return 0

  def log(message):
    print(message, flush=True)

  profile = profile_from(args)
  command = "python -m benchmarks.run " + " ".join(
      shlex.quote(a) for a in (sys.argv[1:] if argv is None else argv))
  log(f"benchmarks: {'quick' if args.quick else 'full'} run, sections {', '.join(args.sections)}")
  start = time.perf_counter()
  results = {} if args.levers_only else measure(args, profile, log)
  if args.levers or args.levers_only:
    results["levers"] = measure_levers(args, profile, log)
  results["meta"] = {
      "command": command, "quick": args.quick, "sizes": profile, "device": args.device,
      "xla_flags": args.xla_flags, "python": platform.python_version(),
      "seconds": time.perf_counter() - start,
      "date": time.strftime("%Y-%m-%d %H:%M:%S")}
  os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
  with open(args.out, "w") as f:
    json.dump(results, f, indent=1, default=float)
  log(f"wrote {args.out} ({results['meta']['seconds']:.0f} s)")
  if results.get("param_count_mismatch"):
    raise AssertionError("JAX and PyTorch parameter counts differ by more than 1% in "
                         f"{results['param_count_mismatch']}")
  return 0


if __name__ == "__main__":
  sys.exit(main())
