#!/usr/bin/env bash
# Measures the "[70]" build: full (ccache off), no-op, and after touching one
# kernel header, one .c and one .cu file. Prints a Markdown table (docs/BUILD.md).
set -euo pipefail
cd "$(dirname "$0")/.."
dir=build/measure-sm70
jobs="${MAX_JOBS:-$(nproc)}"
export CCACHE_DISABLE=1
rm -rf "$dir"
FD_SKIP_SETUP=1 FD_BUILD_DIR="$dir" ./build.sh "[70]" >/dev/null   # configure + full build
rm -rf "$dir"
t0=$(date +%s%N)
FD_SKIP_SETUP=1 FD_BUILD_DIR="$dir" ./build.sh "[70]" >/dev/null
full=$(( ($(date +%s%N) - t0) / 1000000 ))

step() {  # step <label> <file to touch or ""> : one incremental rebuild
    [ -n "$2" ] && touch "$2"
    local t0 out n
    t0=$(date +%s%N)
    out=$(ninja -C "$dir" -j "$jobs" 2>&1)
    n=$(echo "$out" | grep -c '^\[' || true)
    printf '| %s | %s | %d ms |\n' "$1" "$n" $(( ($(date +%s%N) - t0) / 1000000 ))
}
nfiles=$(ninja -C "$dir" -t commands | grep -c -- '-c ' || true)
echo "| build (\"[70]\", CUDA 11.8, $jobs jobs, $(nproc) cores, ccache off) | steps run | time |"
echo "|---|---|---|"
printf '| full build (configure + %s compiles + link) | all | %d ms |\n' "$nfiles" "$full"
step "no-op rebuild" ""
step "touch src/ops/cuda/common.cuh (kernel header)" src/ops/cuda/common.cuh
step "touch src/ops/rebuild_padding.c" src/ops/rebuild_padding.c
step "touch src/ops/cuda/rebuild_padding.cu" src/ops/cuda/rebuild_padding.cu
echo
echo "kernel files including common.cuh: $(grep -l 'common.cuh' src/ops/cuda/*.cu | wc -l)"
