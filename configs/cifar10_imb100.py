r"""Imbalanced CIFAR-10, ratio 100: even classes keep 50 training images, odd classes 5000.

  python -m tavaal_jax.main --config=configs/cifar10_imb100.py
"""

from configs import cifar10_imb10


def get_config():
  config = cifar10_imb10.get_config()
  config.dataset.imbalance_ratio = 100
  return config
