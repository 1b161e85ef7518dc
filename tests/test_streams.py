"""The random streams are a contract: stored studies are reproduced only with the same
purposes' numbers and draws. A change that alters them fails here, and must be made on
purpose (with these values updated and the change announced)."""

import json
import os

import jax
import numpy as np

from tavaal_jax import experiment
from tavaal_jax.streams import HostStream, JaxStream, host_rng, jax_key

# The picks rows of the 2-stage digits run below (1 device, seed 0): the initial pool
# (HostStream.INITIAL_POOL) and stage 1's random picks (CANDIDATE_SUBSET, SELECTION).
PINNED_PICKS = [
    [23, 58, 107, 249, 383, 437, 720, 725, 780, 804, 868, 903, 906, 927, 1045, 1160, 1206,
     1304, 1343, 1390],
    [86, 322, 170, 964, 1118, 342, 408, 384, 416, 770, 1078, 146, 1303, 1399, 1353, 289, 257,
     638, 1123, 865],
]
# jax.random.key_data(jax_key(seed=0, trial=1, stage=2, purpose)).
PINNED_KEYS = {JaxStream.LEARNER: [4146040655, 930402587],
               JaxStream.SELECTION: [1156673335, 2394386628],
               JaxStream.INDEPENDENT: [2707267266, 2351483245]}


def test_purposes_keep_their_numbers():
  assert {p.name: int(p) for p in HostStream} == {
      "INITIAL_POOL": 0, "CANDIDATE_SUBSET": 1, "SELECTION": 2, "TRAIN_ORDER": 3,
      "INDEPENDENT_ORDER": 4}
  assert {p.name: int(p) for p in JaxStream} == {"LEARNER": 0, "SELECTION": 1,
                                                 "INDEPENDENT": 2}


def test_streams_give_the_pinned_draws():
  for purpose, data in PINNED_KEYS.items():
    assert jax.random.key_data(jax_key(0, 1, 2, purpose)).tolist() == data
  # Every purpose draws its own numbers.
  draws = [host_rng(0, 1, 2, p).integers(2**31) for p in HostStream]
  assert len(set(draws)) == len(draws)


def test_two_stage_digits_run_picks_the_pinned_indices(tiny_digits_config, tmp_path):
  config = tiny_digits_config   # random selection, 20 + 20 labels
  config.al.stages = 2
  workdir = str(tmp_path / "run")
  experiment.run(config, workdir)
  with open(os.path.join(workdir, "picks.jsonl")) as f:
    picks = [json.loads(line)["indices"] for line in f]
  assert picks == PINNED_PICKS
  assert np.array_equal(experiment.initial_pool(config, 0, 1437), PINNED_PICKS[0])
