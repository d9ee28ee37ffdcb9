#!/usr/bin/env bash
# Usage: bash tools/dist_zero_shot_eval.sh CONFIG CHECKPOINT GPUS [zero_shot_eval.py args]
# Multi-node: NNODES, NODE_RANK, PORT and MASTER_ADDR as in MMAction2.
# Without CUDA the ranks run on the CPU with the gloo backend.

CONFIG=$1
CHECKPOINT=$2
GPUS=$3
NNODES=${NNODES:-1}
NODE_RANK=${NODE_RANK:-0}
PORT=${PORT:-29500}
MASTER_ADDR=${MASTER_ADDR:-"127.0.0.1"}
PYTHON=${PYTHON:-python}

USAGE="bash tools/dist_zero_shot_eval.sh CONFIG CHECKPOINT GPUS [zero_shot_eval.py args]"
source "$(dirname "$0")/launch_checks.sh"
require_file CONFIG "$CONFIG"
if [[ "$CHECKPOINT" != *://* ]]; then  # URLs are fetched by MMEngine
    require_file CHECKPOINT "$CHECKPOINT"
fi
require_count GPUS "$GPUS"
require_count NNODES "$NNODES"

set -x
PYTHONPATH="$(dirname "$0")/..":$PYTHONPATH \
run_torchrun \
    --nnodes=$NNODES \
    --node_rank=$NODE_RANK \
    --master_addr=$MASTER_ADDR \
    --nproc_per_node=$GPUS \
    --master_port=$PORT \
    "$(dirname "$0")/zero_shot_eval.py" \
    "$CONFIG" \
    "$CHECKPOINT" \
    --launcher pytorch \
    "${@:4}"
