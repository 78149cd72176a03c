#!/usr/bin/env bash
# fdeploy's build front end (mirrors FastDeploy's build.sh):
#   ./build.sh                      CPU-only build          -> build/cpu
#   MAX_JOBS=8 ./build.sh "[70]"    V100 (CUDA 11.8)         -> build/sm70
#   ./build.sh "[80,90]"            A100 + H100 (newest CUDA) -> build/sm80-90
# Options (environment): MAX_JOBS (parallel jobs, default: cores), FD_PACKAGE=1
# (also make a .tar.gz package with CPack), FD_SANITIZE=1 (ASan+UBSan, Debug),
# BUILD_TYPE (Release), FD_BUILD_DIR (override the folder), FD_SKIP_SETUP=1.
# The arch list picks the toolkit: any list with 70 uses CUDA 11.8 (CUDA 13
# dropped Volta); others use the nvcc on PATH, else CUDA 11.8.
set -euo pipefail
cd "$(dirname "$0")"

archs="${1:-}"
archs="${archs//[\[\] ]/}"
if [ -n "$archs" ] && ! [[ "$archs" =~ ^[0-9]+(,[0-9]+)*$ ]]; then
    echo "build.sh: arch list '$1' is not like \"[70]\" or \"[80,90]\"" >&2
    exit 2
fi
jobs="${MAX_JOBS:-$(nproc)}"
btype="${BUILD_TYPE:-Release}"
[ "${FD_SANITIZE:-0}" = 1 ] && btype=Debug
name=cpu
[ -n "$archs" ] && name="sm${archs//,/-}"
[ "${FD_SANITIZE:-0}" = 1 ] && name="$name-asan"
dir="${FD_BUILD_DIR:-build/$name}"

[ "${FD_SKIP_SETUP:-0}" = 1 ] || scripts/setup.sh "${1:-}"

args=(-G Ninja -DCMAKE_BUILD_TYPE="$btype" -DFD_CUDA_ARCHS="${archs//,/;}")
[ "${FD_SANITIZE:-0}" = 1 ] && args+=(-DFD_SANITIZE=ON)
[ "${FD_WERROR:-0}" = 1 ] && args+=(-DFD_WERROR=ON)
if [ -n "$archs" ]; then
    debian=/usr/lib/nvidia-cuda-toolkit/bin/nvcc
    case ",$archs," in
    *,70,*) nvcc="$debian" ;;
    *) nvcc="$(command -v nvcc || echo "$debian")" ;;
    esac
    if [ ! -x "$nvcc" ]; then
        echo "build.sh: no CUDA toolkit for [$archs] ($nvcc); run scripts/setup.sh \"[$archs]\"" >&2
        exit 1
    fi
    args+=(-DCMAKE_CUDA_COMPILER="$nvcc")
    # CUDA 11.8 accepts clang-14 as host compiler (not gcc 12).
    [ "$nvcc" = "$debian" ] && args+=(-DCMAKE_CUDA_HOST_COMPILER=clang-14)
fi

cmake -S . -B "$dir" "${args[@]}" >/dev/null
cmake --build "$dir" -j "$jobs"
if [ "${FD_PACKAGE:-0}" = 1 ]; then
    (cd "$dir" && cpack -G TGZ >/dev/null && ls -1 "$PWD"/fdeploy-*.tar.gz)
fi
if [ -n "$archs" ]; then what="SM [$archs]"; else what="CPU-only"; fi
echo "build.sh: built $dir ($what)"
