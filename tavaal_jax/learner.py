"""The task learner: train state, pure jitted train/eval steps, and `fit` / `evaluate`.

Steps are pure functions of (state, batch, key) -> (state, metrics); static choices are
bound with `functools.partial` before `jax.jit`. Batches are placed on the device mesh
sharded along the batch axis, and the state is replicated, so the same code runs on one
device or many.

The task learner is a `TaskModel`: the backbone plus, for the strategies that use one, the
loss-prediction module (Ranker), trained jointly: loss = mean per-example loss +
ranker.weight * ranking loss. What an example's loss, the metrics and the augmentation are
comes from the dataset's task (tavaal_jax/tasks); batches are the tasks' dicts.
From epoch `train.epoch_l` on, the ranker's gradient into the backbone is stopped by a
traced scale (no recompilation).
"""

import dataclasses
import functools
import logging
from typing import Any, Callable, Dict, List, Optional, Tuple

import flax.linen as nn
import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import optax
import scipy.stats
from flax.training import train_state
from jax.sharding import Mesh
from tqdm import auto as tqdm

from tavaal_jax import parallel, xla_cpu
from tavaal_jax.data.base import Dataset, ImageSource
from tavaal_jax.data.batching import padded_batches, steps_per_epoch, train_index_batches
from tavaal_jax.errors import ConfigError
from tavaal_jax.losses import get_ranking_loss, ranking_loss
from tavaal_jax.models.task_model import build_task_model
from tavaal_jax.optim import make_settable_lr_optimizer, schedule_values, set_learning_rate
from tavaal_jax.preprocessing import Preprocessing
from tavaal_jax.tasks import Task, task_for


class LearnerState(train_state.TrainState):
  """optax TrainState plus BatchNorm running statistics."""

  batch_stats: Any = None


@dataclasses.dataclass(frozen=True)
class RankerLoss:
  """How the ranking term enters the training loss (static: bound before jit).

  name: 'll' | 'llv2' (ranker.loss); weight: eta (ranker.weight); margin: the 'll' hinge's xi.
  """

  name: str
  weight: float
  margin: float

  @classmethod
  def from_config(cls, ranker_config) -> "RankerLoss":
    name = ranker_config.get("loss", "llv2")
    get_ranking_loss(name)  # ConfigError for an unknown name, before anything is traced
    fields = {}
    for field, default in (("weight", 1.0), ("margin", 1.0)):
      value = ranker_config.get(field, default)
      if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
        raise ConfigError(f"ranker.{field} must be a non-negative number, got {value!r}")
      fields[field] = float(value)
    return cls(name=name, **fields)


@functools.partial(jax.jit, static_argnums=(0, 1))
def _init_variables(model: nn.Module, image_shape: Tuple[int, int, int], key: jax.Array):
  """model.init on a dummy batch; compiled once per (model, image shape), not per stage."""
  params_key, dropout_key = jax.random.split(key)
  dummy = jnp.zeros((1,) + tuple(image_shape), jnp.float32)
  return model.init({"params": params_key, "dropout": dropout_key}, dummy, train=False)


def create_state(model: nn.Module, tx: optax.GradientTransformation, key: jax.Array,
                 image_shape: Tuple[int, int, int], mesh: Mesh) -> LearnerState:
  """A freshly initialised learner, replicated over the mesh."""
  variables = _init_variables(model, tuple(image_shape), key)
  # The optimizer state is built outside jit: `tx` is new every stage (its schedule is
  # sized to the labeled pool), and its init is cheap.
  state = LearnerState.create(apply_fn=model.apply, params=variables["params"], tx=tx,
                              batch_stats=variables.get("batch_stats", {}))
  return parallel.replicate(mesh, state)


def train_step(state: LearnerState, batch: Dict[str, jax.Array], key: jax.Array,
               ranker_grad_scale: jax.Array = 1.0, learning_rate: Optional[jax.Array] = None,
               *, task: Task, preprocessing: Preprocessing,
               ranker_loss: Optional[RankerLoss] = None
               ) -> Tuple[LearnerState, Dict[str, jax.Array]]:
  """One SGD step on a train batch of `task` ({'image': uint8 [B, H, W, C], 'label'}).

  With a ranker (`ranker_loss` set; B even) the loss is the mean per-example loss +
  weight * ranking loss of the predicted losses against the detached per-example losses.
  `ranker_grad_scale` (float32 scalar, 1. or 0.) scales the ranking term's gradient into
  the backbone. `learning_rate` (float32 scalar) is this step's rate from the schedule;
  None keeps the rate in the state. Metrics: 'loss' (the mean per-example loss, comparable
  with and without a ranker), the task's train metrics ('accuracy'), and with a ranker
  'ranking_loss' (unweighted) and 'total_loss' (the optimised objective).
  """
  augment_key, dropout_key = jax.random.split(jax.random.fold_in(key, state.step))
  x, labels = task.train_inputs(augment_key, batch, preprocessing)

  def loss_fn(params):
    out, updates = state.apply_fn({"params": params, "batch_stats": state.batch_stats}, x,
                                  train=True, mutable=["batch_stats"],
                                  rngs={"dropout": dropout_key},
                                  ranker_grad_scale=ranker_grad_scale)
    per_example = task.per_example_loss(out.logits, labels)
    mean_loss = per_example.mean()
    aux = {"loss": mean_loss}
    loss = mean_loss
    if ranker_loss is not None:
      rank = ranking_loss(ranker_loss.name, out.predicted_loss,
                          jax.lax.stop_gradient(per_example), margin=ranker_loss.margin)
      loss = mean_loss + ranker_loss.weight * rank
      aux.update(ranking_loss=rank, total_loss=loss)
    return loss, (aux, out.logits, updates["batch_stats"])

  (_, (metrics, logits, batch_stats)), grads = jax.value_and_grad(
      loss_fn, has_aux=True)(state.params)
  if learning_rate is not None:
    state = state.replace(opt_state=set_learning_rate(state.opt_state, learning_rate))
  state = state.apply_gradients(grads=grads, batch_stats=batch_stats)
  metrics.update(task.train_metrics(logits, labels))
  return state, metrics


def eval_step(state: LearnerState, batch: Dict[str, jax.Array], *, task: Task,
              preprocessing: Preprocessing) -> Dict[str, jax.Array]:
  """The task's metric sums over the valid rows of a padded eval batch ({'image',
  'label', 'valid' bool [B]}).

  With a ranker also the per-row 'sample_loss' and 'predicted_loss' [B] (padded rows
  included; the caller drops them with the mask).
  """
  out = state.apply_fn({"params": state.params, "batch_stats": state.batch_stats},
                       preprocessing.eval_input(batch["image"]), train=False)
  result = task.metric_sums(out.logits, batch["label"], batch["valid"])
  if out.predicted_loss is not None:
    result.update(sample_loss=task.per_example_loss(out.logits, batch["label"]),
                  predicted_loss=out.predicted_loss)
  return result


def predict(state: LearnerState, images: jax.Array, key: jax.Array, *,
            preprocessing: Preprocessing, mc_dropout: bool) -> Dict[str, jax.Array]:
  """The learner's outputs on uint8 images [B, H, W, C], with BatchNorm running statistics.

  mc_dropout=False: eval mode (no dropout, `key` unused). mc_dropout=True: dropout on,
  drawn from `key`. Returns {'logits': [B, K] f32, 'embedding': [B, D] f32} plus
  'predicted_loss': [B] f32 when the learner has a ranker.
  """
  x = preprocessing.eval_input(images)
  variables = {"params": state.params, "batch_stats": state.batch_stats}
  if mc_dropout:
    out = state.apply_fn(variables, x, train=False, mc_dropout=True, rngs={"dropout": key})
  else:
    out = state.apply_fn(variables, x, train=False)
  result = {"logits": out.logits.astype(jnp.float32),
            "embedding": out.embedding.astype(jnp.float32)}
  if out.predicted_loss is not None:
    result["predicted_loss"] = out.predicted_loss.astype(jnp.float32)
  return result


def predict_batch(state: LearnerState, images: jax.Array, extras: Dict[str, jax.Array],
                  key: jax.Array, *, preprocessing: Preprocessing, mc_dropout: bool,
                  outputs: Optional[Tuple[str, ...]] = None) -> Dict[str, jax.Array]:
  """`predict` with the `tavaal_jax.scoring.score_pool` batch-function signature (extras
  unused), keeping only `outputs` (None: all). A segmentation learner's logits are
  [B, H, W, K]: a scoring pass that needs only embeddings or predicted losses leaves them
  on the device."""
  del extras
  result = predict(state, images, key, preprocessing=preprocessing, mc_dropout=mc_dropout)
  if outputs is None:
    return result
  return {name: result[name] for name in outputs}


@dataclasses.dataclass
class FitResult:
  state: LearnerState
  epoch_loss: List[float]       # mean training loss per epoch
  epoch_accuracy: List[float]   # mean training-batch accuracy per epoch
  # mean (unweighted) ranking loss per epoch; empty without a ranker
  epoch_ranking_loss: List[float] = dataclasses.field(default_factory=list)


class Learner:
  """Builds, trains and evaluates a task learner for one dataset on one mesh.

  The model is `build_task_model(config, dataset.num_classes, with_ranker)`: a ranker is
  attached iff the strategies registry says the config uses one (`strategies.uses_ranker`;
  see `has_ranker`). `task` is the dataset's (tavaal_jax/tasks). `predict_batch` /
  `predict_batch_mc` and `scoring_fn(...)` are `score_pool` batch functions
  (state, images, extras, key) -> {name: [B, ...]}, created once so that their
  compilations are reused across stages.
  """

  def __init__(self, dataset: Dataset, config: ml_collections.ConfigDict, mesh: Mesh):
    self.dataset = dataset
    self.config = config
    self.mesh = mesh
    from tavaal_jax.strategies import uses_ranker   # the strategies build on this module
    self.task = task_for(dataset)
    self.model = build_task_model(config, dataset.num_classes, uses_ranker(config))
    self.has_ranker = self.model.ranker is not None
    self.preprocessing = Preprocessing.from_config(dataset, config.dataset.augment)
    parallel.check_batch_size(config.train.batch_size, mesh, "train.batch_size")
    # Evaluation sums per-sample results, so its batch size only has to fit the devices.
    self.eval_batch_size = parallel.device_multiple(config.train.eval_batch_size, mesh,
                                                    "train.eval_batch_size")
    self.ranker_loss = None
    self.epoch_l = config.train.epochs
    if self.has_ranker:
      self.ranker_loss = RankerLoss.from_config(config.ranker)
      if config.train.batch_size % 2:
        raise ConfigError(
            f"train.batch_size={config.train.batch_size} is odd; the ranking loss pairs a "
            "batch as (i, B-1-i), so it must be even")
      self.epoch_l = config.train.get("epoch_l", config.train.epochs)
      if isinstance(self.epoch_l, bool) or not isinstance(self.epoch_l, int) or self.epoch_l < 0:
        raise ConfigError(f"train.epoch_l must be a non-negative integer, got {self.epoch_l!r}")
    # The train step keeps the package's global XLA:CPU setting (YNNPACK fusions of dots,
    # element-wise ops and reductions: faster for forward + backward); evaluation is a forward
    # pass, faster without them (xla_cpu.py).
    self._train_step = jax.jit(
        functools.partial(train_step, task=self.task, preprocessing=self.preprocessing,
                          ranker_loss=self.ranker_loss), donate_argnums=(0,))
    self._eval_step = xla_cpu.jit_without_ynn(
        functools.partial(eval_step, task=self.task, preprocessing=self.preprocessing))
    self._scoring_fns: Dict[Tuple, Callable] = {}
    self.predict_batch = self.scoring_fn()
    self.predict_batch_mc = self.scoring_fn(mc_dropout=True)

  def scoring_fn(self, outputs: Optional[Tuple[str, ...]] = None,
                 mc_dropout: bool = False) -> Callable:
    """The `score_pool` batch function returning `outputs` of `predict` (None: all), with
    dropout on for `mc_dropout`; the same object for the same arguments, so that a
    scoring pass compiles once per run."""
    key = (None if outputs is None else tuple(outputs), bool(mc_dropout))
    if key not in self._scoring_fns:
      self._scoring_fns[key] = functools.partial(
          predict_batch, preprocessing=self.preprocessing, mc_dropout=key[1], outputs=key[0])
    return self._scoring_fns[key]

  def batch(self, images: np.ndarray, labels: np.ndarray) -> Dict[str, np.ndarray]:
    """A train batch dict of the task from what a source's `get` returns."""
    return self.task.batch(images, labels)

  def ranker_grad_scale(self, epoch: int) -> np.float32:
    """1. while the ranker's gradient reaches the backbone (epoch < train.epoch_l, counting
    from 0), else 0."""
    return np.float32(1.0 if epoch < self.epoch_l else 0.0)

  def init(self, key: jax.Array, num_labeled: int) -> LearnerState:
    """A fresh learner whose schedule is sized for `num_labeled` training images."""
    train = self.config.train
    del num_labeled, train  # the schedule is applied step by step in `fit`
    # One optimizer object for every stage, so the jitted step compiles once per run.
    tx = make_settable_lr_optimizer(self.config.optimizer)
    return create_state(self.model, tx, key, self.dataset.image_shape, self.mesh)

  def fit(self, labeled_idx: np.ndarray, key: jax.Array, rng: np.random.Generator,
          description: str = "train",
          after_epoch: Optional[Callable[[int], None]] = None) -> FitResult:
    """Trains a freshly initialised learner on the training images `labeled_idx` [n].

    after_epoch: called with the epoch's number after each epoch (its metrics on the host).
    """
    train = self.config.train
    init_key, step_key = jax.random.split(key)
    state = self.init(init_key, len(labeled_idx))
    images, labels = self.dataset.train.get(np.asarray(labeled_idx))
    per_epoch = steps_per_epoch(len(labeled_idx), train.batch_size)
    learning_rates = schedule_values(self.config.optimizer.schedule,
                                     float(self.config.optimizer.learning_rate), per_epoch,
                                     train.epochs)
    batches = train_index_batches(len(labeled_idx), train.batch_size, train.epochs, rng)
    # Every process draws the same batches and places only its own rows of each.
    rows = parallel.local_rows(self.mesh, train.batch_size)
    epoch_loss, epoch_accuracy, epoch_ranking_loss = [], [], []
    progress = tqdm.trange(train.epochs, desc=description, leave=False, unit="epoch")
    for epoch in progress:
      scale = self.ranker_grad_scale(epoch)
      metrics = []
      for step in range(epoch * per_epoch, (epoch + 1) * per_epoch):
        positions = next(batches)[rows]
        batch = parallel.shard_batch(
            self.mesh, self.task.batch(images[positions], labels[positions]),
            train.batch_size)
        state, step_metrics = self._train_step(state, batch, step_key, scale,
                                               learning_rates[step])
        metrics.append(step_metrics)
      metrics = parallel.to_host(metrics)  # one host sync per epoch
      epoch_loss.append(float(np.mean([m["loss"] for m in metrics])))
      epoch_accuracy.append(float(np.mean([m["accuracy"] for m in metrics])))
      postfix = {"loss": f"{epoch_loss[-1]:.3f}", "acc": f"{epoch_accuracy[-1]:.3f}"}
      if self.has_ranker:
        epoch_ranking_loss.append(float(np.mean([m["ranking_loss"] for m in metrics])))
        postfix["rank"] = f"{epoch_ranking_loss[-1]:.3f}"
      progress.set_postfix(**postfix)
      if after_epoch is not None:
        after_epoch(epoch)
    logging.debug("%s: final training loss %.4f", description, epoch_loss[-1])
    return FitResult(state, epoch_loss, epoch_accuracy, epoch_ranking_loss)

  def evaluate(self, state: LearnerState, source: ImageSource) -> Dict[str, Any]:
    """The task's metrics over every image of `source`, each counted exactly once:
    'loss', 'count' and e.g. 'accuracy' (classification) or 'miou', 'pixel_accuracy',
    'per_class_iou' (segmentation).

    With a ranker also 'ranker_spearman': the Spearman rank correlation between predicted
    and true per-example losses over the whole split (nan with fewer than two images or a
    constant prediction).
    """
    totals: Dict[str, Any] = {}
    sample_loss, predicted_loss = [], []
    batch_size = self.eval_batch_size
    rows = parallel.local_rows(self.mesh, batch_size)
    for idx, mask in padded_batches(np.arange(len(source)), batch_size):
      images, labels = source.get(idx[rows])  # this process's rows only
      batch = self.task.batch(images, labels)
      batch["valid"] = mask[rows]
      sums = parallel.to_host(self._eval_step(state, parallel.shard_batch(
          self.mesh, batch, batch_size)))
      if self.has_ranker:
        sample_loss.append(np.asarray(sums.pop("sample_loss"))[mask])
        predicted_loss.append(np.asarray(sums.pop("predicted_loss"))[mask])
      for name, value in sums.items():
        totals[name] = totals.get(name, 0) + _host_sum(value)
    result = self.task.finalize(totals)
    if self.has_ranker:
      result["ranker_spearman"] = spearman(np.concatenate(predicted_loss),
                                           np.concatenate(sample_loss))
    return result


def _host_sum(value) -> Any:
  """A batch's sum as a running total takes it: a Python number for a scalar (exact for
  counts, float64 for losses), an int64 / float64 array for an array (a confusion matrix)."""
  value = np.asarray(value)
  if value.ndim == 0:
    return value.item()
  return value.astype(np.int64 if np.issubdtype(value.dtype, np.integer) else np.float64)


def spearman(x: np.ndarray, y: np.ndarray) -> float:
  """Spearman rank correlation of x [n] and y [n]; nan when undefined (n < 2, constant)."""
  if len(x) < 2 or np.ptp(x) == 0 or np.ptp(y) == 0:
    return float("nan")
  return float(scipy.stats.spearmanr(x, y).statistic)
