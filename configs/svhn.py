r"""SVHN cropped digits (supplement Sec. 4): ResNet-18, 1000 / 1000, CIFAR-10's augmentation.

  python -m tavaal_jax.main --config=configs/svhn.py
"""

from configs import cifar10


def get_config():
  config = cifar10.get_config()
  config.dataset.name = "svhn_cropped"
  # The supplement states weight decay 0.005 for SVHN and Fashion-MNIST (10x CIFAR's);
  # set --config.optimizer.weight_decay=5e-4 to use CIFAR's value instead.
  config.optimizer.weight_decay = 5e-3
  return config
