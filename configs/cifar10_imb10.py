r"""Imbalanced CIFAR-10, ratio 10: even classes keep 500 training images, odd classes 5000.

  python -m tavaal_jax.main --config=configs/cifar10_imb10.py
"""

from configs import cifar10


def get_config():
  config = cifar10.get_config()
  config.dataset.name = "cifar10_imbalanced"
  config.dataset.imbalance_ratio = 10
  return config
