#!/usr/bin/env bash
# Usage: bash tools/run_tests.sh [pytest args]
# Runs the test suite with the venv made by tools/install.sh (VENV, default
# <repo>/.venv). Fails when a test fails and also when no test ran. Without
# pytest args it then runs tests/models again with the CPU kernels limited to
# AVX2 (float sums in another order, as on CPUs without AVX-512).
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
if [ "$rc" -ne 0 ] || [ "$#" -ne 0 ]; then
    exit "$rc"
fi

# Float reductions sum in another order on CPUs without AVX-512 (AMD EPYC,
# older Intel): run the numerics tests again with the CPU kernels limited to
# AVX2, so a tolerance that holds on one CPU only fails here, not for users.
echo "[run_tests.sh] numerics again with the CPU kernels limited to AVX2"
ATEN_CPU_CAPABILITY=avx2 ONEDNN_MAX_CPU_ISA=AVX2 MKL_ENABLE_INSTRUCTIONS=AVX2 \
    "$VENV/bin/python" -m pytest -q -p no:cacheprovider tests/models
exit $?
