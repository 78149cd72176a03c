#!/usr/bin/env bash
# The main job: set up, build for this machine (its GPU's SM if one is visible,
# else CPU-only), print the platform, and self-test every op on every device.
set -euo pipefail
cd "$(dirname "$0")/.."
archs="${1:-}"
if [ -z "$archs" ] && command -v nvidia-smi >/dev/null 2>&1; then
    cc=$(nvidia-smi --query-gpu=compute_cap --format=csv,noheader 2>/dev/null | head -1 | tr -d .)
    [ -n "$cc" ] && archs="[$cc]"
fi
./build.sh "$archs"
name=cpu
[ -n "$archs" ] && { a="${archs//[\[\] ]/}"; name="sm${a//,/-}"; }
build/$name/bin/fdeploy info
build/$name/bin/fdeploy selftest
echo
echo "$ fdeploy run -p \"What is the capital of France? Answer in one sentence.\""
device=cpu
[ -n "$archs" ] && [ "$(build/$name/bin/fdeploy info --json | python3 -c 'import json,sys; print(len(json.load(sys.stdin)["devices"]))')" != 0 ] && device=0
build/$name/bin/fdeploy run --device "$device" -p "What is the capital of France? Answer in one sentence." -n 64 --temp 0
