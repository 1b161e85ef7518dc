"""Bad input: one clear line naming the field and the fix, exit code 2, nothing written."""

import os
import re
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from tavaal_jax import experiment
from tavaal_jax.errors import ConfigError, DataError

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.mark.parametrize("field, value, error, message", [
    ("dataset.name", "imagenet22k", ConfigError, r"unknown dataset 'imagenet22k' in "
     r"dataset.name; valid names: .*cifar10.*digits"),
    ("model.name", "resnet1000", ConfigError, r"unknown model 'resnet1000' in model.name; "
     r"valid names: drn_d_22, resnet18, resnet18_imagenet, vgg16"),
    ("strategy.name", "oracle", ConfigError, r"unknown strategy 'oracle' in strategy.name; "
     r"valid names: .*random"),
    ("al.budget", 0, ConfigError, r"al.budget=0 must be positive"),
    ("al.initial", -5, ConfigError, r"al.initial=-5 must be positive"),
    ("train.epochs", 0, ConfigError, r"train.epochs=0 must be positive"),
    ("al.budget", 600, ConfigError, r"al.budget=600 is larger than the candidate subset"),
    ("al.stages", 80, ConfigError, r"20 \+ \(80 - 1\) \* 20 = 1600 exceeds the 1437 "
     r"training images of 'digits'"),
    ("al.budget", "20", ConfigError, r"al.budget='20' has type str; it must be an integer"),
])
def test_bad_config_values_fail_before_anything_is_written(
    tiny_digits_config, tmp_path, field, value, error, message):
  config = tiny_digits_config
  section, name = field.split(".")
  with config.ignore_type():
    config[section][name] = value
  workdir = tmp_path / "run"
  with pytest.raises(error, match=message):
    experiment.run(config, str(workdir))
  assert not workdir.exists()


def test_missing_npz_path(tiny_digits_config, tmp_path):
  config = tiny_digits_config
  config.dataset.name = "npz"
  config.dataset.path = str(tmp_path / "nowhere.npz")
  with pytest.raises(DataError, match="dataset.path"):
    experiment.run(config, str(tmp_path / "run"))


def test_missing_folder_path(tiny_digits_config, tmp_path):
  config = tiny_digits_config
  config.dataset.name = "folder"
  config.dataset.path = str(tmp_path / "nowhere")
  with pytest.raises(DataError, match="dataset.path"):
    experiment.run(config, str(tmp_path / "run"))


def test_folder_with_mixed_image_shapes(tiny_digits_config, tmp_path):
  for split in ("train", "test"):
    for i, size in enumerate([(8, 8), (9, 7)]):
      os.makedirs(tmp_path / split / "cls", exist_ok=True)
      Image.fromarray(np.zeros(size + (3,), np.uint8)).save(tmp_path / split / "cls" / f"{i}.png")
  config = tiny_digits_config
  config.dataset.name = "folder"
  config.dataset.path = str(tmp_path)
  config.dataset.image_size = 0
  with pytest.raises(DataError, match="dataset.image_size"):
    experiment.run(config, str(tmp_path / "run"))


def _main(*flags, cwd=ROOT):
  return subprocess.run([sys.executable, "-m", "tavaal_jax.main", *flags],
                        cwd=cwd, capture_output=True, text=True, timeout=300)


def test_driver_prints_one_line_and_exits_non_zero(tmp_path):
  workdir = tmp_path / "run"
  result = _main("--config=configs/digits.py", f"--workdir={workdir}",
                 "--config.strategy.name=oracle")
  assert result.returncode == 2
  errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
  assert len(errors) == 1
  assert re.fullmatch(r"error: unknown strategy 'oracle' in strategy.name; valid names: .*random.*",
                      errors[0])
  assert "Traceback" not in result.stderr
  assert not workdir.exists()


def test_driver_rejects_a_field_of_the_wrong_type_from_the_command_line(tmp_path):
  result = _main("--config=configs/digits.py", f"--workdir={tmp_path}",
                 "--config.al.budget=lots")
  assert result.returncode != 0
  assert "al.budget" in result.stderr


@pytest.mark.parametrize("overrides, message", [
    ({"strategy.name": "tavaal", "ranker.loss": "ll3"},
     r"unknown ranker.loss 'll3'; valid names: ll, llv2"),
    ({"strategy.name": "lloss", "ranker.weight": 0.0},
     r"strategy.name='lloss' needs a trained ranker.*ranker.weight"),
    ({"strategy.name": "mc_dropout"}, r"set --config.model.dropout_rate"),
    ({"strategy.name": "tavaal", "vae.latent_dim": 0}, r"vae.latent_dim=0"),
    ({"strategy.name": "vaal", "dataset.image_size": 8}, r"dataset.image_size"),
    ({"strategy.name": "tavaal", "vae.kind": "gan"}, r"vae.kind"),
    ({"strategy.name": "coreset", "strategy.batch_size": 0},
     r"strategy.batch_size=0 must be positive"),
])
def test_strategy_needs_fail_before_training(tiny_digits_config, tmp_path, overrides, message):
  config = tiny_digits_config
  for field, value in overrides.items():
    section, name = field.split(".")
    config[section][name] = value
  workdir = tmp_path / "run"
  with pytest.raises(ConfigError, match=message):
    experiment.run(config, str(workdir))
  assert not workdir.exists()
