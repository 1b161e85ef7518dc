"""D's probability "labeled" for images: the scoring batch function, a trained adversary's
result, and the scoring of pools (eval mode, batched through `scoring.score_pool`)."""

import dataclasses
from typing import Any, Dict, Optional

import jax
import ml_collections
import numpy as np
from jax.sharding import Mesh

from tavaal_jax.adversary_inputs import RankerInputs, normalized_inputs
from tavaal_jax.adversary_models import AdversaryState
from tavaal_jax.data.base import Dataset
from tavaal_jax.models.discriminator import Discriminator
from tavaal_jax.models.vae import VAE
from tavaal_jax.preprocessing import Preprocessing
from tavaal_jax.scoring import score_pool


@dataclasses.dataclass(frozen=True)
class Scorer:
  """score_pool batch function: D's probability "labeled" in eval mode (hashable, so the
  jitted scoring pass is compiled once per model shape, across calls)."""

  vae: VAE
  disc: Discriminator
  preprocessing: Preprocessing

  def __call__(self, variables, images, extras, key):
    del key
    mu, _ = self.vae.apply(variables["vae"], self.preprocessing.eval_input(images),
                           train=False, method=VAE.encode)
    logits = self.disc.apply(variables["disc"], mu, extras.get("r_disc"))
    return {"prob": jax.nn.sigmoid(logits)}


def scoring_variables(state: AdversaryState) -> Dict[str, Any]:
  """The variables `Scorer` takes: {'vae': params + batch_stats, 'disc': params}."""
  return {"vae": {"params": state.vae.params, "batch_stats": state.vae.batch_stats},
          "disc": {"params": state.disc.params}}


@dataclasses.dataclass
class AdversaryResult:
  """A trained VAE + D and what is needed to score new images consistently.

  history: 'vae_loss', 'disc_loss' (mean per pass over L + S, lists), 'iterations' (int),
  'disc_labeled_mean' / 'disc_unlabeled_mean' (D's mean probability "labeled" on L and S
  after training, eval mode: the means of the two score arrays below).
  ranker: the r normalisation fixed at training time; None for VAAL.
  labeled_scores [n_l] / unlabeled_scores [n_u]: D's probability "labeled" for the
  training pools after training, eval mode, in the order given. unlabeled_scores are what
  `discriminator_scores` returns for S, so selecting from S needs no second pass.
  """

  state: AdversaryState
  history: Dict[str, Any]
  vae: VAE
  discriminator: Discriminator
  preprocessing: Preprocessing
  ranker: Optional[RankerInputs] = None
  labeled_scores: Optional[np.ndarray] = None
  unlabeled_scores: Optional[np.ndarray] = None


def score_images(scorer: Scorer, state: AdversaryState, source, indices: np.ndarray,
           r_disc: Optional[np.ndarray], batch_size: int, mesh: Mesh) -> np.ndarray:
  indices = np.asarray(indices, np.int64)
  if len(indices) == 0:
    return np.zeros(0, np.float32)
  extras = {} if r_disc is None else {"r_disc": np.asarray(r_disc, np.float32)}
  out = score_pool(scorer, scoring_variables(state), source, indices, batch_size=batch_size,
                   mesh=mesh, extras=extras, field="strategy.batch_size")
  return np.asarray(out["prob"], np.float32)


def discriminator_scores(result: AdversaryResult, dataset: Dataset,
                         preprocessing: Optional[Preprocessing], indices: np.ndarray,
                         predicted_loss: Optional[np.ndarray],
                         config: ml_collections.ConfigDict, mesh: Mesh) -> np.ndarray:
  """D's probability "labeled" [n] for the training images `indices` [n], eval mode.

  predicted_loss: raw ranker outputs aligned with `indices` (TA-VAAL; normalised against
  the pool the adversary was trained on, exactly as in training), or None (VAAL).
  Batches of config.strategy.batch_size go through `scoring.score_pool`.
  """
  if (predicted_loss is None) != (result.ranker is None):
    raise ValueError("discriminator_scores needs predicted losses exactly when the adversary "
                     "was trained with them (TA-VAAL), and none for VAAL")
  indices = np.asarray(indices, np.int64)
  r_disc = None
  if predicted_loss is not None:
    if np.shape(predicted_loss) != indices.shape:
      raise ValueError(f"predicted_loss has shape {np.shape(predicted_loss)}; expected "
                       f"{indices.shape}, one per index")
    r_disc = normalized_inputs(predicted_loss, result.ranker)[1]
  batch_size = int(config.strategy.batch_size)
  scorer = Scorer(result.vae, result.discriminator,
                   result.preprocessing if preprocessing is None else preprocessing)
  return score_images(scorer, result.state, dataset.train, indices, r_disc, batch_size, mesh)
