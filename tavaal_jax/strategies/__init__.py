"""Selection strategies, registered by name; each is `select(SelectionContext) -> Selection`
(the [budget] picked indices in pick order, with the score each was picked by).

Adding a strategy is one module here and one import line below. Registration declares
what a strategy needs beyond the task learner: `ranker=True` for a trained loss-prediction
module on the learner, `adversary=True` for a VAE + discriminator trained per stage (the
vae.* / discriminator.* fields are checked and used only then). The other layers ask these
functions, never for strategy names.
"""

from tavaal_jax.registry import Registry

STRATEGIES = Registry("strategy", "strategy.name")

# Imported for their registration side effect.
from tavaal_jax.strategies import (  # noqa: E402,F401
    adversarial, coreset, lloss, mc_dropout, random_sampling)
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
