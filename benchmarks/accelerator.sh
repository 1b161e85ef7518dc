#!/usr/bin/env bash
# The first GPU run in one go (BENCHMARKS.md, "GPU run"): the bf16 train step (ResNet-18 +
# ranker, batch 128, 32x32), the VAE + D iteration at the paper's sizes, the scoring pass and
# stage 0 of configs/cifar10.py on synthetic data, through `python -m benchmarks.run`.
# Writes $OUT/bench.json (figures), $OUT/bench.log (its output) and $OUT/env.txt (versions);
# OUT defaults to ./accelerator_out.
#
#   bash benchmarks/accelerator.sh                       # on a GPU: full sizes, ~5-7 minutes
#   ACCEL_SIZE=tiny bash benchmarks/accelerator.sh       # anywhere: tiny sizes (CPU: ~1-2 min)
#
# Knobs (environment):
#   ACCEL_DEVICE   gpu | cpu | tpu (default: gpu where nvidia-smi sees one, else cpu)
#   ACCEL_SIZE     full | tiny (default: full on an accelerator, tiny on cpu)
#   ACCEL_DTYPE    model.dtype of the steps and the stage (default bfloat16 on an
#                  accelerator, float32 on cpu)
#   ACCEL_SECTIONS benchmarks.run sections (default machine,train_step,adversary_step,
#                  scoring,cifar10_stage)
#   ACCEL_STAGE    extra cifar10_stage sizes, e.g. "epochs=50 vae_epochs=25 strategy=random"
#   ACCEL_TORCH    1: also the PyTorch comparator (float32 only: set ACCEL_DTYPE=float32)
#   ACCEL_TIMEOUT  seconds before the harness is stopped (default 450; its figures so far stay
#                  in $OUT/bench.json.partial)
#   ACCEL_SKIP_WHEELS  1: do not install from .whl/ (the packages are already there)
#   PYTHON         the interpreter (default python3)
#
# Missing pure-Python packages (ml_collections, tensorboardX on the GPU image) are installed
# from .whl/ when it holds wheels (BENCHMARKS.md says how to fill it); without it, nothing is
# installed.

set -uo pipefail
cd "$(dirname "$0")/.."
REPO="$PWD"
PY="${PYTHON:-python3}"
OUT="${OUT:-$REPO/accelerator_out}"
mkdir -p "$OUT"

if [ "${ACCEL_SKIP_WHEELS:-0}" != 1 ] && compgen -G ".whl/*.whl" > /dev/null; then
  # --target: the image's own packages stay as they are; only these are added in front.
  "$PY" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
    --target /tmp/site .whl/*.whl || exit 1
  export PYTHONPATH="/tmp/site:$REPO${PYTHONPATH:+:$PYTHONPATH}"
else
  export PYTHONPATH="$REPO${PYTHONPATH:+:$PYTHONPATH}"
fi

if [ -z "${ACCEL_DEVICE:-}" ]; then
  if nvidia-smi -L > /dev/null 2>&1; then ACCEL_DEVICE=gpu; else ACCEL_DEVICE=cpu; fi
fi
if [ "$ACCEL_DEVICE" = cpu ]; then
  size_default=tiny; dtype_default=float32
else
  size_default=full; dtype_default=bfloat16
fi
ACCEL_SIZE="${ACCEL_SIZE:-$size_default}"
ACCEL_DTYPE="${ACCEL_DTYPE:-$dtype_default}"
ACCEL_SECTIONS="${ACCEL_SECTIONS:-machine,train_step,adversary_step,scoring,cifar10_stage}"

{
  date -u
  echo "device=$ACCEL_DEVICE size=$ACCEL_SIZE dtype=$ACCEL_DTYPE sections=$ACCEL_SECTIONS"
  "$PY" --version
  if command -v nvidia-smi > /dev/null; then nvidia-smi 2>&1 | head -15; fi
  "$PY" -m pip list 2>/dev/null | grep -iE \
    '^(jax|jaxlib|jax-cuda|flax|optax|orbax|chex|ml.collections|tensorboardx|numpy|etils|absl|tensorstore|torch) '
} > "$OUT/env.txt" 2>&1

args=(--device "$ACCEL_DEVICE" --sections "$ACCEL_SECTIONS" --set "dtype=$ACCEL_DTYPE"
      --out "$OUT/bench.json")
if [ "$ACCEL_SIZE" = tiny ]; then
  # The harness's smoke sizes (benchmarks/run.py QUICK, cifar10_stage included), quick compiles.
  args+=(--quick --fast-compile)
else
  # The issue's sizes (run.py FULL); 20 steps per timed repetition so that one repetition
  # is milliseconds of GPU work, not one dispatch.
  args+=(--set steps_per_rep=20 --reps 5)
fi
if [ "${ACCEL_TORCH:-0}" != 1 ]; then
  args+=(--no-torch)
fi
for item in ${ACCEL_STAGE:-}; do
  args+=(--set "cifar10_stage.$item")
done

export PYTHONUNBUFFERED=1 TF_CPP_MIN_LOG_LEVEL="${TF_CPP_MIN_LOG_LEVEL:-2}"
echo "$PY -m benchmarks.run ${args[*]}" | tee "$OUT/bench.log"
timeout "${ACCEL_TIMEOUT:-450}" "$PY" -m benchmarks.run "${args[@]}" 2>&1 | tee -a "$OUT/bench.log"
status=${PIPESTATUS[0]}
echo "benchmarks.run exited with $status" | tee -a "$OUT/bench.log"
exit "$status"
