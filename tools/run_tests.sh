#!/usr/bin/env bash
# Usage: bash tools/run_tests.sh [pytest args]
# Runs the test suite with the venv made by tools/install.sh (VENV, default
# <repo>/.venv). Fails when a test fails and also when no test ran.
set -uo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
VENV="${VENV:-.venv}"
if [ ! -x "$VENV/bin/python" ]; then
    echo "[run_tests.sh] ERROR: no venv at $VENV; run: bash tools/install.sh" >&2
    exit 1
fi

# No downloads in tests: fail fast instead of waiting for the network.
export HF_HUB_OFFLINE=1

"$VENV/bin/python" -m pytest -q tests "$@"
rc=$?
if [ "$rc" -eq 5 ]; then
    echo "[run_tests.sh] ERROR: pytest collected no tests" >&2
    exit 1
fi
exit "$rc"
