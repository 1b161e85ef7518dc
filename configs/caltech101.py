r"""Caltech-101 (supplement Table 1): ImageNet-stem ResNet-18 on 224x224 crops, 1000 / 500.

  python -m tavaal_jax.main --config=configs/caltech101.py
"""

from configs import cifar10


def get_config():
  config = cifar10.get_config()
  config.dataset.name = "caltech101"
  config.dataset.image_size = 224           # shorter side resized, then center-cropped
  config.dataset.augment.crop_padding = 0
  config.dataset.augment.flip = True
  config.model.name = "resnet18_imagenet"
  config.train.batch_size = 16
  config.train.eval_batch_size = 100
  config.optimizer.learning_rate = 1e-2     # zeta_1
  config.al.initial = 1000
  config.al.budget = 500
  # TFDS's caltech101 train split holds 3,060 images (30 per class), fewer than the 5,500
  # that 10 stages would label: 5 stages (1000 -> 3000 labels) fit it.
  config.al.stages = 5
  config.al.subset = 3060
  config.ranker.weight = 0.2                # eta
  config.vae.latent_dim = 128               # d
  config.vae.adversary_weight = 15.0        # lambda
  config.vae.batch_size = 16
  config.vae.optimizer.learning_rate = 1e-4            # zeta_2
  config.discriminator.optimizer.learning_rate = 1e-4  # zeta_3
  config.strategy.batch_size = 100
  return config
