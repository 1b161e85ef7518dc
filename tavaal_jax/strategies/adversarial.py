"""`vaal` (Sinha et al., 2019) and `tavaal` (Kim et al., 2021): adversarial selection.

A VAE and a discriminator D are trained adversarially on the labeled set and the candidate
subset; the candidates D finds least "labeled-looking" are picked (Algorithm 1: argmin D).
TA-VAAL conditions the VAE decoder and D on the ranker's predicted loss; VAAL does not.
"""

from typing import Optional

import numpy as np

from tavaal_jax import adversary, adversary_config
from tavaal_jax.data.base import ArraySource, ImageSource
from tavaal_jax.data.image_ops import resize_shorter_side
from tavaal_jax.scoring import score_pool
from tavaal_jax.strategies import STRATEGIES
from tavaal_jax.strategies.base import Selection, SelectionContext, ranked


def _predicted_loss(context: SelectionContext, source: ImageSource) -> np.ndarray:
  """The ranker's predicted loss [n] for every image of `source` (n images)."""
  learner = context.learner
  return score_pool(learner.scoring_fn(("predicted_loss",)), context.learner_state, source,
                    np.arange(len(source)), batch_size=context.config.strategy.batch_size,
                    mesh=learner.mesh, field="strategy.batch_size")["predicted_loss"]


def select_adversarial(context: SelectionContext, use_ranker: bool) -> Selection:
  """Trains VAE + D for this stage, then picks the `budget` candidates with the lowest D.

  L and S are read from the source once: the ranker's scoring, the adversary's training
  and D's scores of S (computed once, at the end of training) all use those images.
  """
  config, learner = context.config, context.learner
  adversary_config.check_config(config, context.dataset.image_shape, learner.mesh)
  images_l, _ = context.dataset.train.get(context.labeled_idx)
  images_s, _ = context.dataset.train.get(context.candidate_idx)
  # The ranker scores the learner's images; the VAE sees them at vae.image_size, so that a
  # segmentation dataset's large images (Cityscapes) do not set the VAE's size.
  vae_size = int(config.vae.get("image_size", 0))
  loss_labeled: Optional[np.ndarray] = None
  loss_candidates: Optional[np.ndarray] = None
  if use_ranker:
    loss_labeled = _predicted_loss(context, ArraySource(images_l, np.zeros(len(images_l))))
    loss_candidates = _predicted_loss(context, ArraySource(images_s, np.zeros(len(images_s))))
  result = adversary.fit_adversary(
      config, learner.preprocessing, resize_shorter_side(images_l, vae_size),
      resize_shorter_side(images_s, vae_size), loss_labeled, loss_candidates,
      context.key, context.rng, learner.mesh)
  # D in eval mode after training, on S with the r it was trained with: exactly what
  # `adversary_scoring.discriminator_scores(result, ..., context.candidate_idx, ...)` returns.
  scores = result.unlabeled_scores
  # VAE / D losses per pass, D's mean score on the labeled set and on the candidates.
  context.diagnostics.update(result.history)
  # argmin D: the lowest scores are the most "unlabeled-looking".
  return ranked(context.candidate_idx, scores, context.budget, "discriminator_probability",
                lowest_first=True)


@STRATEGIES.register("vaal", adversary=True)
def select_vaal(context: SelectionContext) -> Selection:
  return select_adversarial(context, use_ranker=False)


@STRATEGIES.register("tavaal", adversary=True, ranker=True)
def select_tavaal(context: SelectionContext) -> Selection:
  return select_adversarial(context, use_ranker=True)
