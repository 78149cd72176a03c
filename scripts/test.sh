#!/usr/bin/env bash
# The test command: set up, build the CPU library with ASan + UBSan and
# warnings as errors, run every test (GPU cases skip here, saying why), then
# the HTTP server suite (a real `fdeploy serve` with the default model, the
# official openai client) against a Release build.
set -euo pipefail
cd "$(dirname "$0")/.."
FD_SANITIZE=1 FD_WERROR=1 ./build.sh
(cd build/cpu-asan && ctest --output-on-failure -j "${MAX_JOBS:-$(nproc)}")
build/cpu-asan/bin/fdeploy info
build/cpu-asan/bin/fdeploy selftest

FD_SKIP_SETUP=1 FD_WERROR=1 ./build.sh
python3 -m pip install -q -r tests/server/requirements.txt
FDEPLOY_BIN="$PWD/build/cpu/bin/fdeploy" python3 -m unittest tests/server/test_server.py
