"""Selection strategies, registered by name; each is `select(SelectionContext) -> Selection`
(the [budget] picked indices in pick order, with the score each was picked by).

Adding a strategy is one module here and one import line below. Registration declares
what a strategy needs beyond the task learner, and the other layers ask the registry (these
functions, `config_checks`, `launch/sweep.py`), never for strategy names:
  ranker=True     a trained loss-prediction module on the learner (lloss, tavaal);
  adversary=True  a VAE + discriminator trained per stage (the vae.* / discriminator.* fields
                  are checked and used only then);
  dropout=True    dropout in the task learner (model.dropout_rate > 0);
  embedding=True  the backbone's pooled embedding (a model registered with embedding=True);
  tasks=(...)     the dataset tasks it is defined for (default: every task);
  check=f         f(config) raises ConfigError for the strategy's own bad fields.
"""

from tavaal_jax.registry import Registry

STRATEGIES = Registry("strategy", "strategy.name")

# Imported for their registration side effect.
from tavaal_jax.strategies import (  # noqa: E402,F401
    adversarial, badge, coreset, gcn, lloss, mc_dropout, random_sampling, uncertainty)
from tavaal_jax.strategies.base import (  # noqa: E402,F401
    Selection, SelectionContext, check_selection)


def needs_ranker(config) -> bool:
  """True when config.strategy.name selects with the ranker's predicted losses (lloss,
  tavaal): it must be attached and trained (ranker.weight > 0)."""
  return bool(STRATEGIES.trait(config.strategy.name, "ranker"))


def uses_ranker(config) -> bool:
  """True when the task learner gets a ranker: the strategy needs one, or
  compat.ranker_for_all attaches it to every strategy, as the authors' release does."""
  compat = config.get("compat") or {}
  return needs_ranker(config) or bool(compat.get("ranker_for_all", False))


def uses_adversary(config) -> bool:
  """True when config.strategy.name trains a VAE and a discriminator (vaal, tavaal)."""
  return bool(STRATEGIES.trait(config.strategy.name, "adversary"))


def needs_dropout(config) -> bool:
  """True when config.strategy.name samples the learner with dropout on (mc_dropout)."""
  return bool(STRATEGIES.trait(config.strategy.name, "dropout"))


def needs_embedding(config) -> bool:
  """True when config.strategy.name selects on the backbone's pooled embedding."""
  return bool(STRATEGIES.trait(config.strategy.name, "embedding"))
