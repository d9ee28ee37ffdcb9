#!/usr/bin/env bash
# Usage: bash tools/dist_extract_embeddings.sh CONFIG CHECKPOINT GPUS \
#            --videos DIR_OR_LIST --out OUT.npz [extract_embeddings.py args]
# Multi-node: NNODES, NODE_RANK, PORT and MASTER_ADDR as in MMAction2 (the
# output folder must then be shared by the nodes). Without CUDA the ranks run
# on the CPU with the gloo backend.

CONFIG=$1
CHECKPOINT=$2
GPUS=$3

USAGE="bash tools/dist_extract_embeddings.sh CONFIG CHECKPOINT GPUS --videos DIR_OR_LIST --out OUT.npz [args]"
source "$(dirname "$0")/launch_checks.sh"
require_file CONFIG "$CONFIG"
require_file CHECKPOINT "$CHECKPOINT"
require_count GPUS "$GPUS"

torchrun_tool extract_embeddings.py "$GPUS" "$CONFIG" "$CHECKPOINT" \
    --launcher pytorch "${@:4}"
