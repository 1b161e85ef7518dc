"""The ranker's predicted losses as TA-VAAL's VAE decoder and discriminator see them (r).

The raw predicted losses of the labeled pool L and the subset S are normalised jointly
(`vae.ranker_input`: 'rank' keeps only the ranking, the paper; 'sigmoid' is the release).
`RankerInputs` fixes that normalisation at training time, so that scoring gives a
candidate the r it had in training. Host-side numpy only.
"""

import dataclasses
from typing import Tuple

import numpy as np

from tavaal_jax.errors import ConfigError

RANKER_INPUTS = ("rank", "sigmoid")


def check_ranker_input(how: str) -> None:
  """ConfigError unless `how` (vae.ranker_input) is one of RANKER_INPUTS."""
  if how not in RANKER_INPUTS:
    raise ConfigError(f"unknown vae.ranker_input {how!r}; valid: {', '.join(RANKER_INPUTS)}")


def _finite(values, name: str) -> np.ndarray:
  values = np.asarray(values, np.float64).reshape(-1)
  if not np.all(np.isfinite(values)):
    raise ValueError(f"{name} contains NaN or infinite predicted losses")
  return values


def normalize_against(values: np.ndarray, reference: np.ndarray, how: str) -> np.ndarray:
  """Normalises predicted losses `values` [n] relative to the pool `reference` [m].

  'rank': the average 0-based rank that each value takes among `reference` (ties share the
  mean of their ranks), divided by m - 1, so in [0, 1]; a value absent from the reference
  falls halfway between its neighbours (clipped to [0, 1]); m = 1 gives 0.5.
  For values drawn from the reference this is exactly the joint rank normalisation.
  'sigmoid': sigmoid(values); the reference is not used.
  Returns float32 [n].
  """
  check_ranker_input(how)
  values = _finite(values, "values")
  if how == "sigmoid":
    return (1.0 / (1.0 + np.exp(-values))).astype(np.float32)
  ref = np.sort(_finite(reference, "reference"))
  m = len(ref)
  if m == 0:
    raise ValueError("rank normalisation needs a non-empty reference pool")
  if m == 1:
    return np.full(values.shape, 0.5, np.float32)
  lo = np.searchsorted(ref, values, side="left")
  hi = np.searchsorted(ref, values, side="right")
  rank = np.where(hi > lo, (lo + hi - 1) / 2.0, lo - 0.5)
  return (np.clip(rank, 0.0, m - 1) / (m - 1)).astype(np.float32)


def normalize_ranker_output(predicted_loss: np.ndarray, how: str) -> np.ndarray:
  """[n] raw predicted losses -> [n] float32: 'rank' (ties averaged, to [0, 1]) or 'sigmoid'."""
  return normalize_against(predicted_loss, predicted_loss, how)


@dataclasses.dataclass(frozen=True)
class RankerInputs:
  """How raw predicted losses become (decoder r, discriminator r), fixed at training time.

  reference: the raw predicted losses of the training pool L + S, sorted. Scoring uses the
  same reference, so a candidate gets the r it had (or would have had) in training.
  """

  how: str
  reference: np.ndarray
  raw_to_discriminator: bool = False

  @classmethod
  def fit(cls, predicted_losses: np.ndarray, how: str,
          raw_to_discriminator: bool = False) -> "RankerInputs":
    check_ranker_input(how)
    return cls(how, np.sort(_finite(predicted_losses, "predicted losses")),
               bool(raw_to_discriminator))

  def __call__(self, predicted_loss: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
    return normalized_inputs(predicted_loss, self)


def normalized_inputs(predicted_loss: np.ndarray, ranker: RankerInputs
                      ) -> Tuple[np.ndarray, np.ndarray]:
  """Raw predicted losses [n] -> (r for the decoder [n], r for D [n]), both float32.

  D gets the normalised r, or the raw predicted loss when `raw_to_discriminator`
  (config.compat.raw_ranker_to_discriminator, the release).
  """
  r_decoder = normalize_against(predicted_loss, ranker.reference, ranker.how)
  if ranker.raw_to_discriminator:
    r_disc = _finite(predicted_loss, "predicted losses").astype(np.float32)
  else:
    r_disc = r_decoder
  return r_decoder, r_disc
