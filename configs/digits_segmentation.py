r"""The embedded segmentation default: scikit-learn's real digits composed onto 48x48
canvases (24 px digits; every pixel labelled background or its digit: 11 classes), no
download. A tiny DRN-D-22 learns it; sized so that a full run (1 trial, 6 stages) takes a
few minutes on 2 CPU cores and the mIoU visibly rises with the number of labels:
  python -m tavaal_jax.main --config=configs/digits_segmentation.py
"""

import ml_collections

from configs import digits


def get_config() -> ml_collections.ConfigDict:
  config = digits.get_config()
  config.dataset.name = "digits_segmentation"
  config.dataset.image_size = 48           # the canvas side (data/digits_segmentation.py)
  config.dataset.augment.crop_padding = 2  # image and mask shifted together; pad = ignore
  config.dataset.augment.flip = False      # a mirrored digit is another symbol
  config.model.name = "drn_d_22"
  config.model.width = 8                   # DRN-D-22's channels halved: 8 ... 256
  config.train.epochs = 30
  config.train.batch_size = 16
  config.train.eval_batch_size = 100
  config.optimizer.learning_rate = 0.05
  config.optimizer.schedule.milestones = (24,)
  config.al.initial = 20
  config.al.budget = 20
  config.al.stages = 6
  config.al.subset = 400
  config.strategy.batch_size = 100
  config.vae.latent_dim = 16
  config.vae.width = 16
  config.vae.epochs = 10
  config.vae.batch_size = 32
  return config
