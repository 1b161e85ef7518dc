"""launch/sweep.py: one real tiny digits run per strategy, the report, resume, failures."""

import importlib.util
import json
import os
import subprocess
import sys
import time

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SWEEP = os.path.join(ROOT, "launch", "sweep.py")
TINY = ["--config.model.width=4", "--config.train.epochs=1", "--config.al.stages=2",
        "--config.al.initial=20", "--config.al.budget=20", "--config.al.subset=100",
        "--config.train.batch_size=8", "--config.train.eval_batch_size=64",
        "--config.vae.width=4", "--set", "vae.latent_dim=4", "--set", "vae.epochs=1",
        "--config.vae.batch_size=16", "--config.discriminator.hidden=(8,)"]


def _sweep_module():
  spec = importlib.util.spec_from_file_location("sweep", SWEEP)
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  return module


def _run_sweep(tmp_path, *args):
  # Compile time dominates the tiny runs, as in conftest.py.
  env = dict(os.environ, JAX_DISABLE_MOST_OPTIMIZATIONS="1")
  return subprocess.run(
      [sys.executable, SWEEP, f"--config={os.path.join(ROOT, 'configs', 'digits.py')}",
       f"--workdir={tmp_path / 'sweep'}", *args],
      cwd=str(tmp_path), env=env, capture_output=True, text=True, timeout=300)


def _rows(path):
  with open(path) as f:
    return [json.loads(line) for line in f]


def test_sweep_runs_each_strategy_reports_and_resumes_without_rerunning(tmp_path):
  # Run from tmp_path, not the checkout: the sweep makes the checkout importable itself.
  start = time.perf_counter()
  first = _run_sweep(tmp_path, "--strategies=random,lloss", "--trials=1", *TINY)
  first_seconds = time.perf_counter() - start
  assert first.returncode == 0, first.stderr[-3000:]
  sweep = tmp_path / "sweep"
  counts = {}
  for strategy in ("random", "lloss"):
    rows = _rows(sweep / strategy / "results.jsonl")
    assert [(r["strategy"], r["stage"]) for r in rows] == [(strategy, 0), (strategy, 1)]
    counts[strategy] = (len(rows), (sweep / strategy / "results.jsonl").stat().st_mtime_ns)
  report = sweep / "report"
  for name in ("summary.csv", "summary.md", "auc.csv", "learning_curves.png",
               "improvement_over_random.png", "ranker_loss.png", "picks_random_trial0.png",
               "picks_lloss_trial0.png", "picks_lloss_stage_1.csv"):
    assert (report / name).exists(), name
  summary_mtime = (report / "summary.csv").stat().st_mtime_ns

  start = time.perf_counter()
  second = _run_sweep(tmp_path, "--strategies=random,lloss", "--trials=1", *TINY)
  seconds = time.perf_counter() - start
  assert second.returncode == 0, second.stderr[-3000:]
  assert second.stderr.count("finished earlier") == 2
  assert "python -m tavaal_jax.main" not in second.stderr   # no driver was started
  for strategy in ("random", "lloss"):
    path = sweep / strategy / "results.jsonl"
    assert (len(_rows(path)), path.stat().st_mtime_ns) == counts[strategy]
  assert (report / "summary.csv").stat().st_mtime_ns != summary_mtime   # report rewritten
  # No training: the report and the interpreter starts only (same load as the first sweep).
  assert seconds < 0.6 * first_seconds, (
      f"the resumed sweep took {seconds:.0f}s, the first {first_seconds:.0f}s")


def test_failing_run_stops_the_sweep_with_its_exit_code_and_name(tmp_path):
  result = _run_sweep(tmp_path, "--strategies=random,lloss", "--trials=1", *TINY,
                      "--set", "al.budget=0")   # after TINY's al.budget: the later one wins
  assert result.returncode == 2
  assert "run 'random' failed with exit code 2" in result.stderr
  assert "al.budget=0 must be positive" in result.stderr
  assert not (tmp_path / "sweep" / "lloss").exists()
  assert not (tmp_path / "sweep" / "report").exists()


def test_bad_sweep_arguments_exit_2_before_any_run(tmp_path):
  result = _run_sweep(tmp_path, "--strategies=random,oracle")
  assert result.returncode == 2
  assert "unknown strategy 'oracle' in --strategies; valid names:" in result.stderr
  assert not (tmp_path / "sweep" / "random").exists()
  result = _run_sweep(tmp_path, "--strategies=random", "--set", "strategy.name=lloss")
  assert result.returncode == 2 and "use --strategies / --trials" in result.stderr


def test_driver_commands_add_dropout_for_mc_dropout_unless_set():
  sweep = _sweep_module()
  args = sweep.parse_args(["--config=configs/digits.py", "--strategies=mc_dropout,random",
                           "--trials=2", "--workdir=w", "--config.seed=3", "--set",
                           "al.budget=7", "--set=seed=4"])
  flags = sweep.overrides(args)
  assert flags == ["--config.seed=3", "--config.al.budget=7", "--config.seed=4"]
  command = sweep.driver_command(args, "mc_dropout", flags)
  assert command == ["-m", "tavaal_jax.main", "--config=configs/digits.py",
                     f"--workdir={os.path.join('w', 'mc_dropout')}",
                     "--config.strategy.name=mc_dropout", "--config.trials=2",
                     *flags, "--config.model.dropout_rate=0.3"]
  assert not any("dropout_rate" in f for f in sweep.driver_command(args, "random", flags))
  args = sweep.parse_args(["--config=c.py", "--strategies=mc_dropout", "--workdir=w",
                           "--set", "model.dropout_rate=0.5"])
  command = sweep.driver_command(args, "mc_dropout", sweep.overrides(args))
  assert [f for f in command if "dropout_rate" in f] == ["--config.model.dropout_rate=0.5"]
  assert not any(f.startswith("--config.trials") for f in command)
  with pytest.raises(sweep.SweepError, match="FIELD=VALUE"):
    sweep.overrides(sweep.parse_args(["--config=c.py", "--strategies=random",
                                      "--workdir=w", "--set", "al.budget"]))
