"""The task learner: train state, pure jitted train/eval steps, and `fit` / `evaluate`.

Steps are pure functions of (state, batch, key) -> (state, metrics); static choices are
bound with `functools.partial` before `jax.jit`. Batches are placed on the device mesh
sharded along the batch axis, and the state is replicated, so the same code runs on one
device or many.
"""

import dataclasses
import functools
import logging
from typing import Any, Dict, List, Tuple

import flax.linen as nn
import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import optax
from flax.training import train_state
from jax.sharding import Mesh
from tqdm import auto as tqdm

from tavaal_jax import parallel
from tavaal_jax.data import augment
from tavaal_jax.data.base import Dataset, ImageSource
from tavaal_jax.data.batching import padded_batches, steps_per_epoch, train_index_batches
from tavaal_jax.optim import make_optimizer


class LearnerState(train_state.TrainState):
  """optax TrainState plus BatchNorm running statistics."""

  batch_stats: Any = None


@dataclasses.dataclass(frozen=True)
class Preprocessing:
  """How a uint8 batch becomes the model's input.

  mean, std: per-channel [C] on the [0, 1] scale. crop_padding / flip: train-time augmentation.
  """

  mean: Tuple[float, ...]
  std: Tuple[float, ...]
  crop_padding: int = 0
  flip: bool = False

  @classmethod
  def from_config(cls, dataset: Dataset, augment_config) -> "Preprocessing":
    return cls(mean=tuple(float(m) for m in np.ravel(dataset.mean)),
               std=tuple(float(s) for s in np.ravel(dataset.std)),
               crop_padding=int(augment_config.get("crop_padding", 0)),
               flip=bool(augment_config.get("flip", False)))

  def train_input(self, key: jax.Array, images: jax.Array) -> jax.Array:
    return augment.augment(key, images, jnp.asarray(self.mean), jnp.asarray(self.std),
                           self.crop_padding, self.flip)

  def eval_input(self, images: jax.Array) -> jax.Array:
    return augment.normalize(images, jnp.asarray(self.mean), jnp.asarray(self.std))


def cross_entropy(logits: jax.Array, labels: jax.Array) -> jax.Array:
  """Per-sample cross-entropy: logits [B, K], integer labels [B] -> [B]."""
  return optax.softmax_cross_entropy_with_integer_labels(logits.astype(jnp.float32), labels)


def create_state(model: nn.Module, tx: optax.GradientTransformation, key: jax.Array,
                 image_shape: Tuple[int, int, int], mesh: Mesh) -> LearnerState:
  """A freshly initialised learner, replicated over the mesh."""
  params_key, dropout_key = jax.random.split(key)
  dummy = jnp.zeros((1,) + tuple(image_shape), jnp.float32)

  @jax.jit
  def init():
    variables = model.init({"params": params_key, "dropout": dropout_key}, dummy, train=False)
    return LearnerState.create(apply_fn=model.apply, params=variables["params"], tx=tx,
                               batch_stats=variables.get("batch_stats", {}))

  return parallel.replicate(mesh, init())


def train_step(state: LearnerState, images: jax.Array, labels: jax.Array, key: jax.Array,
               *, preprocessing: Preprocessing) -> Tuple[LearnerState, Dict[str, jax.Array]]:
  """One SGD step on a batch: images uint8 [B, H, W, C], labels int32 [B]."""
  augment_key, dropout_key = jax.random.split(jax.random.fold_in(key, state.step))
  x = preprocessing.train_input(augment_key, images)

  def loss_fn(params):
    out, updates = state.apply_fn({"params": params, "batch_stats": state.batch_stats}, x,
                                  train=True, mutable=["batch_stats"],
                                  rngs={"dropout": dropout_key})
    loss = cross_entropy(out.logits, labels).mean()
    return loss, (out.logits, updates["batch_stats"])

  (loss, (logits, batch_stats)), grads = jax.value_and_grad(loss_fn, has_aux=True)(state.params)
  state = state.apply_gradients(grads=grads, batch_stats=batch_stats)
  accuracy = (jnp.argmax(logits, -1) == labels).mean()
  return state, {"loss": loss, "accuracy": accuracy}


def eval_step(state: LearnerState, images: jax.Array, labels: jax.Array, mask: jax.Array,
              *, preprocessing: Preprocessing) -> Dict[str, jax.Array]:
  """Sums over the valid rows (mask [B] bool) of a padded batch: correct, loss, count."""
  out = state.apply_fn({"params": state.params, "batch_stats": state.batch_stats},
                       preprocessing.eval_input(images), train=False)
  correct = (jnp.argmax(out.logits, -1) == labels) & mask
  loss = jnp.where(mask, cross_entropy(out.logits, labels), 0.0)
  return {"correct": correct.sum(), "loss_sum": loss.sum(), "count": mask.sum()}


@dataclasses.dataclass
class FitResult:
  state: LearnerState
  epoch_loss: List[float]       # mean training loss per epoch
  epoch_accuracy: List[float]   # mean training-batch accuracy per epoch


class Learner:
  """Builds, trains and evaluates a task learner for one dataset on one mesh."""

  def __init__(self, model: nn.Module, dataset: Dataset, config: ml_collections.ConfigDict,
               mesh: Mesh):
    self.model = model
    self.dataset = dataset
    self.config = config
    self.mesh = mesh
    self.preprocessing = Preprocessing.from_config(dataset, config.dataset.augment)
    parallel.check_batch_size(config.train.batch_size, mesh, "train.batch_size")
    parallel.check_batch_size(config.train.eval_batch_size, mesh, "train.eval_batch_size")
    self._train_step = jax.jit(
        functools.partial(train_step, preprocessing=self.preprocessing), donate_argnums=(0,))
    self._eval_step = jax.jit(functools.partial(eval_step, preprocessing=self.preprocessing))

  def init(self, key: jax.Array, num_labeled: int) -> LearnerState:
    """A fresh learner whose schedule is sized for `num_labeled` training images."""
    train = self.config.train
    tx = make_optimizer(self.config.optimizer,
                        steps_per_epoch(num_labeled, train.batch_size), train.epochs)
    return create_state(self.model, tx, key, self.dataset.image_shape, self.mesh)

  def fit(self, labeled_idx: np.ndarray, key: jax.Array, rng: np.random.Generator,
          description: str = "train") -> FitResult:
    """Trains a freshly initialised learner on the training images `labeled_idx` [n]."""
    train = self.config.train
    init_key, step_key = jax.random.split(key)
    state = self.init(init_key, len(labeled_idx))
    images, labels = self.dataset.train.get(np.asarray(labeled_idx))
    per_epoch = steps_per_epoch(len(labeled_idx), train.batch_size)
    batches = train_index_batches(len(labeled_idx), train.batch_size, train.epochs, rng)
    epoch_loss, epoch_accuracy = [], []
    progress = tqdm.trange(train.epochs, desc=description, leave=False, unit="epoch")
    for _ in progress:
      metrics = []
      for _ in range(per_epoch):
        positions = next(batches)
        batch = parallel.shard_batch(self.mesh, (images[positions], labels[positions]))
        state, step_metrics = self._train_step(state, *batch, step_key)
        metrics.append(step_metrics)
      metrics = jax.device_get(metrics)  # one host sync per epoch
      epoch_loss.append(float(np.mean([m["loss"] for m in metrics])))
      epoch_accuracy.append(float(np.mean([m["accuracy"] for m in metrics])))
      progress.set_postfix(loss=f"{epoch_loss[-1]:.3f}", acc=f"{epoch_accuracy[-1]:.3f}")
    logging.debug("%s: final training loss %.4f", description, epoch_loss[-1])
    return FitResult(state, epoch_loss, epoch_accuracy)

  def evaluate(self, state: LearnerState, source: ImageSource) -> Dict[str, float]:
    """Accuracy and mean loss over every image of `source`, each counted exactly once."""
    totals = {"correct": 0, "loss_sum": 0.0, "count": 0}
    for idx, mask in padded_batches(np.arange(len(source)), self.config.train.eval_batch_size):
      images, labels = source.get(idx)
      batch = parallel.shard_batch(self.mesh, (images, labels, mask))
      sums = jax.device_get(self._eval_step(state, *batch))
      for name in totals:
        totals[name] += sums[name].item()
    return {"accuracy": totals["correct"] / totals["count"],
            "loss": totals["loss_sum"] / totals["count"], "count": int(totals["count"])}
