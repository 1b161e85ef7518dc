#!/usr/bin/env bash
# Cloud TPU VM (e.g. v4-32): copy this checkout to every worker and run the same command on
# all of them; JAX finds the other workers itself (--distributed_auto). A relative
# --workdir is each worker's own disk: worker 0 keeps the run there and the others resume
# from its view; a gs:// --workdir works too (pip install gcsfs). Usage, from the
# repository root:
#   TPU=my-tpu ZONE=us-central2-b bash launch/tpu_vm.sh --config=configs/cifar10.py --workdir=runs/c10
set -euo pipefail
: "${TPU:?set TPU to the TPU VM name}" "${ZONE:?set ZONE to its zone}"
cd "$(dirname "$0")/.."
gcloud compute tpus tpu-vm scp --recurse --worker=all --zone "$ZONE" "$PWD" "$TPU":~/tavaal_jax
args=$(printf '%q ' "$@")
gcloud compute tpus tpu-vm ssh "$TPU" --zone "$ZONE" --worker=all --command "
  set -e; cd ~/tavaal_jax
  python3 -m venv .venv && .venv/bin/pip install -q -r requirements.txt -e . 'jax[tpu]==0.10.2'
  .venv/bin/python -m tavaal_jax.main --distributed_auto --config.model.dtype=bfloat16 $args"
