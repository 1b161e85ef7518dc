#!/usr/bin/env bash
# One node with several NVIDIA GPUs: one process drives all of them; every batch is split
# over the GPUs (batch sizes must be divisible by the GPU count). Usage:
#   bash launch/multi_gpu.sh --config=configs/cifar10.py --workdir=runs/c10
set -euo pipefail
cd "$(dirname "$0")/.."
python -m tavaal_jax.main --config.model.dtype=bfloat16 "$@"
