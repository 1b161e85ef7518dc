r"""CIFAR-100 in VAAL's large-budget setting (supplement Sec. 5): 5000 initial / 2500 budget.

  python -m tavaal_jax.main --config=configs/cifar100_large.py
"""

from configs import cifar100


def get_config():
  config = cifar100.get_config()
  config.al.initial = 5000
  config.al.budget = 2500
  return config
