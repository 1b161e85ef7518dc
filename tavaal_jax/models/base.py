"""What every task-learner backbone returns."""

from typing import List, NamedTuple

import jax


class BackboneOutput(NamedTuple):
  """Outputs of a backbone on a batch of B images.

  logits:    [B, num_classes] (classifiers) or [B, H, W, num_classes] at the input size
             (segmentation networks, e.g. drn_d_22).
  embedding: [B, D] the pooled feature before the classifier (core-set uses it).
  features:  four stage outputs [B, h_i, w_i, c_i] (the loss-prediction module uses them).
  """

  logits: jax.Array
  embedding: jax.Array
  features: List[jax.Array]
