#!/usr/bin/env bash
# GPU checks of the DiST plugin in one time-boxed run, for a freshly lent or
# newly set-up GPU machine. Steps (each writes OUT/STEP.* and OUT/logs/STEP.log):
#
#   tests       parity and mixed-precision tests, on the CPU and on CUDA
#   bench       README "Speed and memory" modes side by side (train and test,
#               fp32 and bf16, the frozen tower alone, the official-order
#               reference) with --saved-activations            -> bench.jsonl
#   isolated    per-mode peak memory of the two train modes (--isolate)
#                                                              -> isolated.jsonl
#   profile     the costliest operators (device time) of one training step,
#               fp32 and bf16 (--profile-ops 25)               -> profile.jsonl
#   cudnn       train and test modes with cuDNN autotuning on (bench follows
#               the config, where it is off)                   -> cudnn.jsonl
#   tiny_train  tools/train.py on the tiny synthetic config, bf16 AMP, 2 epochs
#   compile     inference modes with --compile                 -> compile.jsonl
#   host        train and test steps of configs/dist_vitb_k400_tiny_width.py
#               (tiny tensors: the per-step host and launch cost, to set
#               against the bench step's side-network time)   -> host.jsonl
#   compile_train  the two train modes with --compile    -> compile_train.jsonl
#
# Usage: bash tools/analysis/gpu_checks.sh [OUT_DIR]
#   OUT_DIR defaults to work_dirs/gpu_checks.
# Environment:
#   PYTHON    interpreter (default: python)
#   CONFIG    benchmark config (default: configs/dist_vitb_k400.py)
#   BATCH     benchmark batch size (default: 32)
#   BUDGET_S  seconds for the whole run; each step gets min(its own cap, what
#             is left) and is skipped with less than 15 s left (default: 900)
#   STEPS     which steps, in order (default: "tests bench isolated profile
#             cudnn tiny_train compile host compile_train")
#   DRY_RUN   1 = print each step's command instead of running it
# The last lines printed summarise every benchmark JSON line. GPU figures in
# README.md come from the bench step; see docs/benchmark.md.
set -u

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
OUT="${1:-$ROOT/work_dirs/gpu_checks}"
PYTHON="${PYTHON:-python}"
CONFIG="${CONFIG:-configs/dist_vitb_k400.py}"
BATCH="${BATCH:-32}"
BUDGET_S="${BUDGET_S:-900}"
STEPS="${STEPS:-tests bench isolated profile cudnn tiny_train compile host compile_train}"
DRY_RUN="${DRY_RUN:-0}"

cd "$ROOT" || exit 1
mkdir -p "$OUT/logs"
export PYTHONPATH="$ROOT${PYTHONPATH:+:$PYTHONPATH}"
export PYTHONUNBUFFERED=1
START=$SECONDS

say() { echo "[gpu_checks +$((SECONDS - START))s] $*" | tee -a "$OUT/steps.txt"; }

# run NAME CAP_S OUTFILE CMD...: stdout to OUT/OUTFILE, stderr to the log
run() {
    local name=$1 cap=$2 out=$3 left
    shift 3
    if [ "$DRY_RUN" = 1 ]; then
        echo "+ $*"
        return
    fi
    left=$((BUDGET_S - (SECONDS - START)))
    [ "$left" -lt "$cap" ] && cap=$left
    if [ "$cap" -lt 15 ]; then
        say "$name: skipped (no time left)"
        return
    fi
    say "$name: start (time box ${cap}s)"
    timeout "$cap" "$@" >"$OUT/$out" 2>"$OUT/logs/$name.log"
    say "$name: exit status $?"
}

LOWP=(--variant lowp model.backbone.spatial_encoder.dtype=bf16)
REFERENCE=(--variant reference model.backbone.subsample_before_embedding=False
    model.backbone.fused_attention=False
    model.backbone.spatial_encoder.fused_attention=False
    model.backbone.ada_fold_queries=False model.backbone.channels_last=False)
BENCH=("$PYTHON" tools/analysis/benchmark.py "$CONFIG" --device cuda
    --batch-size "$BATCH")

if [ "$DRY_RUN" != 1 ]; then
    {
        nvidia-smi --query-gpu=name,memory.total,driver_version \
            --format=csv,noheader 2>&1
        "$PYTHON" -c 'import torch; print("torch", torch.__version__, "cuda", torch.version.cuda, "cudnn", torch.backends.cudnn.version(), "gpu", torch.cuda.is_available() and torch.cuda.get_device_name())'
    } | tee "$OUT/env.txt"
fi

for step in $STEPS; do
    case "$step" in
    tests)
        run tests 150 tests.txt "$PYTHON" -m pytest -q -p no:cacheprovider \
            tests/models/test_parity.py tests/models/test_mixed_precision.py
        ;;
    bench)
        run bench 240 bench.jsonl "${BENCH[@]}" --iters 20 --warmup 5 \
            --baseline train:none --saved-activations \
            --modes train:none,train:bf16@lowp,test:none,test:bf16@lowp,clip-only:none,clip-only:bf16@lowp,test:none@reference \
            "${LOWP[@]}" "${REFERENCE[@]}"
        ;;
    isolated)
        run isolated 150 isolated.jsonl "${BENCH[@]}" --iters 3 --warmup 2 \
            --isolate --modes train:none,train:bf16@lowp "${LOWP[@]}"
        ;;
    profile)
        run profile 120 profile.jsonl "${BENCH[@]}" --iters 3 --warmup 3 \
            --modes train:none,train:bf16@lowp --profile-ops 25 "${LOWP[@]}"
        ;;
    cudnn)
        run cudnn 150 cudnn.jsonl "${BENCH[@]}" --iters 10 --warmup 5 \
            --cudnn-benchmark on --baseline train:none \
            --modes train:none,train:bf16@lowp,test:none,test:bf16@lowp \
            "${LOWP[@]}"
        ;;
    tiny_train)
        run tiny_train 120 tiny_train.txt "$PYTHON" tools/train.py \
            configs/dist_tiny_synthetic.py --amp \
            --work-dir "$OUT/logs/tiny_train_work_dir" \
            --cfg-options optim_wrapper.dtype=bfloat16 train_cfg.max_epochs=2
        ;;
    compile)
        run compile 300 compile.jsonl "${BENCH[@]}" --iters 20 --warmup 3 \
            --compile --baseline test:none \
            --modes test:none,test:bf16@lowp,clip-only:none,clip-only:bf16@lowp \
            "${LOWP[@]}"
        ;;
    host)
        run host 90 host.jsonl "$PYTHON" tools/analysis/benchmark.py \
            configs/dist_vitb_k400_tiny_width.py --device cuda \
            --batch-size 1 --shape 3 16 32 32 --iters 30 --warmup 5 \
            --modes train:none,train:bf16,test:none,test:bf16,clip-only:none
        ;;
    compile_train)
        run compile_train 300 compile_train.jsonl "${BENCH[@]}" --iters 10 \
            --warmup 3 --compile --baseline train:none \
            --modes train:none,train:bf16@lowp "${LOWP[@]}"
        ;;
    *)
        echo "gpu_checks: unknown step '$step' (known: tests bench isolated" \
            "profile cudnn tiny_train compile host compile_train)" >&2
        exit 2
        ;;
    esac
done

[ "$DRY_RUN" = 1 ] && exit 0
say done
"$PYTHON" - "$OUT" <<'EOF'
import json
import os
import sys

out = sys.argv[1]
for name in ('bench', 'isolated', 'profile', 'cudnn', 'compile', 'host',
             'compile_train'):
    path = os.path.join(out, name + '.jsonl')
    if not os.path.exists(path) or not os.path.getsize(path):
        continue
    print(f'== {name}')
    for line in open(path):
        if not line.startswith('{'):
            continue
        r = json.loads(line)
        peak = r['peak_mem_mb']
        print(f"{r['key']:24s} {r['s_per_iter']:.4f} s/iter "
              f"{r['clips_per_s']:8.1f} clips/s peak "
              f"{'-' if peak is None else f'{peak:.0f} MiB'} "
              f"vs baseline {r.get('time_ratio_to_baseline')} "
              f"saved {r.get('saved_activations_mb')}")
        for op in r.get('top_ops') or []:
            print(f"    {op['op']:48s} {op['calls']:6d} calls "
                  f"{op.get('self_device_ms', op['self_ms']):9.2f} ms")
EOF
grep -h "Epoch(val)" "$OUT/tiny_train.txt" "$OUT/logs/tiny_train.log" 2>/dev/null \
    | grep acc | tail -2
tail -2 "$OUT/tests.txt" 2>/dev/null
