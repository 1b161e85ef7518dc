r"""The embedded default: scikit-learn's digits (1,797 real 8x8 images, no download).

Sized so that a full run (1 trial, every stage) takes a few minutes on 2 CPU cores and the
accuracy visibly rises with the number of labels:
  python -m tavaal_jax.main --config=configs/digits.py
"""

import ml_collections

from configs import cifar10


def get_config() -> ml_collections.ConfigDict:
  config = cifar10.get_config()
  config.trials = 1
  config.dataset.name = "digits"
  config.dataset.image_size = 16          # 8x8 upsampled, so four stride-2 stages still apply
  config.dataset.augment.crop_padding = 2
  config.dataset.augment.flip = False      # a mirrored digit is another symbol
  config.model.width = 16
  config.train.epochs = 30
  config.train.batch_size = 32
  config.train.eval_batch_size = 128
  config.optimizer.learning_rate = 0.05
  config.optimizer.schedule.milestones = (24,)
  config.al.initial = 40
  config.al.budget = 40
  config.al.stages = 6
  config.al.subset = 500
  config.strategy.name = "tavaal"
  config.strategy.batch_size = 250
  config.vae.latent_dim = 16
  config.vae.width = 16                   # encoder 16/32/64/128 on 16x16 images
  config.vae.epochs = 10                  # ~100 VAE + discriminator iterations per stage
  config.vae.batch_size = 64
  config.discriminator.hidden = (128, 128)
  return config
