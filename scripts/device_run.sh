#!/usr/bin/env bash
# One call on the lent GPU machine (see docs/BUILD.md): runs the "[70]" build
# made here (carried in .carry/sm70, PTX JIT on the H100) and an sm_90 build
# made there, each through scripts/gpu_check.sh, plus benchmarks, writing logs
# to $OUT. .carry/sysroot holds the few Debian libraries/headers the build needs.
#   scripts/device_run.sh [check|bench|fixtures|all]
set -uo pipefail
cd "$(dirname "$0")/.."
what="${1:-all}"
out="${OUT:-/tmp/fdeploy-out}"
mkdir -p "$out"
export LD_LIBRARY_PATH="$PWD/.carry/sysroot/lib:${LD_LIBRARY_PATH:-}"
export CMAKE_PREFIX_PATH="$PWD/.carry/sysroot"
export FDEPLOY_TEST_MODEL="${FDEPLOY_TEST_MODEL:-/tmp/fdeploy-models/SmolLM2-135M-Instruct.Q4_1.gguf}"
export FDEPLOY_MODEL="$FDEPLOY_TEST_MODEL"

if [ ! -x build/sm90/bin/fdeploy ] || [ "$what" = all ] || [ "$what" = check ]; then
    t0=$(date +%s)
    FD_SKIP_SETUP=1 MAX_JOBS=16 ./build.sh "[90]" > "$out/build-sm90.log" 2>&1 || { tail -30 "$out/build-sm90.log"; exit 1; }
    echo "sm_90 build made here in $(( $(date +%s) - t0 )) s"
fi
case "$what" in
check|all)
    scripts/gpu_check.sh .carry/sm70/bin '"[70]" build (CUDA 11.8, made on the dev machine, PTX JIT)' > "$out/gpu-sm70.log" 2>&1
    echo "sm70: $(tail -1 "$out/gpu-sm70.log")"
    scripts/gpu_check.sh build/sm90/bin '"[90]" build (CUDA 13, made on the GPU machine)' > "$out/gpu-sm90.log" 2>&1
    echo "sm90: $(tail -1 "$out/gpu-sm90.log")"
    ;;
esac
case "$what" in
bench|all)
    for b in sm70:.carry/sm70/bin sm90:build/sm90/bin; do
        name=${b%%:*}; bin=${b#*:}
        for t in "$bin"/test_*; do
            FD_BENCH=1 FD_TEST_ONLY=bench "$t" 2>&1 | grep -v '^skip\|^[0-9]* passed' || true
        done > "$out/bench-$name.log"
    done
    python3 scripts/bench_attention_torch.py > "$out/bench-torch.log" 2>&1 || true
    ;;
esac
