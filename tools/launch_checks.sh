# Argument checks shared by tools/dist_*.sh and tools/slurm_*.sh (sourced).
# Each check prints "<script>: error: ..." with the usage line on stderr and
# exits with code 2, as the Python tools do for a bad argument.

# usage_error MESSAGE: report a bad argument and exit.
usage_error() {
    echo "$(basename "$0"): error: $1" >&2
    echo "usage: $USAGE" >&2
    exit 2
}

# require_count NAME VALUE: VALUE must be a whole number >= 1.
require_count() {
    case "$2" in
        '' | *[!0-9]*)
            usage_error "$1 must be a whole number of processes >= 1, got '$2'" ;;
    esac
    if [ "$((10#$2))" -lt 1 ]; then
        usage_error "$1 must be at least 1, got '$2'"
    fi
}

# require_file NAME PATH: PATH must be an existing file.
require_file() {
    if [ -z "$2" ]; then
        usage_error "$1 is missing"
    fi
    if [ ! -f "$2" ]; then
        usage_error "$1 '$2' is not a file"
    fi
}

# run_torchrun ARGS...: run "$PYTHON -m torch.distributed.run ARGS...".
# When the first rank to fail exited with code 2 (a user error, already
# reported in one line by the rank), the launcher's own Python traceback
# (ChildFailedError) is left out of stderr and the script exits with 2; its
# summary of the failed ranks is kept. Any other failure is shown in full.
run_torchrun() {
    # stdout goes straight to fd 3; stderr through the filter
    {
        "$PYTHON" -m torch.distributed.run "$@" 2>&1 1>&3 3>&- |
            awk -f "$(dirname "$0")/torchrun_filter.awk" >&2
        { statuses=("${PIPESTATUS[@]}"); set +x; } 2>/dev/null
    } 3>&1
    if [ "${statuses[0]}" -ne 0 ] && [ "${statuses[1]}" -eq 2 ]; then
        return 2
    fi
    return "${statuses[0]}"
}

# torchrun_tool TOOL GPUS ARGS...: run tools/TOOL with ARGS in GPUS processes
# per node through run_torchrun. Multi-node runs set NNODES, NODE_RANK,
# MASTER_ADDR and PORT, as in MMAction2 (defaults: 1, 0, 127.0.0.1, 29500).
torchrun_tool() {
    local tool=$1 gpus=$2
    shift 2
    local nnodes=${NNODES:-1}
    require_count NNODES "$nnodes"
    PYTHON=${PYTHON:-python}
    set -x
    PYTHONPATH="$(dirname "$0")/..":$PYTHONPATH \
    run_torchrun \
        --nnodes="$nnodes" \
        --node_rank="${NODE_RANK:-0}" \
        --master_addr="${MASTER_ADDR:-127.0.0.1}" \
        --nproc_per_node="$gpus" \
        --master_port="${PORT:-29500}" \
        "$(dirname "$0")/$tool" \
        "$@"
}
