#!/usr/bin/env bash
# Usage: bash tools/dist_test.sh CONFIG CHECKPOINT GPUS [test.py args]
# Multi-node: NNODES, NODE_RANK, PORT and MASTER_ADDR as in MMAction2.
# Without CUDA the ranks run on the CPU with the gloo backend.

CONFIG=$1
CHECKPOINT=$2
GPUS=$3

USAGE="bash tools/dist_test.sh CONFIG CHECKPOINT GPUS [test.py args]"
source "$(dirname "$0")/launch_checks.sh"
require_file CONFIG "$CONFIG"
if [[ "$CHECKPOINT" != *://* ]]; then  # URLs are fetched by MMEngine
    require_file CHECKPOINT "$CHECKPOINT"
fi
require_count GPUS "$GPUS"

torchrun_tool test.py "$GPUS" "$CONFIG" "$CHECKPOINT" --launcher pytorch \
    "${@:4}"
