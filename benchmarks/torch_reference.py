"""PyTorch comparators (eager), written as the reference releases run them, same shapes and
parameter counts as the JAX models:

  * ResNet-18 (CIFAR stem, bias-free convs + BatchNorm) + the loss-prediction module (global
    average pool + Linear(c_i, 128) + ReLU per stage, Linear(512, 1)); one train step is
    augmentation (random crop with padding, flip) + normalisation, CE + llv2 ranking loss,
    SGD with momentum and coupled weight decay.
  * VAE (encoder: four k4 s2 p1 convs of widths w, 2w, 4w, 8w + BN + ReLU, Linear mu/logvar;
    decoder: Linear on [z, r], three k4 s2 p1 ConvTranspose + BN + ReLU, 1x1 conv) and the
    discriminator MLP on [mu, r]; one iteration is a VAE step then a D step, Adam, over the
    concatenated labeled + unlabeled batch as `tavaal_jax.adversary` does.
  * The scoring pass: eval mode, `torch.inference_mode`, the same batches.

Only `benchmarks.run` imports this module; `tavaal_jax` never imports torch.
"""

from typing import Any, Dict

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from benchmarks.common import Bench, SyntheticSource, repeat, summary, unpaired_sections


def _device(p: Dict[str, Any]) -> torch.device:
  if p.get("torch_threads"):
    torch.set_num_threads(int(p["torch_threads"]))
  return torch.device(p.get("torch_device", "cpu"))


def _sync(device: torch.device) -> None:
  if device.type == "cuda":
    torch.cuda.synchronize()


def _count(module: nn.Module) -> int:
  return int(sum(p.numel() for p in module.parameters()))


# ----------------------------------------------------------------------------- ResNet-18


class BasicBlock(nn.Module):

  def __init__(self, cin: int, cout: int, stride: int):
    super().__init__()
    self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
    self.bn1 = nn.BatchNorm2d(cout)
    self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
    self.bn2 = nn.BatchNorm2d(cout)
    self.shortcut = nn.Sequential()
    if stride != 1 or cin != cout:
      self.shortcut = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False),
                                    nn.BatchNorm2d(cout))

  def forward(self, x):
    y = F.relu(self.bn1(self.conv1(x)))
    y = self.bn2(self.conv2(y))
    return F.relu(y + self.shortcut(x))


class ResNet18(nn.Module):
  """CIFAR-stem ResNet-18 returning (logits, embedding, four stage features)."""

  def __init__(self, num_classes: int = 10, width: int = 64, channels: int = 3):
    super().__init__()
    self.conv1 = nn.Conv2d(channels, width, 3, 1, 1, bias=False)
    self.bn1 = nn.BatchNorm2d(width)
    stages, cin = [], width
    for stage in range(4):
      cout = width * 2**stage
      blocks = []
      for block in range(2):
        blocks.append(BasicBlock(cin, cout, 2 if stage > 0 and block == 0 else 1))
        cin = cout
      stages.append(nn.Sequential(*blocks))
    self.stages = nn.ModuleList(stages)
    self.linear = nn.Linear(8 * width, num_classes)

  def forward(self, x):
    x = F.relu(self.bn1(self.conv1(x)))
    features = []
    for stage in self.stages:
      x = stage(x)
      features.append(x)
    embedding = x.mean((2, 3))
    return self.linear(embedding), embedding, features


class LossNet(nn.Module):
  """Learning Loss's module: per stage GAP + Linear(c, hidden) + ReLU, concat, Linear."""

  def __init__(self, width: int = 64, hidden: int = 128):
    super().__init__()
    self.fcs = nn.ModuleList([nn.Linear(width * 2**i, hidden) for i in range(4)])
    self.out = nn.Linear(4 * hidden, 1)

  def forward(self, features):
    hidden = [F.relu(fc(f.mean((2, 3)))) for fc, f in zip(self.fcs, features)]
    return self.out(torch.cat(hidden, 1)).view(-1)


def llv2_loss(predicted: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
  """TA-VAAL's ranking loss: BCE(sigmoid(p_i - p_j), 1[l_i > l_j]) over pairs (i, B-1-i)."""
  half = predicted.shape[0] // 2
  dp = predicted[:half] - predicted.flip(0)[:half]
  dl = (target[:half] - target.flip(0)[:half]).detach()
  return F.binary_cross_entropy_with_logits(dp, (dl > 0).float())


def _normalize(images_u8: torch.Tensor, mean: float = 0.5, std: float = 0.25) -> torch.Tensor:
  """uint8 NHWC -> float NCHW, (x / 255 - mean) / std (as the JAX steps, on the device)."""
  x = images_u8.permute(0, 3, 1, 2).float() / 255.0
  return (x - mean) / std


def _augment(x: torch.Tensor, padding: int = 4) -> torch.Tensor:
  """Random crop (zero padding) and horizontal flip of a float NCHW batch, per image."""
  b, _, h, w = x.shape
  padded = F.pad(x, (padding,) * 4)
  offsets = torch.randint(0, 2 * padding + 1, (b, 2))
  flips = torch.rand(b) < 0.5
  out = torch.empty_like(x)
  for i in range(b):
    oy, ox = int(offsets[i, 0]), int(offsets[i, 1])
    crop = padded[i, :, oy:oy + h, ox:ox + w]
    out[i] = crop.flip(2) if flips[i] else crop
  return out


def _task_models(p: Dict[str, Any], device):
  torch.manual_seed(0)
  net = ResNet18(10, int(p.get("width", 64))).to(device)
  loss_net = LossNet(int(p.get("width", 64))).to(device)
  return net, loss_net


def prepare_train_step(p: Dict[str, Any]) -> Bench:
  device = _device(p)
  b, s = int(p["batch_size"]), int(p["image_size"])
  net, loss_net = _task_models(p, device)
  params = list(net.parameters()) + list(loss_net.parameters())
  optimizer = torch.optim.SGD(params, lr=0.1, momentum=0.9, weight_decay=5e-4)
  images, labels = SyntheticSource(b, (s, s, 3)).get(np.arange(b))
  images = torch.from_numpy(images).to(device)
  labels = torch.from_numpy(labels).long().to(device)
  net.train()
  loss_net.train()

  def one_step():
    x = _augment(_normalize(images))
    logits, _, features = net(x)
    per_sample = F.cross_entropy(logits, labels, reduction="none")
    predicted = loss_net(features)
    loss = per_sample.mean() + 1.0 * llv2_loss(predicted, per_sample.detach())
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    optimizer.step()
    _sync(device)

  steps = int(p.get("steps_per_rep", 1))

  def call():
    for _ in range(steps):
      one_step()

  info = dict(steps_per_call=steps, param_count=_count(net) + _count(loss_net),
              param_count_backbone=_count(net), param_count_ranker=_count(loss_net),
              threads=torch.get_num_threads(), torch_version=torch.__version__,
              device=str(device))
  return Bench(call, b * steps, "images", info, warmup=int(p.get("warmup", 2)))


# ----------------------------------------------------------------------------- VAE + D


class VAE(nn.Module):

  def __init__(self, latent: int, width: int, channels: int, image_size: int):
    super().__init__()
    layers, cin = [], channels
    for mult in (1, 2, 4, 8):
      layers += [nn.Conv2d(cin, width * mult, 4, 2, 1, bias=False),
                 nn.BatchNorm2d(width * mult), nn.ReLU(True)]
      cin = width * mult
    self.encoder = nn.Sequential(*layers)
    enc = image_size // 16
    self.mu = nn.Linear(8 * width * enc * enc, latent)
    self.logvar = nn.Linear(8 * width * enc * enc, latent)
    self.start = image_size // 8
    self.width = width
    self.fc = nn.Linear(latent + 1, 8 * width * self.start**2)
    layers, cin = [], 8 * width
    for mult in (4, 2, 1):
      layers += [nn.ConvTranspose2d(cin, width * mult, 4, 2, 1, bias=False),
                 nn.BatchNorm2d(width * mult), nn.ReLU(True)]
      cin = width * mult
    layers.append(nn.Conv2d(width, channels, 1))
    self.decoder = nn.Sequential(*layers)

  def encode(self, x):
    y = self.encoder(x).flatten(1)
    return self.mu(y), self.logvar(y)

  def forward(self, x, r):
    mu, logvar = self.encode(x)
    z = mu + torch.exp(0.5 * logvar) * torch.randn_like(mu)
    y = self.fc(torch.cat([z, r[:, None]], 1)).view(-1, 8 * self.width, self.start, self.start)
    return self.decoder(y), mu, logvar


class Discriminator(nn.Module):

  def __init__(self, latent: int, hidden=(512, 512)):
    super().__init__()
    layers, cin = [], latent + 1
    for h in hidden:
      layers += [nn.Linear(cin, h), nn.ReLU(True)]
      cin = h
    layers.append(nn.Linear(cin, 1))
    self.net = nn.Sequential(*layers)

  def forward(self, mu, r):
    return self.net(torch.cat([mu, r[:, None]], 1)).view(-1)


def _vae_loss(recon, x, mu, logvar, beta: float = 1.0):
  kl = (-0.5 * (1 + logvar - mu.pow(2) - logvar.exp())).mean()
  return F.mse_loss(recon, x) + beta * kl


def prepare_adversary_step(p: Dict[str, Any]) -> Bench:
  device = _device(p)
  s, c, b = int(p.get("image_size", 32)), int(p.get("channels", 3)), int(p["vae_batch_size"])
  latent, width = int(p["latent_dim"]), int(p["vae_width"])
  torch.manual_seed(0)
  vae = VAE(latent, width, c, s).to(device)
  disc = Discriminator(latent).to(device)
  vae_opt = torch.optim.Adam(vae.parameters(), lr=5e-4)
  disc_opt = torch.optim.Adam(disc.parameters(), lr=5e-4)
  source = SyntheticSource(2 * b, (s, s, c))
  images = torch.from_numpy(source.get(np.arange(2 * b))[0]).to(device)
  rng = np.random.default_rng(0)
  r = torch.from_numpy(rng.random(2 * b, np.float32)).to(device)
  bce = F.binary_cross_entropy_with_logits
  ones, zeros = torch.ones(b, device=device), torch.zeros(b, device=device)

  def one_iteration():
    x = _normalize(images)
    # VAE step (D frozen: no gradient is computed for it).
    vae.train()
    disc.requires_grad_(False)
    recon, mu, logvar = vae(x, r)
    reconstruction = (_vae_loss(recon[:b], x[:b], mu[:b], logvar[:b])
                      + _vae_loss(recon[b:], x[b:], mu[b:], logvar[b:]))
    logits = disc(mu, r)
    loss = reconstruction + 1.0 * (bce(logits[:b], ones) + bce(logits[b:], ones))
    vae_opt.zero_grad(set_to_none=True)
    loss.backward()
    vae_opt.step()
    # D step on the frozen VAE's eval-mode codes.
    disc.requires_grad_(True)
    vae.eval()
    with torch.no_grad():
      mu, _ = vae.encode(x)
    logits = disc(mu, r)
    d_loss = bce(logits[:b], ones) + bce(logits[b:], zeros)
    disc_opt.zero_grad(set_to_none=True)
    d_loss.backward()
    disc_opt.step()
    _sync(device)

  iters = int(p.get("steps_per_rep", 1))

  def call():
    for _ in range(iters):
      one_iteration()

  info = dict(iterations_per_call=iters, param_count=_count(vae) + _count(disc),
              param_count_vae=_count(vae), param_count_discriminator=_count(disc),
              threads=torch.get_num_threads())
  return Bench(call, iters, "iterations", info, warmup=int(p.get("warmup", 2)))


# ----------------------------------------------------------------------------- scoring


def prepare_scoring(p: Dict[str, Any]) -> Bench:
  """Eval-mode forward of ResNet-18 + loss module over the pool, batch by batch, keeping
  logits, embeddings and predicted losses on the host (as score_pool returns them)."""
  device = _device(p)
  n, batch = int(p.get("pool", 10000)), int(p.get("scoring_batch_size", 500))
  s = int(p["image_size"])
  net, loss_net = _task_models(p, device)
  net.eval()
  loss_net.eval()
  source = SyntheticSource(n, (s, s, 3))

  def run(count):
    outputs = {"logits": [], "embedding": [], "predicted_loss": []}
    with torch.inference_mode():
      for start in range(0, count, batch):
        images, _ = source.get(np.arange(start, min(count, start + batch)))
        x = _normalize(torch.from_numpy(images).to(device))
        logits, embedding, features = net(x)
        outputs["logits"].append(logits.cpu().numpy())
        outputs["embedding"].append(embedding.cpu().numpy())
        outputs["predicted_loss"].append(loss_net(features).cpu().numpy())
    return {k: np.concatenate(v) for k, v in outputs.items()}

  run(min(n, batch))
  info = dict(pool=n, batch_size=batch, param_count=_count(net) + _count(loss_net),
              threads=torch.get_num_threads())
  return Bench(lambda: run(n), n, "images", info)


# ----------------------------------------------------------------------------- machine


def machine(p: Dict[str, Any]) -> Dict[str, Any]:
  device = _device(p)
  n = int(p.get("matmul_size", 4096))
  a = torch.randn(n, n, device=device)
  b = torch.randn(n, n, device=device)
  a @ b
  _sync(device)

  def one():
    a @ b
    _sync(device)
  stats = summary(repeat(one, int(p.get("reps", 5))), 2.0 * n**3, "flop")
  return {"matmul_fp32_flops": stats["flop_per_s"], "matmul_size": n,
          "threads": torch.get_num_threads(), "torch_version": torch.__version__,
          "device": str(device), "seconds_all": stats["seconds_all"],
          "load_average": stats["load_average"]}


PAIRED = {"train_step": prepare_train_step, "adversary_step": prepare_adversary_step,
          "scoring": prepare_scoring}

SECTIONS = {"machine": machine, **unpaired_sections(PAIRED)}
