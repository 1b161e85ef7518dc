r"""Cityscapes semantic segmentation (supplement Table 1, Fig. 6d): DRN-D-22, 200 / 200, mIoU.

  python -m tavaal_jax.main --config=configs/cityscapes.py \
      --config.dataset.path=/data/cityscapes --workdir=runs/cityscapes

dataset.path: the folder holding leftImg8bit/ and gtFine/ as the official download unpacks
them (leftImg8bit_trainvaltest.zip, gtFine_trainvaltest.zip from
https://www.cityscapes-dataset.com/downloads/); or leave it empty to read a prepared TFDS
cityscapes/semantic_segmentation from dataset.data_dir. The val split is the test split.

Table 1: d = 128, task learner lr 1e-3, VAE and D lr 1e-4, eta 0.1, lambda 25, beta 1,
batch 4, 100 epochs, 412x412 crops. Choices the paper leaves open, made here: images at
half resolution (512 x 1024, as DRN's own Cityscapes recipe trains on crops of full-size
images; half size keeps a 412 crop a large part of the scene), SGD with momentum 0.9 at the
paper's lr (DRN's optimiser), the ranker's gradient stopped after 60 of the 100 epochs
(CIFAR's 120 / 200), and the VAE on images resized to 128 on the shorter side (128 x 256):
the VAE of Table 1 (d = 128, four stride-2 layers) on 512 x 1024 inputs would cost more than
the task learner, and VAAL / TA-VAAL only need its latent code to tell L from S.

One departure: Table 1's batch is 4; train.batch_size and vae.batch_size are 8 here, so that
the config runs unchanged on an 8-device node (a training batch must split evenly over the
devices). On up to 4 devices, --config.train.batch_size=4 --config.vae.batch_size=4 gives
the paper's batch.
"""

from configs import cifar10


def get_config():
  config = cifar10.get_config()
  config.dataset.name = "cityscapes"
  config.dataset.image_hw = (512, 1024)
  config.dataset.num_classes = 19
  config.dataset.augment.crop_padding = 0
  config.dataset.augment.flip = True
  config.dataset.augment.crop_hw = (412, 412)
  config.model.name = "drn_d_22"
  config.model.width = 16                   # DRN-D-22's channels 16 ... 512
  config.train.epochs = 100
  config.train.epoch_l = 60
  config.train.batch_size = 8               # Table 1: 4 (see the docstring)
  config.train.eval_batch_size = 8
  config.optimizer.learning_rate = 1e-3     # zeta_1
  config.optimizer.weight_decay = 1e-4
  config.optimizer.schedule.name = "constant"
  config.optimizer.schedule.milestones = ()
  config.al.initial = 200
  config.al.budget = 200
  config.al.stages = 5                      # 200 -> 1000 labels
  config.al.subset = 2975                   # the whole train split
  config.ranker.weight = 0.1                # eta
  config.vae.latent_dim = 128               # d
  config.vae.adversary_weight = 25.0        # lambda
  config.vae.beta = 1.0
  config.vae.batch_size = 8
  config.vae.image_size = 128               # the VAE's images: 128 x 256
  config.vae.optimizer.learning_rate = 1e-4            # zeta_2
  config.discriminator.optimizer.learning_rate = 1e-4  # zeta_3
  config.strategy.batch_size = 8
  config.strategy.name = "tavaal"
  return config
