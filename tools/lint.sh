#!/usr/bin/env bash
# Run the linters configured in setup.cfg (flake8, isort, yapf) on the
# project's Python files; exits non-zero on the first one that fails.
#
# Usage: bash tools/lint.sh          check (what .ci/run does)
#        bash tools/lint.sh --fix    rewrite files with isort and yapf first
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
PY="${PYTHON:-.venv/bin/python}"
PATHS=(projects tools tests configs setup.py)

if [ "${1:-}" = "--fix" ]; then
    "$PY" -m isort -q "${PATHS[@]}"
    "$PY" -m yapf -i -r "${PATHS[@]}"
fi
"$PY" -m flake8 "${PATHS[@]}"
echo "[lint] flake8 clean"
"$PY" -m isort --check-only -q "${PATHS[@]}"
echo "[lint] isort clean"
if ! "$PY" -m yapf --diff -r "${PATHS[@]}"; then
    echo "[lint] yapf would reformat the files above;" \
        "run: bash tools/lint.sh --fix" >&2
    exit 1
fi
echo "[lint] yapf clean"
