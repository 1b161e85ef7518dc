"""Selection strategies, registered by name; each is `select(SelectionContext) -> [budget] indices`.

Adding a strategy is one module here and one import line below.
"""

from tavaal_jax.registry import Registry

STRATEGIES = Registry("strategy", "strategy.name")

# Imported for their registration side effect.
from tavaal_jax.strategies import (  # noqa: E402,F401
    adversarial, coreset, lloss, mc_dropout, random_sampling)
from tavaal_jax.strategies.base import SelectionContext, check_selection  # noqa: E402,F401

