"""benchmarks/accelerator.sh at tiny sizes on the CPU, so that the GPU run's script cannot rot.

No timed assertions: only that the script exits 0 and its JSON holds every section with
positive figures. No wheel folder: the install step is skipped (the packages are here).
"""

import json
import os
import subprocess
import sys

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SCRIPT = os.path.join(REPO, "benchmarks", "accelerator.sh")


def _positive(entry, *keys):
  for key in keys:
    value = entry[key]
    assert isinstance(value, (int, float)) and value > 0, (key, value)


def test_script_writes_every_section(tmp_path):
  out = tmp_path / "out"
  env = dict(os.environ, OUT=str(out), PYTHON=sys.executable, ACCEL_DEVICE="cpu",
             ACCEL_SIZE="tiny",
             # The tavaal selection's compilations would double the run; the steps of the
             # VAE + D are in adversary_step, and the tests of the strategies cover the rest.
             ACCEL_STAGE="strategy=random", ACCEL_TIMEOUT="600")
  env.pop("XLA_FLAGS", None)
  # Where the wheel folder is filled, the script would install from it: not here.
  wheels = os.path.join(REPO, ".whl")
  if os.path.isdir(wheels) and os.listdir(wheels):
    env["ACCEL_SKIP_WHEELS"] = "1"
  proc = subprocess.run(["bash", SCRIPT], cwd=REPO, env=env, capture_output=True, text=True,
                        timeout=900)
  assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
  results = json.loads((out / "bench.json").read_text())
  assert (out / "env.txt").exists() and (out / "bench.log").exists()
  _positive(results["machine"], "matmul_fp32_flops")
  assert results["meta"]["sizes"]["dtype"] == "float32"
  for field, rate in (("train_step", "images_per_s"), ("adversary_step", "iterations_per_s"),
                      ("scoring", "images_per_s")):
    _positive(results[field]["jax"], rate, "seconds", "compile_seconds" if field != "scoring"
              else "warmup_seconds")
  stage = results["cifar10_stage"]["jax"]
  _positive(stage, "seconds", "train_seconds", "steps_per_second", "train_steps", "num_labeled")
  assert stage["strategy"] == "random" and stage["select_seconds"] >= 0
