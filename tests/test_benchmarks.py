"""Smoke test of the benchmark harness: `python -m benchmarks.run --quick` at tiny sizes.

No timed assertions: only that every measurement is there and its figures are positive.
Without torch installed, the comparator must be recorded as null with a reason.
"""

import importlib.util
import json
import os
import subprocess
import sys


REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FIELDS = ("machine", "train_step", "adversary_step", "scoring", "coreset", "badge_memory",
          "stage", "scoring_memory")


def _positive(entry, *keys):
  for key in keys:
    value = entry[key]
    assert isinstance(value, (int, float)) and value > 0, (key, value)


def test_quick_run_writes_every_field(tmp_path):
  out = tmp_path / "bench.json"
  env = dict(os.environ, PYTHONPATH=REPO + os.pathsep + os.environ.get("PYTHONPATH", ""))
  env.pop("XLA_FLAGS", None)
  proc = subprocess.run(
      [sys.executable, "-m", "benchmarks.run", "--quick", "--fast-compile", "--out", str(out)],
      cwd=REPO, env=env, capture_output=True, text=True, timeout=900)
  assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
  results = json.loads(out.read_text())
  for field in FIELDS:
    assert field in results, field
    assert "jax" in results[field], field

  have_torch = importlib.util.find_spec("torch") is not None
  _positive(results["machine"], "matmul_fp32_flops")
  for field, rate in (("train_step", "images_per_s"), ("adversary_step", "iterations_per_s"),
                      ("scoring", "images_per_s")):
    entry = results[field]
    _positive(entry["jax"], rate, "seconds", "peak_rss_mb")
    if have_torch:
      _positive(entry["torch"], rate, "seconds")
      _positive(entry, "ratio")
      assert entry["param_counts"]["jax"] == entry["param_counts"]["torch"], field
    else:
      assert entry["torch"] is None and entry["ratio"] is None
      assert "torch" in entry["torch_reason"]
  _positive(results["train_step"]["jax"], "compile_seconds", "flops_per_step", "flop_fraction")
  _positive(results["adversary_step"]["jax"], "flops_per_iteration")
  _positive(results["scoring"]["jax"], "flops_per_image")
  _positive(results["coreset"]["jax"], "seconds")
  _positive(results["coreset"]["numpy"], "seconds")
  _positive(results["coreset"], "ratio")
  assert results["coreset"]["picks_agree"] > 0.9
  badge = results["badge_memory"]["jax"]
  _positive(badge, "seconds", "temp_mb", "peak_rss_mb", "explicit_matrix_mb")
  assert badge["distinct_picks"] == badge["budget"]
  _positive(results["stage"]["jax"], "seconds", "first_stage_seconds")
  memory = results["scoring_memory"]["jax"]
  _positive(memory["small"], "peak_rss_mb")
  _positive(memory["large"], "peak_rss_mb")
  assert memory["large_pool"] > memory["small_pool"]
  _positive(memory, "rss_ratio")
