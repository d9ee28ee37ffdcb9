#!/usr/bin/env bash
# Usage: bash tools/dist_train.sh CONFIG GPUS [train.py args]
# Multi-node: NNODES, NODE_RANK, PORT and MASTER_ADDR as in MMAction2.
# Without CUDA the ranks run on the CPU with the gloo backend.

CONFIG=$1
GPUS=$2

USAGE="bash tools/dist_train.sh CONFIG GPUS [train.py args]"
source "$(dirname "$0")/launch_checks.sh"
require_file CONFIG "$CONFIG"
require_count GPUS "$GPUS"

torchrun_tool train.py "$GPUS" "$CONFIG" --launcher pytorch "${@:3}"
