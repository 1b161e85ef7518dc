"""The JAX side of every measurement, through the package's real code paths.

Each public function takes a dict of sizes and returns a dict of figures; `benchmarks.run`
calls them in a worker subprocess (so peak RSS and XLA flags are per measurement).
"""

import functools
import os
import tempfile
import time
from typing import Any, Dict

import jax
import jax.numpy as jnp
import numpy as np

from benchmarks.common import (Bench, SyntheticSource, coreset_data, cpu_count, cpu_model,
                               peak_rss_mb, repeat, summary, unpaired_sections)


def _flops(compiled) -> float:
  """FLOPs of one call of a compiled XLA executable, from XLA's cost analysis (0 if absent)."""
  analysis = compiled.cost_analysis()
  if isinstance(analysis, (list, tuple)):
    analysis = analysis[0] if analysis else {}
  return float((analysis or {}).get("flops", 0.0))


def _block(tree) -> None:
  jax.block_until_ready(tree)


def _count(tree) -> int:
  return int(sum(np.prod(x.shape) for x in jax.tree_util.tree_leaves(tree)))


def _config(p: Dict[str, Any]):
  """configs/cifar10.py with TA-VAAL (so the learner has its ranker) at the given sizes."""
  from configs import cifar10
  config = cifar10.get_config()
  config.strategy.name = "tavaal"
  config.model.width = int(p.get("width", 64))
  config.train.batch_size = int(p.get("batch_size", 128))
  config.vae.width = int(p.get("vae_width", 128))
  config.vae.latent_dim = int(p.get("latent_dim", 64))
  config.vae.batch_size = int(p.get("vae_batch_size", 128))
  config.vae.conv_form = str(p.get("conv_form", "auto"))
  # Compute dtype of ResNet-18 + ranker and of the VAE / D (they follow model.dtype).
  config.model.dtype = str(p.get("dtype", "float32"))
  return config


def _dataset(n: int, image_size: int, channels: int = 3, num_classes: int = 10):
  from tavaal_jax.data.base import Dataset
  shape = (image_size, image_size, channels)
  source = SyntheticSource(n, shape, num_classes)
  return Dataset(name="synthetic", train=source, test=SyntheticSource(256, shape, num_classes, 1),
                 num_classes=num_classes, mean=np.full(channels, 0.5, np.float32),
                 std=np.full(channels, 0.25, np.float32))


def _learner(p: Dict[str, Any], pool: int = 1024):
  from tavaal_jax import parallel
  from tavaal_jax.learner import Learner
  config = _config(p)
  dataset = _dataset(pool, int(p.get("image_size", 32)))
  return Learner(dataset, config, parallel.make_mesh()), dataset


def device_description() -> str:
  device = jax.devices()[0]
  if device.platform == "cpu":
    return f"cpu: {cpu_model()} ({cpu_count()} cores), {len(jax.devices())} XLA device(s)"
  return f"{device.platform}: {getattr(device, 'device_kind', str(device))} x{len(jax.devices())}"


# ----------------------------------------------------------------------------- machine


def machine(p: Dict[str, Any]) -> Dict[str, Any]:
  """Measured matmul FLOP/s (fp32; bf16 too on an accelerator)."""
  from tavaal_jax import host_memory, xla_cpu
  n = int(p.get("matmul_size", 4096))
  out = {"device": device_description(), "platform": jax.devices()[0].platform,
         "cpu_model": cpu_model(), "cpu_cores": cpu_count(), "jax_version": jax.__version__,
         "xla_flags": os.environ.get("XLA_FLAGS", ""), "matmul_size": n,
         # What the worker's cpu_tuning.apply() put in force (benchmarks/run.py).
         "ynn_flag_by_package": xla_cpu.set_by_package(),
         "keep_freed_memory": host_memory.applied()}
  dtypes = [("fp32", jnp.float32)]
  if jax.devices()[0].platform != "cpu":
    dtypes.append(("bf16", jnp.bfloat16))
  for name, dtype in dtypes:
    a = jax.random.normal(jax.random.key(0), (n, n), dtype)
    b = jax.random.normal(jax.random.key(1), (n, n), dtype)
    matmul = jax.jit(lambda x, y: x @ y).lower(a, b).compile()
    _block(matmul(a, b))
    times = repeat(lambda: _block(matmul(a, b)), int(p.get("reps", 5)))
    stats = summary(times, 2.0 * n**3, "flop")
    out[f"matmul_{name}_flops"] = stats["flop_per_s"]
    out[f"matmul_{name}_seconds_all"] = stats["seconds_all"]
  out["matmul_flops"] = out["matmul_fp32_flops"]
  return out


# ----------------------------------------------------------------------------- train step


def _train_setup(p: Dict[str, Any]):
  if p.get("strided") == "s2d":
    use_s2d_strided_conv()
  from tavaal_jax import parallel
  from tavaal_jax.learner import train_step
  learner, dataset = _learner(p)
  b = int(p["batch_size"])
  step = jax.jit(functools.partial(train_step, task=learner.task,
                                   preprocessing=learner.preprocessing,
                                   ranker_loss=learner.ranker_loss), donate_argnums=(0,))
  state = learner.init(jax.random.key(0), b)
  batch = learner.batch(*dataset.train.get(np.arange(b) % len(dataset.train)))
  return learner, step, state, parallel.shard_batch(learner.mesh, batch)


def prepare_train_step(p: Dict[str, Any]) -> Bench:
  """The real `tavaal_jax.learner.train_step` (ResNet-18 + ranker, SGD, CE + llv2)."""
  learner, step, state, batch = _train_setup(p)
  b = int(p["batch_size"])
  key, scale, lr = jax.random.key(1), np.float32(1.0), np.float32(0.1)
  start = time.perf_counter()
  compiled = step.lower(state, batch, key, scale, lr).compile()
  compile_seconds = time.perf_counter() - start
  holder = {"state": state}
  steps = int(p.get("steps_per_rep", 1))

  def call():
    for _ in range(steps):
      holder["state"], metrics = compiled(holder["state"], batch, key, scale, lr)
    _block(metrics)

  params = state.params
  info = dict(compile_seconds=compile_seconds, flops_per_step=_flops(compiled),
              steps_per_call=steps, param_count=_count(params),
              param_count_backbone=_count(params["backbone"]),
              param_count_ranker=_count(params.get("ranker", {})))
  return Bench(call, b * steps, "images", info, warmup=int(p.get("warmup", 2)))


def train_step_scan(p: Dict[str, Any]) -> Dict[str, Any]:
  """Lever: `k` real train steps per dispatch (lax.scan over the batches of k steps).

  Compares against the per-step dispatch at the same sizes in one process.
  """
  from tavaal_jax.learner import train_step as real_step
  learner, step, state, batch = _train_setup(p)
  k = int(p.get("scan_steps", 8))
  b = int(p["batch_size"])
  key, scale = jax.random.key(1), np.float32(1.0)
  lrs = np.full(k, 0.1, np.float32)
  body = functools.partial(real_step, task=learner.task, preprocessing=learner.preprocessing,
                           ranker_loss=learner.ranker_loss)

  def many(state, batches, key, scale, lrs):
    def f(state, xs):
      batch, lr = xs
      state, metrics = body(state, batch, key, scale, lr)
      return state, metrics
    return jax.lax.scan(f, state, (batches, lrs))

  batches = jax.tree_util.tree_map(lambda x: jnp.broadcast_to(x, (k,) + x.shape), batch)
  scanned = jax.jit(many, donate_argnums=(0,)).lower(state, batches, key, scale,
                                                     lrs).compile()
  single = step.lower(state, batch, key, scale, np.float32(0.1)).compile()
  holder = {"state": state}

  def run_single():
    for _ in range(k):
      holder["state"], metrics = single(holder["state"], batch, key, scale,
                                        np.float32(0.1))
    _block(metrics)

  def run_scanned():
    holder["state"], metrics = scanned(holder["state"], batches, key, scale, lrs)
    _block(metrics)

  run_single(), run_scanned()
  reps = int(p.get("reps", 5))
  single_stats = summary(repeat(run_single, reps), b * k, "images")
  scan_stats = summary(repeat(run_scanned, reps), b * k, "images")
  return {"steps_per_dispatch": k, "per_step_dispatch": single_stats, "scan": scan_stats,
          "speedup": scan_stats["images_per_s"] / single_stats["images_per_s"]}


# ----------------------------------------------------------------------------- adversary


def prepare_adversary_step(p: Dict[str, Any]) -> Bench:
  """One TA-VAAL iteration: the real `vae_step` then `disc_step` (Adam), conditioned on r.

  p['conv_form'] sets config.vae.conv_form ('auto': phase convolutions on CPU; 'native'
  measures flax's Conv / ConvTranspose, the form before issue 6).
  """
  if p.get("strided") == "s2d":
    use_s2d_strided_conv()
  from tavaal_jax import adversary_models, adversary_steps, parallel
  from tavaal_jax.learner import Preprocessing
  from tavaal_jax.optim import make_settable_lr_optimizer
  config = _config(p)
  s, c = int(p.get("image_size", 32)), int(p.get("channels", 3))
  b = int(p.get("vae_batch_size", 128))
  mesh = parallel.make_mesh()
  vae, disc = adversary_models.build_models(config, c, conditioned=True)
  preprocessing = Preprocessing(mean=(0.5,) * c, std=(0.25,) * c)
  setup = adversary_steps.StepSetup.from_config(config, vae, disc, preprocessing)
  state = adversary_models.create_state(
      setup, make_settable_lr_optimizer(config.vae.optimizer),
      make_settable_lr_optimizer(config.discriminator.optimizer), jax.random.key(0),
      (s, s, c), mesh)
  vae_fn, disc_fn = adversary_steps.compiled_steps(setup)
  source = SyntheticSource(2 * b, (s, s, c))
  x_l, _ = source.get(np.arange(b))
  x_u, _ = source.get(np.arange(b, 2 * b))
  rng = np.random.default_rng(0)
  r_l = (rng.random(b, np.float32), rng.random(b, np.float32))
  r_u = (rng.random(b, np.float32), rng.random(b, np.float32))
  x_l, r_l, x_u, r_u = parallel.shard_batch(mesh, (x_l, r_l, x_u, r_u))
  key, lr = jax.random.key(1), np.float32(5e-4)
  start = time.perf_counter()
  vae_c = vae_fn.lower(state, x_l, r_l, x_u, r_u, key, lr).compile()
  disc_c = disc_fn.lower(state, x_l, r_l, x_u, r_u, key, lr).compile()
  compile_seconds = time.perf_counter() - start
  holder = {"state": state}
  iters = int(p.get("steps_per_rep", 1))

  def call():
    for _ in range(iters):
      st, m1 = vae_c(holder["state"], x_l, r_l, x_u, r_u, key, lr)
      holder["state"], m2 = disc_c(st, x_l, r_l, x_u, r_u, key, lr)
    _block((m1, m2))

  info = dict(compile_seconds=compile_seconds, iterations_per_call=iters,
              flops_per_iteration=_flops(vae_c) + _flops(disc_c),
              flops_vae_step=_flops(vae_c), flops_disc_step=_flops(disc_c),
              param_count=_count(state.vae.params) + _count(state.disc.params),
              param_count_vae=_count(state.vae.params),
              param_count_discriminator=_count(state.disc.params))
  return Bench(call, iters, "iterations", info, warmup=int(p.get("warmup", 2)))


# ----------------------------------------------------------------------------- scoring


def prepare_scoring(p: Dict[str, Any]) -> Bench:
  """The real `score_pool` with `Learner.predict_batch` over a synthetic pool."""
  from tavaal_jax.scoring import score_pool
  n = int(p.get("pool", 10000))
  batch, scan_steps = int(p.get("scoring_batch_size", 500)), int(p.get("scan_steps", 8))
  learner, _ = _learner(p)
  source = SyntheticSource(n, (int(p["image_size"]),) * 2 + (3,))
  state = learner.init(jax.random.key(0), 128)
  indices = np.arange(n)
  run = functools.partial(score_pool, learner.predict_batch, state, source,
                          batch_size=batch, mesh=learner.mesh, scan_steps=scan_steps)
  # Warm-up: compiles the full-chunk shape and the last (shorter) chunk's.
  start = time.perf_counter()
  run(indices[:min(n, batch * scan_steps)])
  if n > batch * scan_steps and n % (batch * scan_steps):
    run(indices[:n % (batch * scan_steps)])
  warmup_seconds = time.perf_counter() - start
  images, _ = source.get(np.arange(batch))
  per_batch = jax.jit(learner.predict_batch).lower(state, images, {}, jax.random.key(0))
  out = {}
  info = dict(warmup_seconds=warmup_seconds,
              flops_per_image=_flops(per_batch.compile()) / batch, pool=n, batch_size=batch,
              scan_steps=scan_steps, padded_images=-(-n // batch) * batch,
              param_count=_count(state.params))
  return Bench(lambda: out.update(run(indices)), n, "images", info,
               finish=lambda: {"peak_rss_mb": peak_rss_mb(), "outputs": sorted(out)})


def _scalar_scores(learner):
  """A score_pool batch function keeping one float per image (the predicted loss), as a
  selection over a huge pool would: per-image outputs then cost 4 bytes each."""
  predict = learner.predict_batch

  def batch_fn(state, images, extras, key):
    return {"predicted_loss": predict(state, images, extras, key)["predicted_loss"]}
  return batch_fn


def scoring_memory_one(p: Dict[str, Any]) -> Dict[str, Any]:
  """Peak RSS of one score_pool pass over `pool` synthetic images (run alone in a process)."""
  from tavaal_jax.scoring import score_pool
  n = int(p["pool"])
  learner, _ = _learner(p)
  source = SyntheticSource(n, (int(p["image_size"]),) * 2 + (3,))
  state = learner.init(jax.random.key(0), 128)
  batch_fn = (learner.predict_batch if p.get("outputs", "scalar") == "all"
              else _scalar_scores(learner))
  rss_before = peak_rss_mb()
  start = time.perf_counter()
  out = score_pool(batch_fn, state, source, np.arange(n), batch_size=int(p["scoring_batch_size"]),
                   mesh=learner.mesh, scan_steps=int(p.get("scan_steps", 8)))
  seconds = time.perf_counter() - start
  return {"pool": n, "peak_rss_mb": peak_rss_mb(), "peak_rss_before_scoring_mb": rss_before,
          "seconds": seconds, "images_per_s": n / seconds,
          "output_bytes": int(sum(v.nbytes for v in out.values())),
          "outputs": sorted(out), "width": int(p["width"]), "image_size": int(p["image_size"]),
          "batch_size": int(p["scoring_batch_size"]), "scan_steps": int(p.get("scan_steps", 8))}


# ----------------------------------------------------------------------------- core-set


def coreset(p: Dict[str, Any]) -> Dict[str, Any]:
  """The real `k_center_greedy`: `budget` of `candidates` with `labeled` centers."""
  from tavaal_jax.strategies.coreset import k_center_greedy
  candidates, labeled = coreset_data(p)
  budget = int(p["budget"])
  cand, lab = jnp.asarray(candidates), jnp.asarray(labeled)
  start = time.perf_counter()
  compiled = k_center_greedy.lower(cand, lab, budget).compile()
  compile_seconds = time.perf_counter() - start
  picks = {}

  def one():
    positions, _ = compiled(cand, lab)   # (positions, squared distance at pick)
    picks["p"] = np.asarray(positions)
  one()
  stats = summary(repeat(one, int(p.get("coreset_reps", 3))), budget, "picks")
  stats.update(compile_seconds=compile_seconds, peak_rss_mb=peak_rss_mb(),
               flops=_flops(compiled), picks=picks["p"].tolist())
  return stats


def _k_center_greedy_hoisted(candidates, centers, budget: int, chunk: int = 1024):
  """Lever: `k_center_greedy` with the candidates' squared norms computed once, outside
  the pick loop (each pick then reads the [N, D] candidates once, for one mat-vec)."""
  from tavaal_jax.strategies.coreset import nearest_center_distances
  candidates = candidates.astype(jnp.float32)
  min_dist = nearest_center_distances(candidates, centers.astype(jnp.float32), chunk)
  sq = jnp.sum(candidates**2, 1)

  def step(i, carry):
    min_dist, picks = carry
    j = jnp.argmax(min_dist)
    picks = picks.at[i].set(j)
    d = jnp.maximum(sq + sq[j] - 2.0 * (candidates @ candidates[j]), 0.0)
    return jnp.minimum(min_dist, d).at[j].set(-jnp.inf), picks

  return jax.lax.fori_loop(0, budget, step, (min_dist, jnp.zeros(budget, jnp.int32)))[1]


def coreset_lever(p: Dict[str, Any]) -> Dict[str, Any]:
  """The package's k_center_greedy against the hoisted-norms variant, alternating calls."""
  from tavaal_jax.strategies.coreset import k_center_greedy
  candidates, labeled = coreset_data(p)
  budget = int(p["budget"])
  cand, lab = jnp.asarray(candidates), jnp.asarray(labeled)
  package = k_center_greedy.lower(cand, lab, budget).compile()
  hoisted = jax.jit(_k_center_greedy_hoisted, static_argnames=("budget", "chunk")).lower(
      cand, lab, budget).compile()
  picks = {"package": np.asarray(package(cand, lab)[0]),
           "hoisted": np.asarray(hoisted(cand, lab))}
  times = {"package": [], "hoisted": []}
  for r in range(int(p.get("coreset_reps", 3)) + 2):
    for name, fn in ((("package", package), ("hoisted", hoisted)) if r % 2 == 0 else
                     (("hoisted", hoisted), ("package", package))):
      times[name].extend(repeat(lambda: jax.block_until_ready(fn(cand, lab)), 1))
  med = {k: float(np.median(v)) for k, v in times.items()}
  return {"seconds": med, "seconds_all": times, "speedup": med["package"] / med["hoisted"],
          "same_picks": float(np.mean(picks["package"] == picks["hoisted"]))}


# ----------------------------------------------------------------------------- BADGE


def badge_memory(p: Dict[str, Any]) -> Dict[str, Any]:
  """The real `kmeans_plus_plus_seeds` on `badge_candidates` x `badge_classes` logits and
  `dim`-d embeddings: XLA's buffer sizes, this process's peak RSS around the call, and the
  size the explicit [n, classes x dim] gradient-embedding matrix would have."""
  from tavaal_jax.strategies.badge import kmeans_plus_plus_seeds
  n, classes, dim = int(p["badge_candidates"]), int(p["badge_classes"]), int(p["dim"])
  budget = min(int(p["budget"]), n)
  rng = np.random.default_rng(0)
  logits = jnp.asarray(rng.normal(0.0, 2.0, (n, classes)).astype(np.float32))
  embedding = jnp.asarray(np.abs(rng.normal(0.0, 1.0, (n, dim))).astype(np.float32))
  key = jax.random.key(0)
  start = time.perf_counter()
  compiled = kmeans_plus_plus_seeds.lower(logits, embedding, budget, key).compile()
  compile_seconds = time.perf_counter() - start
  analysis = compiled.memory_analysis()
  rss_before = peak_rss_mb()
  picks = {}

  def one():
    positions, _ = compiled(logits, embedding, key)
    picks["p"] = np.asarray(positions)
  stats = summary(repeat(one, int(p.get("coreset_reps", 3))), budget, "picks")
  mib = 1024.0**2
  stats.update(
      candidates=n, classes=classes, dim=dim, budget=budget, compile_seconds=compile_seconds,
      peak_rss_before_mb=rss_before, peak_rss_mb=peak_rss_mb(),
      temp_mb=analysis.temp_size_in_bytes / mib,
      argument_mb=analysis.argument_size_in_bytes / mib,
      output_mb=analysis.output_size_in_bytes / mib,
      explicit_matrix_mb=n * classes * dim * 4 / mib,
      distinct_picks=int(len(np.unique(picks["p"]))))
  return stats


# ----------------------------------------------------------------------------- stage


def stage(p: Dict[str, Any]) -> Dict[str, Any]:
  """Whole active-learning stages of configs/digits.py through `tavaal_jax.experiment.run`.

  Stage 0 includes every compilation; stage 1 is the warm figure (train + evaluate +
  TA-VAAL selection).
  """
  from configs import digits
  from tavaal_jax import experiment
  p = p.get("stage") or {}
  config = digits.get_config()
  config.al.stages = int(p.get("stages", 3))
  # Overrides for --quick (the full run keeps configs/digits.py as it is).
  if "width" in p:
    config.model.width = int(p["width"])
  if "epochs" in p:
    config.train.epochs = int(p["epochs"])
    config.train.epoch_l = min(int(config.train.epoch_l), config.train.epochs)
    config.optimizer.schedule.milestones = tuple(
        m for m in config.optimizer.schedule.milestones if m < config.train.epochs)
  if "vae_epochs" in p:
    config.vae.epochs = int(p["vae_epochs"])
  for field in ("subset", "initial", "budget"):
    if field in p:
      config.al[field] = int(p[field])
  if "strategy" in p:
    config.strategy.name = p["strategy"]
  with tempfile.TemporaryDirectory() as workdir:
    start = time.perf_counter()
    rows = experiment.run(config, workdir)
    total = time.perf_counter() - start
  per_stage = [r["train_seconds"] + r["select_seconds"] for r in rows]
  warm = per_stage[1] if len(per_stage) > 1 else per_stage[0]
  return {"seconds": warm, "first_stage_seconds": per_stage[0], "stage_seconds": per_stage,
          "train_seconds": [r["train_seconds"] for r in rows],
          "select_seconds": [r["select_seconds"] for r in rows],
          "num_labeled": [r["num_labeled"] for r in rows],
          "test_accuracy": [r["test_accuracy"] for r in rows],
          "run_seconds": total, "stages": len(rows), "strategy": config.strategy.name,
          "peak_rss_mb": peak_rss_mb()}


# ----------------------------------------------------------------------------- levers


def deconv(p: Dict[str, Any]) -> Dict[str, Any]:
  """Lever: the VAE decoder's k4 s2 transposed convolutions, forward + backward, written as
  flax's ConvTranspose (lhs-dilated conv) versus the same map as four phase convolutions
  (2x2 each, no multiplications by inserted zeros) interleaved by a reshape.

  Checks both give the same output and input/kernel gradients before timing.
  """
  import flax.linen as nn
  from tavaal_jax.models.phase_conv import conv_transpose_k4s2_phases
  b, w = int(p.get("vae_batch_size", 128)) * 2, int(p.get("vae_width", 128))
  s0 = int(p.get("image_size", 32)) // 8
  layers = [(s0 * 2**i, 8 * w // 2**i, 4 * w // 2**i) for i in range(3)]
  results = []
  rng = np.random.default_rng(0)
  for size, cin, cout in layers:
    x = jnp.asarray(rng.normal(size=(b, size, size, cin)).astype(np.float32))
    kernel = jnp.asarray(rng.normal(size=(4, 4, cin, cout)).astype(np.float32) * 0.05)
    module = nn.ConvTranspose(cout, (4, 4), strides=(2, 2), padding="SAME", use_bias=False)

    def flax_fn(x, k):
      return module.apply({"params": {"kernel": k}}, x)

    def phase_fn(x, k):
      return conv_transpose_k4s2_phases(x, k)

    def loss(fn):
      return jax.jit(jax.value_and_grad(lambda x, k: jnp.sum(fn(x, k) ** 2), argnums=(0, 1)))

    ref, alt = loss(flax_fn), loss(phase_fn)
    (_, g1), (_, g2) = ref(x, kernel), alt(x, kernel)
    err = max(float(jnp.max(jnp.abs(a - c)) / (jnp.max(jnp.abs(a)) + 1e-12))
              for a, c in zip((flax_fn(x, kernel),) + g1, (phase_fn(x, kernel),) + g2))
    row = {"input": [b, size, size, cin], "output_channels": cout, "max_rel_diff": err}
    for name, f in (("conv_transpose", ref), ("phases", alt)):
      _block(f(x, kernel))
      row[name] = summary(repeat(lambda: _block(f(x, kernel)), int(p.get("reps", 5))), 1,
                          "calls")
    row["speedup"] = row["conv_transpose"]["seconds"] / row["phases"]["seconds"]
    results.append(row)
  return {"layers": results}


def winograd(p: Dict[str, Any]) -> Dict[str, Any]:
  """Lever: ResNet-18's 3x3 stride-1 convolutions, forward, as XLA's convolution versus
  Winograd F(2x2, 3x3) (`benchmarks/winograd.py`), at the scoring batch, one row per stage
  shape; also the Winograd form's three parts timed alone. Compiled as the scoring pass is
  (`jit_without_ynn`). Checks both give the same output before timing.
  """
  from benchmarks import winograd as wg
  from tavaal_jax import xla_cpu
  b, s, w = int(p["scoring_batch_size"]), int(p["image_size"]), int(p["width"])
  reps = int(p.get("reps", 5))
  rng = np.random.default_rng(0)
  results = []
  for stage in range(4):
    size, channels = s // 2**stage, w * 2**stage
    x = jnp.asarray(rng.normal(size=(b, size, size, channels)).astype(np.float32))
    kernel = jnp.asarray((rng.normal(size=(3, 3, channels, channels))
                          * (2.0 / (9 * channels)) ** 0.5).astype(np.float32))
    u = wg.kernel_transform(kernel)
    v = xla_cpu.jit_without_ynn(wg.input_transform)(x)
    m = xla_cpu.jit_without_ynn(wg.batched_dot)(v, u)
    calls = {
        "direct": (xla_cpu.jit_without_ynn(wg.conv3x3_direct), (x, kernel)),
        "winograd": (xla_cpu.jit_without_ynn(wg.conv3x3_winograd), (x, kernel)),
        "input_transform": (xla_cpu.jit_without_ynn(wg.input_transform), (x,)),
        "batched_dot": (xla_cpu.jit_without_ynn(wg.batched_dot), (v, u)),
        "output_transform": (xla_cpu.jit_without_ynn(
            functools.partial(wg.output_transform, shape=(b, size, size))), (m,)),
    }
    direct, alt = (calls[k][0](*calls[k][1]) for k in ("direct", "winograd"))
    row = {"input": [b, size, size, channels], "output_channels": channels,
           "max_rel_diff": float(jnp.max(jnp.abs(direct - alt)) / jnp.max(jnp.abs(direct)))}
    for name, (fn, args) in calls.items():
      _block(fn(*args))
      row[name] = summary(repeat(lambda: _block(fn(*args)), reps), 1, "calls")
    row["speedup"] = row["direct"]["seconds"] / row["winograd"]["seconds"]
    results.append(row)
  return {"layers": results}


PAIRED = {"train_step": prepare_train_step, "adversary_step": prepare_adversary_step,
          "scoring": prepare_scoring}


def conv_stride2_s2d(x: jax.Array, kernel: jax.Array) -> jax.Array:
  """A k x k (k = 3 or 4), stride-2, padding-1 convolution of x [B, H, W, Cin] (H, W even) with
  kernel [k, k, Cin, Cout], computed as a 2x2 stride-1 convolution of the space-to-depth
  of the padded input. The same map as lax.conv_general_dilated(x, kernel, (2, 2),
  ((1, 1), (1, 1))); its input gradient is a plain stride-1 convolution instead of an
  lhs-dilated one. A 3x3 kernel is zero-padded to 4x4 (its fourth tap never exists).
  """
  k = kernel.shape[0]
  if k == 3:
    kernel = jnp.pad(kernel, ((0, 1), (0, 1), (0, 0), (0, 0)))
  b, h, w, c = x.shape
  xp = jnp.pad(x, ((0, 0), (1, 1), (1, 1), (0, 0)))
  hp, wp = xp.shape[1], xp.shape[2]
  blocks = xp.reshape(b, hp // 2, 2, wp // 2, 2, c).transpose(0, 1, 3, 2, 4, 5)
  blocks = blocks.reshape(b, hp // 2, wp // 2, 4 * c)
  o = kernel.shape[-1]
  k2 = kernel.reshape(2, 2, 2, 2, c, o).transpose(0, 2, 1, 3, 4, 5).reshape(2, 2, 4 * c, o)
  y = jax.lax.conv_general_dilated(blocks, k2, (1, 1), "VALID",
                                   dimension_numbers=("NHWC", "HWIO", "NHWC"))
  return y[:, :h // 2, :w // 2, :]


def use_s2d_strided_conv() -> None:
  """Makes flax.linen.Conv build a space-to-depth module for 3x3 / 4x4 stride-2 padding-1
  bias-free convolutions in this process (harness-only lever; same parameters)."""
  import flax.linen as nn
  original = nn.Conv

  class Conv(nn.Module):  # named Conv so that flax's automatic names stay Conv_0, Conv_1...
    features: int
    kernel: int
    dtype: Any = None
    param_dtype: Any = jnp.float32
    kernel_init: Any = nn.initializers.lecun_normal()

    @nn.compact
    def __call__(self, x):
      if x.shape[1] % 2 or x.shape[2] % 2:
        raise ValueError("the space-to-depth lever needs even image sides")
      kernel = self.param("kernel", self.kernel_init,
                          (self.kernel, self.kernel, x.shape[-1], self.features),
                          self.param_dtype)
      dtype = self.dtype or x.dtype
      return conv_stride2_s2d(x.astype(dtype), kernel.astype(dtype))

  def conv(features, kernel_size, strides=1, padding="SAME", **kwargs):
    ks = tuple(kernel_size)
    st = tuple(strides) if isinstance(strides, (tuple, list)) else (strides, strides)
    if (ks in ((3, 3), (4, 4)) and st == (2, 2) and kwargs.get("use_bias", True) is False
        and padding == ((1, 1), (1, 1)) and set(kwargs) <= {"use_bias", "dtype", "param_dtype",
                                                            "kernel_init", "name"}):
      kwargs.pop("use_bias", None)
      return Conv(features, ks[0], **kwargs)
    return original(features, kernel_size, strides=strides, padding=padding, **kwargs)

  nn.Conv = conv


def cifar10_stage(p: Dict[str, Any]) -> Dict[str, Any]:
  """Stage 0 of configs/cifar10.py on synthetic data (benchmarks/stage.py)."""
  from benchmarks import stage as stage_module
  return stage_module.cifar10_stage(p)


SECTIONS = {
    "machine": machine, **unpaired_sections(PAIRED), "train_step_scan": train_step_scan,
    "scoring_memory_one": scoring_memory_one, "coreset": coreset, "badge_memory": badge_memory,
    "stage": stage,
    "deconv": deconv, "coreset_lever": coreset_lever, "winograd": winograd,
    "cifar10_stage": cifar10_stage,
}
