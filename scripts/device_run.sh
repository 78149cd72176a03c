#!/usr/bin/env bash
# Runs on the lent GPU machine (docs/BUILD.md explains the set-up): the "[70]"
# build made on the dev machine (carried in .carry/sm70, PTX JIT on the H100)
# and an sm_90 build made here, with logs in $OUT.
#   scripts/device_run.sh fixtures  transformers logits of the default model
#   scripts/device_run.sh check     both builds: every test, fdeploy info, selftest
#   scripts/device_run.sh bench     op benchmarks vs PyTorch, pp/tg vs transformers
#   scripts/device_run.sh serve     the serving benchmark on both builds
# The models are expected at /tmp/fdeploy-models: either whole, or as the parts
# xpart0..N of the two files concatenated plus a `manifest` (name size per line),
# carried a part per call since a call carries at most 64 MiB (docs/BUILD.md).
set -uo pipefail
cd "$(dirname "$0")/.."
what="${1:-check}"
out="${OUT:-/tmp/fdeploy-out}"
mkdir -p "$out"
models=/tmp/fdeploy-models
model="$models/SmolLM2-135M-Instruct.Q4_1.gguf"
export LD_LIBRARY_PATH="$PWD/.carry/sysroot/lib:${LD_LIBRARY_PATH:-}"
export CMAKE_PREFIX_PATH="$PWD/.carry/sysroot"
export FDEPLOY_TEST_MODEL="$model" FDEPLOY_MODEL="$model" PYTHONUNBUFFERED=1
if [ -f "$models/manifest" ] && ls "$models"/xpart* >/dev/null 2>&1; then
    cat "$models"/xpart? > "$models/blob"
    off=0
    while read -r name size; do
        tail -c +$((off + 1)) "$models/blob" | head -c "$size" > "$models/$name"
        off=$((off + size))
    done < "$models/manifest"
    rm -f "$models/blob" "$models"/xpart?
fi
export FDEPLOY_TEST_GEMMA3="$models/gemma-3-270m-q4_k_m.gguf"
if [ -f .carry/gguf-0.19.0-py3-none-any.whl ] && [ ! -d /tmp/site/gguf ]; then
    python3 -m pip install -q --no-index --no-deps --target /tmp/site .carry/gguf-0.19.0-py3-none-any.whl
fi
export PYTHONPATH="/tmp/site:${PYTHONPATH:-}"

build90() {
    [ -x build/sm90/bin/fdeploy ] && [ "${REBUILD:-0}" = 0 ] && return 0
    local t0=$(date +%s)
    FD_SKIP_SETUP=1 MAX_JOBS=16 ./build.sh "[90]" > "$out/build-sm90.log" 2>&1 || { tail -30 "$out/build-sm90.log"; exit 1; }
    echo "sm_90 build made here in $(( $(date +%s) - t0 )) s"
}

case "$what" in
fixtures)
    python3 scripts/make_model_fixtures.py "$model" tests/fixtures/smollm2_logits.json && cp tests/fixtures/smollm2_logits.json "$out/"
    ;;
check)
    build90
    scripts/gpu_check.sh .carry/sm70/bin '"[70]" build (CUDA 11.8, made on the dev machine, PTX JIT)' > "$out/gpu-sm70.log" 2>&1
    echo "sm70: $(tail -1 "$out/gpu-sm70.log")"
    scripts/gpu_check.sh build/sm90/bin '"[90]" build (CUDA 13, made on the GPU machine)' > "$out/gpu-sm90.log" 2>&1
    echo "sm90: $(tail -1 "$out/gpu-sm90.log")"
    ;;
bench)
    build90
    for b in sm70:.carry/sm70/bin sm90:build/sm90/bin; do
        name=${b%%:*}; bin=${b#*:}
        {
            echo "=== $name: op benchmarks (FD_BENCH=1)"
            for t in test_append_attention test_gguf_matmul test_ffn; do FD_BENCH=1 FD_TEST_ONLY=bench "$bin/$t" 2>&1; done
            echo "=== $name: fdeploy bench-ops (batch 64)"
            "$bin/fdeploy" bench-ops --device 0 2>&1
            echo "=== $name: fdeploy bench (engine, one sequence)"
            "$bin/fdeploy" bench --device 0 -r 5 2>&1
        } > "$out/bench-$name.log"
    done
    { python3 scripts/bench_attention_torch.py; python3 scripts/bench_transformers.py "$model" --reps 5; } > "$out/bench-torch.log" 2>&1
    ;;
serve)
    build90
    for b in sm70:.carry/sm70/bin sm90:build/sm90/bin; do
        name=${b%%:*}; bin=${b#*:}
        "$bin/fdeploy" serve --device 0 --port 8123 --max-num-seqs 64 > "$out/serve-$name-server.log" 2>&1 &
        pid=$!
        for i in $(seq 60); do curl -sf localhost:8123/health >/dev/null 2>&1 && break; sleep 1; done
        python3 scripts/bench_serve.py --port 8123 --num-prompts 256 --concurrency 64 --input-len 256 --output-len 128 \
            --label "$name" > "$out/serve-$name.log" 2>&1
        curl -s localhost:8123/metrics > "$out/metrics-$name.txt"
        kill -TERM $pid; wait $pid; echo "server exit: $?" >> "$out/serve-$name.log"
    done
    ;;
esac
