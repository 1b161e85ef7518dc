r"""Caltech-256 with VGG-16 (supplement Sec. 6, Table 1): 3060 initial / 1530 budget.

Caltech-256 is not in TFDS's data_source form, so it is read with the `folder` source:
lay it out as DIR/train/<class>/*.jpg and DIR/test/<class>/*.jpg, then
  python -m tavaal_jax.main --config=configs/caltech256.py --config.dataset.path=DIR
"""

from configs import cifar10


def get_config():
  config = cifar10.get_config()
  config.dataset.name = "folder"
  config.dataset.path = "data/caltech256"
  config.dataset.image_size = 224           # images differ in size: resize + center-crop
  config.dataset.augment.crop_padding = 0
  config.dataset.augment.flip = True
  config.model.name = "vgg16"
  config.train.batch_size = 64
  config.train.eval_batch_size = 128
  config.train.epochs = 100
  config.optimizer.learning_rate = 5e-4     # zeta_1
  config.optimizer.schedule.milestones = (80,)  # same 4/5 point as CIFAR's 160 of 200
  config.al.initial = 3060
  config.al.budget = 1530
  config.ranker.weight = 0.1                # eta
  config.vae.latent_dim = 128               # d
  config.vae.adversary_weight = 15.0        # lambda
  config.vae.batch_size = 64
  config.vae.optimizer.learning_rate = 5e-4            # zeta_2
  config.discriminator.optimizer.learning_rate = 5e-4  # zeta_3
  config.strategy.batch_size = 128
  return config
