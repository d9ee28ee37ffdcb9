#!/usr/bin/env bash
# Usage: bash tools/slurm_train.sh PARTITION JOB_NAME CONFIG [WORK_DIR] [train.py args]
# GPUS (default 8), GPUS_PER_NODE (8), CPUS_PER_TASK (5) and SRUN_ARGS ("")
# are read from the environment, as in MMAction2.

PARTITION=$1
JOB_NAME=$2
CONFIG=$3
GPUS=${GPUS:-8}
GPUS_PER_NODE=${GPUS_PER_NODE:-8}
CPUS_PER_TASK=${CPUS_PER_TASK:-5}
SRUN_ARGS=${SRUN_ARGS:-""}
PYTHON=${PYTHON:-python}
PY_ARGS=("${@:4}")
if [ $# -ge 4 ] && [[ "$4" != -* ]]; then
    PY_ARGS=(--work-dir "$4" "${@:5}")
fi
USAGE="bash tools/slurm_train.sh PARTITION JOB_NAME CONFIG [WORK_DIR] [train.py args]"
source "$(dirname "$0")/launch_checks.sh"
if [ $# -lt 3 ]; then
    usage_error "expected at least 3 arguments, got $#"
fi
require_count GPUS "$GPUS"
require_count GPUS_PER_NODE "$GPUS_PER_NODE"
require_count CPUS_PER_TASK "$CPUS_PER_TASK"
export MASTER_PORT=${MASTER_PORT:-$((12000 + RANDOM % 20000))}

set -x
PYTHONPATH="$(dirname "$0")/..":$PYTHONPATH \
srun -p ${PARTITION} \
    --job-name=${JOB_NAME} \
    --gres=gpu:${GPUS_PER_NODE} \
    --ntasks=${GPUS} \
    --ntasks-per-node=${GPUS_PER_NODE} \
    --cpus-per-task=${CPUS_PER_TASK} \
    --kill-on-bad-exit=1 \
    ${SRUN_ARGS} \
    "$PYTHON" -u "$(dirname "$0")/train.py" "$CONFIG" --launcher="slurm" "${PY_ARGS[@]}"
