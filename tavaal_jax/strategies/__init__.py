"""Selection strategies, registered by name; each is `select(SelectionContext) -> [budget] indices`.

Adding a strategy is one module here and one import line below. Registration declares
what a strategy needs beyond the task learner: `adversary=True` for a VAE + discriminator
trained per stage (the vae.* / discriminator.* fields are checked and used only then).
"""

from tavaal_jax.registry import Registry

STRATEGIES = Registry("strategy", "strategy.name")

# Imported for their registration side effect.
from tavaal_jax.strategies import (  # noqa: E402,F401
    adversarial, coreset, lloss, mc_dropout, random_sampling)
from tavaal_jax.strategies.base import SelectionContext, check_selection  # noqa: E402,F401


def uses_adversary(config) -> bool:
  """True when config.strategy.name trains a VAE and a discriminator (vaal, tavaal)."""
  return bool(STRATEGIES.trait(config.strategy.name, "adversary"))
