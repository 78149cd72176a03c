#!/usr/bin/env bash
# Runs a build's test binaries, `fdeploy info` and `fdeploy selftest` on the
# GPU machine, from a bin/ folder (works for carried builds, unlike ctest,
# which records absolute paths). Usage: scripts/gpu_check.sh <bin dir> <label>
# Prints one summary line per test binary and the totals; exit 1 on failure.
set -uo pipefail
bin="$1"; label="$2"
echo "=== $label: $(date -u +%FT%TZ) on $(nvidia-smi --query-gpu=name,compute_cap --format=csv,noheader 2>/dev/null | head -1)"
"$bin/fdeploy" info
echo "--- fdeploy info --json (devices)"
"$bin/fdeploy" info --json | python3 -c 'import json,sys; d=json.load(sys.stdin); print(json.dumps({"build":d["build"],"devices":d["devices"]}))'
echo "--- tests"
fail=0
for t in "$bin"/test_*; do
    out=$("$t" 2>&1); rc=$?
    summary=$(echo "$out" | tail -1)
    printf '%-34s rc=%-3s %s\n' "$(basename "$t")" "$rc" "$summary"
    if [ "$rc" != 0 ] && [ "$rc" != 77 ]; then fail=1; echo "$out" | grep -v '^ok ' | sed 's/^/    /'; fi
    echo "$out" | grep '^skip ' | sed 's/^/    /'
    [ "$rc" = 0 ] && echo "$out" | grep -E 'vs transformers|greedy:' | sed 's/^/    /'
done
echo "--- selftest"
"$bin/fdeploy" selftest || fail=1
echo "=== $label: $([ $fail = 0 ] && echo PASSED || echo FAILED)"
exit $fail
