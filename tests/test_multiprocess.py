"""Two processes on 127.0.0.1 run one experiment together, as two hosts would."""

import json
import os
import sys

from tavaal_jax import experiment
from tests.parallel_checks import tiny_config

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "launch"))
import local_cpu  # noqa: E402

# tests.parallel_checks.tiny_config("tavaal") as command-line overrides.
TINY_FLAGS = [
    "--config=configs/digits.py", "--config.strategy.name=tavaal", "--config.model.width=4",
    "--config.train.epochs=1", "--config.train.batch_size=8",
    "--config.train.eval_batch_size=64", "--config.al.stages=2", "--config.al.initial=20",
    "--config.al.budget=20", "--config.al.subset=100", "--config.strategy.batch_size=16",
    "--config.strategy.mc_passes=3", "--config.vae.width=4", "--config.vae.latent_dim=4",
    "--config.vae.epochs=1", "--config.vae.batch_size=16",
    "--config.discriminator.hidden=(8,)",
]


def _rows(workdir, name):
  with open(os.path.join(workdir, name)) as f:
    return [json.loads(line) for line in f]


def test_two_processes_agree_write_once_and_match_one_process(tmp_path, monkeypatch):
  monkeypatch.chdir(ROOT)
  together = str(tmp_path / "together")
  assert local_cpu.launch(2, TINY_FLAGS + [f"--workdir={together}"], timeout=600) == 0
  alone = str(tmp_path / "alone")
  experiment.run(tiny_config("tavaal"), alone)
  # Process 0 alone wrote: one row per stage, not one per process.
  assert [r["stage"] for r in _rows(together, "results.jsonl")] == [0, 1]
  assert _rows(together, "picks.jsonl") == _rows(alone, "picks.jsonl")
  for a, b in zip(_rows(together, "results.jsonl"), _rows(alone, "results.jsonl")):
    assert abs(a["test_accuracy"] - b["test_accuracy"]) <= 2 / 360 + 1e-9
