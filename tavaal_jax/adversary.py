"""Adversarial representation learning of VAAL and TA-VAAL: VAE (or WAE) against D.

Once per stage, after the task learner is trained:

  * `train_adversary` / `fit_adversary` train a fresh VAE and discriminator on the labeled
    pool L and the candidate subset S (the "unlabeled" side) with the steps of
    `adversary_steps`; the result keeps D's scores of L and S after training.
  * `adversary_scoring.discriminator_scores` gives D's probability "labeled" for images;
    TA-VAAL / VAAL pick the lowest.

TA-VAAL conditions both on r, the ranker's predicted loss, normalised jointly over L and S
(`adversary_inputs`). VAAL passes no predicted losses: no r anywhere. With
`compat.raw_ranker_to_discriminator` D gets the raw predicted loss (the release) while the
decoder keeps the normalised one. The `vae.steps_per_iteration` VAE steps and the D step
of an iteration reuse that iteration's batch pair (VAAL draws fresh batches between its
two VAE steps).

Modules, one job each: `adversary_config` (the vae.* / discriminator.* checks),
`adversary_inputs` (r), `adversary_losses` (VAE / WAE / BCE losses), `adversary_models`
(the models and their fresh states), `adversary_steps` (the jitted steps),
`adversary_scoring` (D's scores, the trained result); this one is the training loop.
"""

import logging
import math
from typing import Any, Dict, List, Optional

import jax
import ml_collections
import numpy as np
from jax.sharding import Mesh
from tqdm import auto as tqdm

from tavaal_jax import parallel
from tavaal_jax.adversary_config import check_config
from tavaal_jax.adversary_inputs import RankerInputs
from tavaal_jax.adversary_models import build_models, create_state
from tavaal_jax.adversary_scoring import AdversaryResult, Scorer, score_images
from tavaal_jax.adversary_steps import StepSetup, compiled_steps
from tavaal_jax.data.base import ArraySource, Dataset
from tavaal_jax.data.batching import steps_per_epoch, train_index_batches
from tavaal_jax.data.image_ops import resize_shorter_side
from tavaal_jax.optim import make_settable_lr_optimizer, schedule_values
from tavaal_jax.preprocessing import Preprocessing


def _rates(optimizer_config: ml_collections.ConfigDict, steps_per_pass: int,
           passes: int) -> np.ndarray:
  """Learning rate per step, float32 [steps_per_pass * passes] (schedules count passes)."""
  return schedule_values(optimizer_config.schedule, float(optimizer_config.learning_rate),
                         steps_per_pass, passes)


def _check_losses(predicted_loss_labeled, predicted_loss_unlabeled, n_labeled: int,
                  n_unlabeled: int) -> bool:
  if (predicted_loss_labeled is None) != (predicted_loss_unlabeled is None):
    raise ValueError("give predicted losses for both the labeled and the unlabeled images "
                     "(TA-VAAL) or for neither (VAAL)")
  if predicted_loss_labeled is None:
    return False
  for name, values, n in (("predicted_loss_labeled", predicted_loss_labeled, n_labeled),
                          ("predicted_loss_unlabeled", predicted_loss_unlabeled, n_unlabeled)):
    if np.shape(values) != (n,):
      raise ValueError(f"{name} has shape {np.shape(values)}; expected ({n},), one per index")
  return True


def train_adversary(config: ml_collections.ConfigDict, dataset: Dataset,
                    preprocessing: Optional[Preprocessing], labeled_idx: np.ndarray,
                    unlabeled_idx: np.ndarray, predicted_loss_labeled: Optional[np.ndarray],
                    predicted_loss_unlabeled: Optional[np.ndarray], key: jax.Array,
                    rng: np.random.Generator, mesh: Mesh,
                    description: str = "adversary") -> AdversaryResult:
  """Trains a fresh VAE and D on the training images labeled_idx [n_l] / unlabeled_idx [n_u].

  Reads each pool from dataset.train once (at vae.image_size), then `fit_adversary`. predicted_loss_*: raw
  ranker outputs aligned with the index arrays (TA-VAAL), or None for both (VAAL).
  preprocessing: the dataset's (eval normalisation is used); None builds it from the
  dataset. Iterations: ceil((n_l + n_u) * vae.epochs / vae.batch_size).
  """
  check_config(config, dataset.image_shape, mesh)
  labeled_idx = np.asarray(labeled_idx, np.int64)
  unlabeled_idx = np.asarray(unlabeled_idx, np.int64)
  _check_pools(len(labeled_idx), len(unlabeled_idx))
  if preprocessing is None:
    preprocessing = Preprocessing.from_config(dataset, config.dataset.augment)
  size = int(config.vae.get("image_size", 0))
  images_l = resize_shorter_side(dataset.train.get(labeled_idx)[0], size)
  images_u = resize_shorter_side(dataset.train.get(unlabeled_idx)[0], size)
  return fit_adversary(config, preprocessing, images_l, images_u, predicted_loss_labeled,
                       predicted_loss_unlabeled, key, rng, mesh, description)


def _check_pools(n_labeled: int, n_unlabeled: int) -> None:
  if n_labeled == 0 or n_unlabeled == 0:
    raise ValueError(f"adversarial training needs labeled and unlabeled images; got "
                     f"{n_labeled} labeled and {n_unlabeled} unlabeled")


def fit_adversary(config: ml_collections.ConfigDict, preprocessing: Preprocessing,
                  images_l: np.ndarray, images_u: np.ndarray,
                  predicted_loss_labeled: Optional[np.ndarray],
                  predicted_loss_unlabeled: Optional[np.ndarray], key: jax.Array,
                  rng: np.random.Generator, mesh: Mesh,
                  description: str = "adversary") -> AdversaryResult:
  """Trains a fresh VAE and D on images already read: images_l uint8 [n_l, H, W, C] (the
  labeled pool L) and images_u uint8 [n_u, H, W, C] (the subset S).

  As `train_adversary`, which reads the images and calls this; a caller that holds the
  pools in memory (`strategies/adversarial.py`) calls it directly, so that no pool is read
  from the source twice. The result carries D's scores of both pools after training.
  """
  check_config(config, images_l.shape[1:], mesh)
  _check_pools(len(images_l), len(images_u))
  if images_u.shape[1:] != images_l.shape[1:]:
    raise ValueError(f"labeled images {images_l.shape[1:]} and unlabeled images "
                     f"{images_u.shape[1:]} differ in shape")
  image_shape = tuple(int(d) for d in images_l.shape[1:])
  conditioned = _check_losses(predicted_loss_labeled, predicted_loss_unlabeled,
                              len(images_l), len(images_u))
  vae_config = config.vae
  batch = int(vae_config.batch_size)
  vae_steps = int(vae_config.get("steps_per_iteration", 1))

  ranker, r_labeled, r_unlabeled = None, None, None
  if conditioned:
    ranker = RankerInputs.fit(
        np.concatenate([np.ravel(predicted_loss_labeled), np.ravel(predicted_loss_unlabeled)]),
        vae_config.get("ranker_input", "rank"),
        bool(config.get("compat", {}).get("raw_ranker_to_discriminator", False)))
    r_labeled = ranker(predicted_loss_labeled)
    r_unlabeled = ranker(predicted_loss_unlabeled)

  vae_model, disc_model = build_models(config, image_shape[-1], conditioned)
  setup = StepSetup.from_config(config, vae_model, disc_model, preprocessing)
  n_total = len(images_l) + len(images_u)
  per_pass = steps_per_epoch(n_total, batch)
  iterations = math.ceil(n_total * int(vae_config.epochs) / batch)
  init_key, step_key = jax.random.split(key)
  # The optimizers hold their learning rate in their state and the steps set it from the
  # schedules below, so one compilation serves every stage whatever the pool sizes.
  state = create_state(
      setup, make_settable_lr_optimizer(vae_config.optimizer),
      make_settable_lr_optimizer(config.discriminator.optimizer),
      init_key, image_shape, mesh)
  vae_rates = _rates(vae_config.optimizer, per_pass * vae_steps, int(vae_config.epochs))
  disc_rates = _rates(config.discriminator.optimizer, per_pass, int(vae_config.epochs))
  vae_fn, disc_fn = compiled_steps(setup)

  def stream(n):
    return train_index_batches(n, batch, math.ceil(iterations / steps_per_epoch(n, batch)), rng)

  labeled_batches, unlabeled_batches = stream(len(images_l)), stream(len(images_u))
  rows = parallel.local_rows(mesh, batch)

  def pick(r, positions):
    return None if r is None else (r[0][positions], r[1][positions])

  history: Dict[str, Any] = {"vae_loss": [], "disc_loss": [], "iterations": iterations}
  passes = math.ceil(iterations / per_pass)
  progress = tqdm.trange(passes, desc=description, leave=False, unit="epoch")
  done = 0
  for _ in progress:
    vae_metrics: List[Dict[str, jax.Array]] = []
    disc_metrics: List[Dict[str, jax.Array]] = []
    for _ in range(min(per_pass, iterations - done)):
      # Every process draws the same batches and places only its own rows of each.
      pl, pu = next(labeled_batches)[rows], next(unlabeled_batches)[rows]
      x_l, r_l, x_u, r_u = parallel.shard_batch(
          mesh, (images_l[pl], pick(r_labeled, pl), images_u[pu], pick(r_unlabeled, pu)),
          batch)
      for vae_step_number in range(done * vae_steps, (done + 1) * vae_steps):
        state, metrics = vae_fn(state, x_l, r_l, x_u, r_u, step_key,
                                vae_rates[min(vae_step_number, len(vae_rates) - 1)])
        vae_metrics.append(metrics)
      state, metrics = disc_fn(state, x_l, r_l, x_u, r_u, step_key,
                               disc_rates[min(done, len(disc_rates) - 1)])
      disc_metrics.append(metrics)
      done += 1
    vae_metrics, disc_metrics = parallel.to_host((vae_metrics, disc_metrics))  # once per pass
    history["vae_loss"].append(float(np.mean([m["vae_loss"] for m in vae_metrics])))
    history["disc_loss"].append(float(np.mean([m["disc_loss"] for m in disc_metrics])))
    progress.set_postfix(vae=f"{history['vae_loss'][-1]:.3f}",
                         disc=f"{history['disc_loss'][-1]:.3f}")

  # D's view of the two pools after training, in eval mode (from the images already
  # loaded). The scores of S are the selection's scores too: computed once, here.
  scorer = Scorer(vae_model, disc_model, preprocessing)
  score_batch = int(config.strategy.batch_size)
  scores = {}
  for name, images, r in (("labeled", images_l, r_labeled), ("unlabeled", images_u, r_unlabeled)):
    source = ArraySource(images, np.zeros(len(images), np.int32))
    scores[name] = score_images(scorer, state, source, np.arange(len(images)),
                          None if r is None else r[1], score_batch, mesh)
    history[f"disc_{name}_mean"] = float(scores[name].mean())
  logging.debug("%s: vae_loss %.4f disc_loss %.4f, D on L %.3f, on S %.3f", description,
                history["vae_loss"][-1], history["disc_loss"][-1],
                history["disc_labeled_mean"], history["disc_unlabeled_mean"])
  return AdversaryResult(state, history, vae_model, disc_model, preprocessing, ranker,
                         labeled_scores=scores["labeled"], unlabeled_scores=scores["unlabeled"])
