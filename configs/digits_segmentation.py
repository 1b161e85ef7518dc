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
  config.model.width = 4                   # DRN-D-22's channels / 4: 4 ... 128
  config.train.epochs = 20
  config.train.batch_size = 16
  config.train.eval_batch_size = 100
  # Adam: the DRN's classifier starts with large logits (the reference's init), which SGD at
  # the classification default's rate does not recover from in 20 epochs.
  config.optimizer.name = "adam"
  config.optimizer.learning_rate = 1e-3
  config.optimizer.weight_decay = 0.0
  config.optimizer.kwargs = ml_collections.ConfigDict()
  config.optimizer.schedule.milestones = (16,)
  config.al.initial = 100
  config.al.budget = 60
  config.al.stages = 6                     # 100 -> 400 labels
  config.al.subset = 300
  config.strategy.batch_size = 100
  config.vae.latent_dim = 16
  config.vae.width = 8
  config.vae.epochs = 5
  config.vae.batch_size = 32
  return config
