r"""CIFAR-10, the paper's main setting (supplement Table 1): ResNet-18, 1000 initial / 1000 budget.

Run:
  python -m tavaal_jax.main --config=configs/cifar10.py --workdir=runs/cifar10

Every other config imports this one and overrides what differs, so the defaults of
every field (the config contract) live here.
"""

import ml_collections


def get_config() -> ml_collections.ConfigDict:
  """The paper's CIFAR-10 protocol."""
  config = ml_collections.ConfigDict()
  config.seed = 0
  config.trials = 5

  config.dataset = ml_collections.ConfigDict()
  config.dataset.name = "cifar10"
  config.dataset.data_dir = ""          # TFDS data_dir; '' = TFDS's default (~/tensorflow_datasets)
  config.dataset.path = ""              # npz file or image folder, for the 'npz' and 'folder' sources
  config.dataset.image_size = 0         # 0 = native size; else resize + center-crop to a square
  # Segmentation sources: (H, W) every image (bilinear) and mask (nearest) is resized to;
  # () or (0, 0) = the native size. On the command line: --config.dataset.image_hw=512,1024
  config.dataset.image_hw = ()
  config.dataset.imbalance_ratio = 1    # for 'cifar10_imbalanced': 10 or 100
  config.dataset.num_classes = 0        # 0 = infer from the data
  config.dataset.augment = ml_collections.ConfigDict()
  config.dataset.augment.crop_padding = 4   # random crop with this much zero padding; 0 = off
  config.dataset.augment.flip = True        # random horizontal flip
  config.dataset.augment.crop_hw = ()       # segmentation: (h, w) random training crop; () = off

  config.model = ml_collections.ConfigDict()
  config.model.name = "resnet18"
  config.model.width = 64               # base width: stages width x (1, 2, 4, 8)
  config.model.dtype = "float32"        # computation dtype; 'bfloat16' on GPU/TPU
  config.model.dropout_rate = 0.0       # dropout before the classifier head

  config.train = ml_collections.ConfigDict()
  config.train.epochs = 200
  config.train.batch_size = 128
  config.train.eval_batch_size = 500
  config.train.epoch_l = 120            # after this epoch the ranker's gradient into the backbone stops

  # Any optax optimizer by name: optax.<name>(learning_rate=<schedule>, **kwargs).
  # weight_decay goes to the optimizer when it takes one (adamw, lamb); otherwise it is
  # added to the gradient as coupled L2 decay, as PyTorch's SGD does.
  config.optimizer = ml_collections.ConfigDict()
  config.optimizer.name = "sgd"
  config.optimizer.learning_rate = 0.1
  config.optimizer.weight_decay = 5e-4
  config.optimizer.kwargs = ml_collections.ConfigDict({"momentum": 0.9})
  config.optimizer.schedule = ml_collections.ConfigDict()
  config.optimizer.schedule.name = "multistep"     # constant | multistep | cosine
  config.optimizer.schedule.milestones = (160,)    # epochs at which lr *= decay_factor
  config.optimizer.schedule.decay_factor = 0.1
  config.optimizer.schedule.warmup_epochs = 0      # linear warm-up (cosine only)

  config.al = ml_collections.ConfigDict()
  config.al.initial = 1000
  config.al.budget = 1000
  config.al.stages = 10
  config.al.subset = 10000
  config.al.independent = False         # also train a ranker-free learner per stage (supp. Sec. 2)

  # The loss-prediction module (Ranker), attached for `lloss` and `tavaal` only.
  config.ranker = ml_collections.ConfigDict()
  config.ranker.loss = "llv2"           # 'll' (Learning Loss hinge) | 'llv2' (this paper's BCE)
  config.ranker.weight = 1.0            # eta: total loss = CE + eta * ranking loss
  config.ranker.margin = 1.0            # xi of the 'll' hinge
  config.ranker.hidden = 128            # Dense width per stage feature

  # VAE / WAE of VAAL and TA-VAAL (zeta_2 = vae.optimizer.learning_rate).
  config.vae = ml_collections.ConfigDict()
  config.vae.kind = "vae"               # 'vae' (MSE + beta * KL) | 'wae' (MSE + MMD)
  config.vae.latent_dim = 64            # d
  config.vae.width = 128                # encoder widths width x (1, 2, 4, 8)
  config.vae.beta = 1.0
  config.vae.kl_reduction = "mean"      # 'mean' (the authors' release) | 'sum' (VAAL)
  config.vae.adversary_weight = 1.0     # lambda
  config.vae.epochs = 100               # iterations = (labeled + subset) * epochs / batch_size
  config.vae.batch_size = 128
  config.vae.image_size = 0             # 0: the learner's images; S: resized to S on the shorter side
  config.vae.steps_per_iteration = 1    # VAE steps per discriminator step (VAAL uses 2)
  config.vae.ranker_input = "rank"      # how r is normalised: 'rank' (paper) | 'sigmoid' (release)
  # How the k4 s2 layers run: 'auto' ('phases' on CPU, where XLA's transposed convs are slow;
  # 'native' on GPU/TPU) | 'phases' (as 2x2 convs) | 'native' (nn.ConvTranspose). Same maps.
  config.vae.conv_form = "auto"
  config.vae.optimizer = _adam(5e-4)

  # The discriminator: an MLP on [mu, r] ending in one sigmoid unit (zeta_3).
  config.discriminator = ml_collections.ConfigDict()
  config.discriminator.hidden = (512, 512)
  config.discriminator.optimizer = _adam(5e-4)

  config.strategy = ml_collections.ConfigDict()
  config.strategy.name = "random"
  config.strategy.batch_size = 500      # scoring-pass batch (no gradients: can be large)
  config.strategy.mc_passes = 25        # MC-dropout forward passes
  config.strategy.mc_score = "entropy"  # 'entropy' | 'bald' | 'variation_ratio'
  # Sequential GCN (uncertaingcn, coregcn), the authors' values (Caramalau et al., 2021).
  config.strategy.gcn_hidden = 128          # hidden units of the two-layer GCN
  config.strategy.gcn_dropout = 0.3         # dropout on the hidden units while training
  config.strategy.gcn_learning_rate = 1e-3  # Adam
  config.strategy.gcn_weight_decay = 5e-4   # L2 added to the gradient, as PyTorch's Adam
  config.strategy.gcn_epochs = 200          # full-batch training steps
  config.strategy.gcn_lambda = 1.2          # weight of the unlabeled nodes' BCE term
  config.strategy.gcn_margin = 0.1          # uncertaingcn: picks s("labeled") nearest this

  # Switches that reproduce the authors' release where it departs from the paper.
  config.compat = ml_collections.ConfigDict()
  config.compat.ranker_for_all = False        # the release trains a ranker for every strategy
  config.compat.raw_ranker_to_discriminator = False  # the release feeds D the raw ranker output
  return config


def _adam(learning_rate: float) -> ml_collections.ConfigDict:
  """An optimizer config (same fields as config.optimizer) for Adam at a constant rate."""
  return ml_collections.ConfigDict({
      "name": "adam", "learning_rate": learning_rate, "weight_decay": 0.0, "kwargs": {},
      "schedule": {"name": "constant", "milestones": (), "decay_factor": 1.0,
                   "warmup_epochs": 0}})
