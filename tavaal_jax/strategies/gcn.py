"""`uncertaingcn` and `coregcn` (Caramalau, Bhattarai & Kim, "Sequential GCN for Active
Learning", CVPR 2021).

The nodes are the candidates and the labeled images, with the task learner's embeddings
(one scoring pass each); `tavaal_jax.models.gcn` builds the graph and the network. The GCN
is trained full-batch, from the selection key, to tell labeled (1) from unlabeled (0):

    loss = -mean_labeled log s - gcn_lambda * mean_candidates log(1 - s),   s = sigmoid(logit)

with Adam (`gcn_learning_rate`, coupled L2 `gcn_weight_decay`, as PyTorch's Adam applies it)
for `gcn_epochs` steps, dropout on. Then, in eval mode:
  uncertaingcn  picks the candidates whose s is closest to `gcn_margin` (the paper's s_margin);
  coregcn       runs core-set's k-center greedy on the GCN's features [hidden, logit] of the
                candidates, the labeled nodes as centers (as the authors' Sequential-GCN code;
                the TA-VAAL release's copy runs it on the learner's normalised embeddings).
Defaults (configs/cifar10.py) are the authors': hidden 128, dropout 0.3, lr 1e-3, weight
decay 5e-4, 200 epochs, margin 0.1, lambda 1.2.
"""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import optax

from tavaal_jax import xla_cpu
from tavaal_jax.config_checks import lookup
from tavaal_jax.errors import ConfigError
from tavaal_jax.models.gcn import GCN, GCNOutput, SimilarityGraph
from tavaal_jax.scoring import score_pool
from tavaal_jax.strategies import STRATEGIES
from tavaal_jax.strategies.base import Selection, SelectionContext, ranked
from tavaal_jax.strategies.coreset import coreset_selection


# The authors' values (Sequential-GCN main.py / config.py), named in the errors.
AUTHORS_VALUES = {
    "strategy.gcn_hidden": 128, "strategy.gcn_dropout": 0.3,
    "strategy.gcn_learning_rate": 1e-3, "strategy.gcn_weight_decay": 5e-4,
    "strategy.gcn_epochs": 200, "strategy.gcn_lambda": 1.2, "strategy.gcn_margin": 0.1}


def _number(config, field: str, low: float, high: float, low_open: bool, high_open: bool,
            integer: bool = False):
  value = lookup(config, field)
  types = (int,) if integer else (int, float)
  left, right = "(" if low_open else "[", ")" if high_open else "]"
  kind = "an integer" if integer else "a number"
  if (isinstance(value, bool) or not isinstance(value, types)
      or value < low or value > high or (low_open and value == low)
      or (high_open and value == high)):
    interval = f"in {left}{low:g}, {high:g}{right}" if high != float("inf") else (
        f">= {low:g}" if not low_open else f"> {low:g}")
    raise ConfigError(f"{field}={value!r} must be {kind} {interval}; the authors use "
                      f"{AUTHORS_VALUES[field]}")
  return value


def check_gcn_config(config) -> None:
  """The GCN's fields (both strategies)."""
  inf = float("inf")
  _number(config, "strategy.gcn_hidden", 1, inf, False, False, integer=True)
  _number(config, "strategy.gcn_dropout", 0.0, 1.0, False, True)
  _number(config, "strategy.gcn_learning_rate", 0.0, inf, True, False)
  _number(config, "strategy.gcn_weight_decay", 0.0, inf, False, False)
  _number(config, "strategy.gcn_epochs", 1, inf, False, False, integer=True)
  _number(config, "strategy.gcn_lambda", 0.0, inf, False, False)


def check_uncertaingcn_config(config) -> None:
  check_gcn_config(config)
  _number(config, "strategy.gcn_margin", 0.0, 1.0, True, True)


def _bce_loss(logit: jax.Array, labeled: jax.Array, unlabeled_weight: float) -> jax.Array:
  """-mean_labeled log s - unlabeled_weight * mean_unlabeled log(1 - s); logit, labeled [N]."""
  labeled = labeled.astype(jnp.float32)
  log_s, log_not_s = jax.nn.log_sigmoid(logit), jax.nn.log_sigmoid(-logit)
  labeled_term = jnp.sum(labeled * log_s) / jnp.maximum(jnp.sum(labeled), 1.0)
  unlabeled_term = jnp.sum((1.0 - labeled) * log_not_s) / jnp.maximum(jnp.sum(1.0 - labeled), 1.0)
  return -labeled_term - unlabeled_weight * unlabeled_term


@functools.partial(xla_cpu.jit_without_ynn, static_argnames=(
    "hidden", "dropout_rate", "learning_rate", "weight_decay", "epochs", "unlabeled_weight"))
def fit_gcn(embeddings: jax.Array, labeled: jax.Array, key: jax.Array, *, hidden: int,
            dropout_rate: float, learning_rate: float, weight_decay: float, epochs: int,
            unlabeled_weight: float) -> GCNOutput:
  """Trains a GCN on the nodes' embeddings [N, D] to output 1 where `labeled` [N] (bool) and
  0 elsewhere; returns its eval-mode outputs (logit [N], hidden [N, hidden])."""
  graph = SimilarityGraph.of(embeddings)
  model = GCN(hidden=hidden, dropout_rate=dropout_rate)
  init_key, dropout_key = jax.random.split(key)
  params = model.init(init_key, graph, train=False)["params"]
  tx = optax.chain(optax.add_decayed_weights(weight_decay), optax.adam(learning_rate))

  def loss_fn(params, epoch):
    out = model.apply({"params": params}, graph, train=True,
                      rngs={"dropout": jax.random.fold_in(dropout_key, epoch)})
    return _bce_loss(out.logit, labeled, unlabeled_weight)

  def epoch_step(epoch, state):
    params, opt_state = state
    grads = jax.grad(loss_fn)(params, epoch)
    updates, opt_state = tx.update(grads, opt_state, params)
    return optax.apply_updates(params, updates), opt_state

  params, _ = jax.lax.fori_loop(0, epochs, epoch_step, (params, tx.init(params)))
  return model.apply({"params": params}, graph, train=False)


def _trained_gcn(context: SelectionContext) -> GCNOutput:
  """The GCN trained on [candidates; labeled]: outputs for the candidates' rows first."""
  learner, fields = context.learner, context.config.strategy
  score = functools.partial(score_pool, learner.scoring_fn(("embedding",)),
                            context.learner_state, context.dataset.train,
                            batch_size=fields.batch_size, mesh=learner.mesh,
                            field="strategy.batch_size")
  embeddings = np.concatenate([score(context.candidate_idx)["embedding"],
                               score(context.labeled_idx)["embedding"]])
  labeled = np.arange(len(embeddings)) >= len(context.candidate_idx)
  return fit_gcn(embeddings, labeled, context.key, hidden=int(fields.gcn_hidden),
                 dropout_rate=float(fields.gcn_dropout),
                 learning_rate=float(fields.gcn_learning_rate),
                 weight_decay=float(fields.gcn_weight_decay), epochs=int(fields.gcn_epochs),
                 unlabeled_weight=float(fields.gcn_lambda))


@STRATEGIES.register("uncertaingcn", embedding=True, tasks=("classification",),
                     check=check_uncertaingcn_config)
def select_uncertaingcn(context: SelectionContext) -> Selection:
  """[budget] candidates whose GCN probability "labeled" is closest to strategy.gcn_margin;
  each pick's score is that distance |s - gcn_margin|."""
  out = _trained_gcn(context)
  confidence = np.asarray(jax.nn.sigmoid(out.logit[:len(context.candidate_idx)]), np.float64)
  distance = np.abs(confidence - float(context.config.strategy.gcn_margin))
  return ranked(context.candidate_idx, distance, context.budget, "gcn_margin_distance",
                lowest_first=True)


@STRATEGIES.register("coregcn", embedding=True, tasks=("classification",),
                     check=check_gcn_config)
def select_coregcn(context: SelectionContext) -> Selection:
  """[budget] candidates by k-center greedy on the GCN features [hidden, logit], labeled
  nodes as centers; each pick's score is its distance to the nearest center when picked."""
  out = _trained_gcn(context)
  features = jnp.concatenate([out.hidden, out.logit[:, None]], 1)
  n = len(context.candidate_idx)
  return coreset_selection(context.candidate_idx, features[:n], features[n:], context.budget,
                           score_name="gcn_nearest_center_distance")
