#!/usr/bin/env bash
# The test command: set up, build the CPU library with ASan + UBSan and
# warnings as errors, and run every test (GPU cases skip here, saying why).
set -euo pipefail
cd "$(dirname "$0")/.."
FD_SANITIZE=1 FD_WERROR=1 ./build.sh
cd build/cpu-asan
ctest --output-on-failure -j "${MAX_JOBS:-$(nproc)}"
./bin/fdeploy info
./bin/fdeploy selftest
