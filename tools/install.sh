#!/usr/bin/env bash
# One-command setup of the DiST plugin for MMAction2 1.2.0.
#
# Usage: bash tools/install.sh [VENV]        (VENV defaults to <repo>/.venv)
#
# Creates VENV (or reuses it), installs the pinned, tested stack from
# requirements/ under requirements/constraints.txt, installs this repository
# in editable mode, makes the narrow mmaction2 1.2.0 "drn" fix, runs
# `pip check` and an import smoke test. Re-running it is quick: the stack is
# reinstalled only when requirements/*.txt change (or DIST_REINSTALL=1).
#
# Environment variables:
#   PYTHON               interpreter used to create VENV (default: python3)
#   DIST_SKIP_MMCV_LITE  1 = do not install mmcv-lite (you provide a full mmcv
#                        <2.2.0 in VENV yourself)
#   DIST_REINSTALL       1 = ignore the stamps and reinstall everything
# See docs/install.md for what each step fixes and for GPU machines.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${1:-$ROOT/.venv}"
PYTHON="${PYTHON:-python3}"
SKIP_MMCV_LITE="${DIST_SKIP_MMCV_LITE:-0}"
REINSTALL="${DIST_REINSTALL:-0}"
START=$SECONDS

log() { echo "[install.sh] $*"; }
die() { echo "[install.sh] ERROR: $*" >&2; exit 1; }

case "$VENV" in
    /*) ;;
    *) VENV="$PWD/$VENV" ;;
esac

# ---------------------------------------------------------------- 1. venv
if [ ! -x "$VENV/bin/python" ]; then
    command -v "$PYTHON" >/dev/null || die "'$PYTHON' not found; set PYTHON=/path/to/python3.10+"
    "$PYTHON" -c 'import sys; sys.exit(sys.version_info < (3, 10))' \
        || die "$PYTHON is $("$PYTHON" -V 2>&1); Python >= 3.10 is required (3.11 is tested)"
    log "creating venv $VENV with $("$PYTHON" -V 2>&1)"
    "$PYTHON" -m venv "$VENV"
else
    log "reusing venv $VENV"
fi
PY="$VENV/bin/python"
"$PY" -c 'import sys; sys.exit(sys.version_info < (3, 10))' \
    || die "$VENV has $("$PY" -V 2>&1); Python >= 3.10 is required (3.11 is tested)"

# ------------------------------------------------------ 2. pinned stack
REQ_DIR="$ROOT/requirements"
deps_key="$(cat "$REQ_DIR/constraints.txt" "$REQ_DIR/runtime.txt" \
    "$REQ_DIR/tests.txt" | sha256sum | cut -c1-16)-skipmmcvlite$SKIP_MMCV_LITE"
DEPS_STAMP="$VENV/.dist-mmaction-deps"
if [ "$REINSTALL" != 1 ] && [ -f "$DEPS_STAMP" ] \
        && [ "$(cat "$DEPS_STAMP")" = "$deps_key" ]; then
    log "pinned stack already installed (requirements unchanged)"
else
    RUNTIME_REQ="$REQ_DIR/runtime.txt"
    if [ "$SKIP_MMCV_LITE" = 1 ]; then
        # A full mmcv and mmcv-lite both own site-packages/mmcv: never mix.
        RUNTIME_REQ="$(mktemp)"
        trap 'rm -f "$RUNTIME_REQ"' EXIT
        grep -v -i '^mmcv-lite' "$REQ_DIR/runtime.txt" >"$RUNTIME_REQ"
        "$PY" -c 'import mmcv, sys; sys.exit(not ((2, 0) <= tuple(map(int, mmcv.__version__.split(".")[:2])) < (2, 2)))' 2>/dev/null \
            || log "WARNING: DIST_SKIP_MMCV_LITE=1 but no mmcv>=2.0.0,<2.2.0 importable in $VENV; install it before running anything"
        log "skipping mmcv-lite (DIST_SKIP_MMCV_LITE=1)"
    fi
    log "installing the pinned stack (first time: about 1-2 min and ~6 GB; torch 2.14.1 is a CUDA build)"
    "$PY" -m pip install -q -c "$REQ_DIR/constraints.txt" \
        -r "$RUNTIME_REQ" -r "$REQ_DIR/tests.txt"
    echo "$deps_key" >"$DEPS_STAMP"
fi

# --------------------------------------------- 3. this repository (editable)
pkg_key="$ROOT $(sha256sum "$ROOT/setup.py" | cut -c1-16)"
PKG_STAMP="$VENV/.dist-mmaction-pkg"
if [ "$REINSTALL" != 1 ] && [ -f "$PKG_STAMP" ] \
        && [ "$(cat "$PKG_STAMP")" = "$pkg_key" ]; then
    log "projects.dist already installed in editable mode from $ROOT"
else
    log "installing this repository in editable mode (pip install -e . --no-deps)"
    # setuptools<82 is already in VENV, so no isolated build env is needed.
    "$PY" -m pip install -q --no-deps --no-build-isolation -e "$ROOT"
    echo "$pkg_key" >"$PKG_STAMP"
fi

# ----------------------------------------- 4. mmaction2 1.2.0 drn import
# The 1.2.0 wheel imports mmaction/models/localizers/drn, which it does not
# ship (open-mmlab/mmaction2#2714). Wrap that single import in try/except so
# `import mmaction.models` works for every program in VENV, not only those
# that import projects.dist first (projects/dist/compat.py stubs it too).
"$PY" - <<'EOF'
import importlib.util
import os.path as osp
import re

spec = importlib.util.find_spec('mmaction')
if spec is None or spec.origin is None:
    raise SystemExit('[install.sh] ERROR: mmaction2 is not installed')
root = osp.dirname(spec.origin)
init = osp.join(root, 'models', 'localizers', '__init__.py')
if osp.isdir(osp.join(root, 'models', 'localizers', 'drn')):
    print('[install.sh] mmaction2 ships localizers/drn: no fix needed')
else:
    with open(init, encoding='utf-8') as f:
        text = f.read()
    pattern = re.compile(r'^from \.drn\.drn import DRN\n', re.MULTILINE)
    if pattern.search(text):
        fixed = pattern.sub(
            'try:\n'
            '    from .drn.drn import DRN\n'
            'except ImportError:  # missing from the 1.2.0 wheel, '
            'open-mmlab/mmaction2#2714 (fixed by DiST tools/install.sh)\n'
            '    DRN = None\n', text, count=1)
        with open(init, 'w', encoding='utf-8') as f:
            f.write(fixed)
        print(f'[install.sh] fixed the drn import in {init}')
    else:
        print('[install.sh] drn import already fixed')
EOF

# ------------------------------------------------------------- 5. checks
log "pip check"
"$PY" -m pip check

# Import from another directory that has a projects/ folder of its own (as
# an MMAction2 checkout has): the namespaces must merge, and projects.dist
# and projects.dist_tools must come from this checkout.
PROBE="$(mktemp -d)"
mkdir -p "$PROBE/projects/other_plugin"
summary="$(cd "$PROBE" && HF_HUB_OFFLINE=1 DIST_ROOT="$ROOT" "$PY" -W ignore - <<'EOF'
import os
import os.path as osp

import mmaction.models  # noqa: F401  -- fails without the drn fix
import mmcv
import mmengine
import mmpretrain
import mmpretrain.models  # noqa: F401  -- needs model-index and markdown
import torch

import mmaction
import projects.dist
import projects.dist_tools  # the tools' package, installed beside it

for package in (projects.dist, projects.dist_tools):
    expected = osp.join(os.environ['DIST_ROOT'], *package.__name__.split('.'))
    if osp.dirname(package.__file__) != expected:
        raise SystemExit(f'{package.__name__} comes from {package.__file__}, '
                         f'expected {expected}')
print(f'projects.dist {projects.dist.__version__}, torch {torch.__version__} '
      f'(CUDA available: {torch.cuda.is_available()}), mmaction2 '
      f'{mmaction.__version__}, mmengine {mmengine.__version__}, mmcv '
      f'{mmcv.__version__}, mmpretrain {mmpretrain.__version__}')
EOF
)" || { rm -rf "$PROBE"; die "import smoke test failed (see the traceback above)"; }
rm -rf "$PROBE"

log "OK in $((SECONDS - START)) s: $summary; venv: $VENV"
