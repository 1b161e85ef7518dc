r"""CIFAR-10 in VAAL's large-budget setting (supplement Sec. 5): 5000 initial / 2500 budget.

  python -m tavaal_jax.main --config=configs/cifar10_large.py
"""

from configs import cifar10


def get_config():
  config = cifar10.get_config()
  config.al.initial = 5000
  config.al.budget = 2500
  return config
