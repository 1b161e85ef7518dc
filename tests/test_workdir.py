"""Workdirs that cannot be used stop a run with one clear error, before anything is written."""

import os

import pytest

from tavaal_jax import experiment, outputs
from tavaal_jax.errors import ConfigError


def test_a_workdir_that_cannot_be_written_is_a_config_error(tiny_digits_config, tmp_path):
  blocker = tmp_path / "a_file"
  blocker.write_text("not a directory")
  workdir = str(blocker / "run")
  with pytest.raises(ConfigError, match=r"--workdir=.*/a_file/run cannot be written .*"
                                        r"choose a writable --workdir"):
    experiment.run(tiny_digits_config, workdir)
  assert blocker.read_text() == "not a directory"
  assert sorted(os.listdir(tmp_path)) == ["a_file"]


def test_a_gs_workdir_without_its_library_is_a_config_error(tiny_digits_config, tmp_path):
  try:
    import gcsfs  # noqa: F401  pylint: disable=import-outside-toplevel,unused-import
    pytest.skip("gcsfs is installed: gs:// paths can be reached")
  except ImportError:
    pass
  with pytest.raises(ConfigError, match=r"--workdir=gs://bucket/run cannot be reached: .*"
                                        r"gcsfs.*or use a local --workdir"):
    experiment.run(tiny_digits_config, "gs://bucket/run")


def test_rows_round_trip_through_epath(tmp_path):
  path = tmp_path / "rows.jsonl"
  outputs.append_jsonl(path, {"a": 1})
  outputs.append_jsonl(str(path), {"a": 2})
  assert outputs.read_jsonl(path) == [{"a": 1}, {"a": 2}]
  assert outputs.is_clean_jsonl(path)
  outputs.rewrite_jsonl(path, [{"b": 3}])
  assert outputs.read_jsonl(path) == [{"b": 3}]
  assert sorted(os.listdir(tmp_path)) == ["rows.jsonl"]
