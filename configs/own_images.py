r"""Your own RGB photos, labeled round by round: the query command's defaults.

One round (train on the labeled images, pick the next 100 to label):
  python -m tavaal_jax.query --config=configs/own_images.py \
      --config.dataset.path=POOL --config.dataset.labels=LABELS.csv --workdir=W

POOL: a folder of images (png, jpg, jpeg, bmp, gif, webp; any sizes, searched recursively),
resized and center-cropped to dataset.image_size. LABELS.csv: a header `file,label`, then
one row per labeled image (path relative to POOL, class name); a Label Studio JSON export
works too. Add --config.dataset.test_labels=TEST.csv (the same format) for held-out accuracy
per round and W/learning_curve.png. See README "Label your own images" for the whole loop.

Sized for a CPU: a ResNet-18 of base width 32 on 32x32 images, 30 epochs, TA-VAAL with a
width-32 VAE for 10 epochs over the pool. Measured (2026-12-03, 2 CPU cores shared with
other jobs): a pool of 3,000 RGB JPEGs (tinted digits) with 300 labeled and 500 test images,
round 1 took 9.5 min wall (training 3.3, VAE and discriminator 4.7) and 440 s of CPU,
1.3 GB of memory, 93% held-out accuracy. Training grows with the labeled set.
For larger photos raise dataset.image_size (e.g. 64 or 96) and, on a GPU, model.width=64.
trials, al.initial and al.stages belong to the simulation (tavaal_jax.main): unused here.
"""

import ml_collections

from configs import cifar10


def get_config() -> ml_collections.ConfigDict:
  config = cifar10.get_config()
  config.trials = 1
  config.dataset.name = "image_pool"
  config.dataset.path = ""              # the pool folder (--config.dataset.path=POOL)
  config.dataset.labels = ""            # file,label CSV or a Label Studio JSON export
  config.dataset.test_labels = ""       # optional held-out labels, never picked
  config.dataset.image_size = 32
  config.dataset.augment.crop_padding = 4
  config.dataset.augment.flip = True
  config.model.width = 32
  config.train.epochs = 30
  config.train.epoch_l = 20
  config.train.batch_size = 32
  config.train.eval_batch_size = 250
  config.optimizer.learning_rate = 0.05
  config.optimizer.schedule.milestones = (24,)
  config.al.budget = 100
  config.al.subset = 10000              # candidates per round: all of a few thousand
  config.strategy.name = "tavaal"
  config.strategy.batch_size = 250
  config.vae.latent_dim = 32
  config.vae.width = 32
  config.vae.epochs = 10
  config.vae.batch_size = 64
  config.discriminator.hidden = (256, 256)

  # How the Label Studio tasks of a round name their image and their tags.
  config.labeling = ml_collections.ConfigDict()
  # data.image = prefix + file (URL-quoted); Label Studio's local files by default, with
  # LABEL_STUDIO_LOCAL_FILES_DOCUMENT_ROOT set to POOL (or a folder above it).
  config.labeling.image_url_prefix = "/data/local-files/?d="
  config.labeling.choices_name = "choice"   # <Choices name=...> of the labeling config
  config.labeling.image_name = "image"      # <Image name=...>
  return config
