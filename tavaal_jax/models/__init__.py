"""Task-learner backbones, looked up by `config.model.name`.

Every registered builder takes (num_classes, width, dtype, dropout_rate) and returns a Flax
module with the call contract

    variables = model.init({'params': key, 'dropout': key2}, x, train=False)
    out, state = model.apply(variables, x, train=True, mutable=['batch_stats'],
                             rngs={'dropout': k})
    out = model.apply(variables, x, train=False)                  # running stats, no dropout
    out = model.apply(variables, x, train=False, mc_dropout=True,
                      rngs={'dropout': k})                        # running stats, dropout on

where x is float32 [B, H, W, C] and `out` is a `BackboneOutput`. A builder registered with
`embedding=True` returns the pooled feature before the head as `out.embedding` [B, D]
(the strategies that select on embeddings, e.g. core-set and BADGE, need it).
"""

import flax.linen as nn
import jax.numpy as jnp

from tavaal_jax.errors import ConfigError
from tavaal_jax.models.base import BackboneOutput
from tavaal_jax.registry import Registry

MODELS = Registry("model", "model.name")

# Imported after MODELS exists: each module registers its builders on import.
from tavaal_jax.models import drn  # noqa: E402,F401
from tavaal_jax.models import resnet  # noqa: E402,F401
from tavaal_jax.models import vgg  # noqa: E402,F401

DTYPES = {"float32": jnp.float32, "bfloat16": jnp.bfloat16}

__all__ = ["BackboneOutput", "DTYPES", "MODELS", "build_model"]


def build_model(model_config, num_classes: int) -> nn.Module:
  """The backbone named by `model_config.name`.

  model_config fields: name (str), width (int, base width; 64 is the paper's),
  dtype ('float32' | 'bfloat16', the compute dtype; parameters stay float32),
  dropout_rate (float, default 0.0; dropout on the pooled embedding before the head).
  Raises ConfigError for an unknown name or an invalid field.
  """
  builder = MODELS.get(model_config.get("name"))
  width = model_config.get("width", 64)
  if isinstance(width, bool) or not isinstance(width, int) or width < 1:
    raise ConfigError(f"model.width must be a positive integer, got {width!r}")
  dtype_name = model_config.get("dtype", "float32")
  if dtype_name not in DTYPES:
    raise ConfigError(f"unknown model.dtype {dtype_name!r}; valid: {', '.join(DTYPES)}")
  dropout_rate = float(model_config.get("dropout_rate", 0.0))
  if not 0.0 <= dropout_rate < 1.0:
    raise ConfigError(f"model.dropout_rate must be in [0, 1), got {dropout_rate}")
  if num_classes < 1:
    raise ConfigError(f"num_classes must be positive, got {num_classes}")
  return builder(num_classes=num_classes, width=width, dtype=DTYPES[dtype_name],
                 dropout_rate=dropout_rate)
