r"""Fashion-MNIST (supplement Sec. 4): 1-channel 28x28 ResNet-18, 1000 / 1000, normalisation only.

  python -m tavaal_jax.main --config=configs/fashion_mnist.py
"""

from configs import cifar10


def get_config():
  config = cifar10.get_config()
  config.dataset.name = "fashion_mnist"
  config.dataset.augment.crop_padding = 0   # "only normalization was applied"
  config.dataset.augment.flip = False
  config.optimizer.weight_decay = 5e-3      # as the supplement states; see configs/svhn.py
  return config
