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
