#!/usr/bin/env bash
# Usage: bash tools/dist_extract_embeddings.sh CONFIG CHECKPOINT GPUS \
#            --videos DIR_OR_LIST --out OUT.npz [extract_embeddings.py args]
# Multi-node: NNODES, NODE_RANK, PORT and MASTER_ADDR as in MMAction2 (the
# output folder must then be shared by the nodes). Without CUDA the ranks run
# on the CPU with the gloo backend.

CONFIG=$1
CHECKPOINT=$2
GPUS=$3
NNODES=${NNODES:-1}
NODE_RANK=${NODE_RANK:-0}
PORT=${PORT:-29500}
MASTER_ADDR=${MASTER_ADDR:-"127.0.0.1"}
PYTHON=${PYTHON:-python}

USAGE="bash tools/dist_extract_embeddings.sh CONFIG CHECKPOINT GPUS --videos DIR_OR_LIST --out OUT.npz [args]"
source "$(dirname "$0")/launch_checks.sh"
require_file CONFIG "$CONFIG"
require_file CHECKPOINT "$CHECKPOINT"
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
    "$(dirname "$0")/extract_embeddings.py" \
    "$CONFIG" \
    "$CHECKPOINT" \
    --launcher pytorch \
    "${@:4}"
