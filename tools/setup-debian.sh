#!/usr/bin/env bash
# Sets up a Debian 12 machine for gemmac and builds it: LLVM/MLIR 22 and the
# other toolchain packages from apt, llama.cpp (node-llama-cpp, the parity
# and speed reference) from npm, then the CMake build in ./build.
# Idempotent: packages already installed are not reinstalled.
set -euo pipefail
cd "$(dirname "$0")/.."

SUDO=""
if [ "$(id -u)" != 0 ]; then SUDO="sudo"; fi

packages=(
  cmake ninja-build ccache g++ python3 pkg-config
  llvm-22-dev libmlir-22-dev mlir-22-tools llvm-22-tools clang-22 lld-22
  libclang-rt-22-dev
  libgtest-dev libssl-dev zlib1g-dev spirv-tools mesa-vulkan-drivers libvulkan-dev
  nlohmann-json3-dev libcpp-httplib-dev python3-jinja2 tmux make
  python3-venv python3-pytest
  g++-aarch64-linux-gnu libsimde-dev qemu-user
)
missing=()
for p in "${packages[@]}"; do
  dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
done
# Node.js may come from elsewhere than Debian (nodesource, nvm): only install
# Debian's when there is none.
command -v node >/dev/null 2>&1 || missing+=(nodejs)
command -v npm >/dev/null 2>&1 || missing+=(npm)
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing ${missing[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}"
fi

# llama.cpp's prebuilt CPU build (85 MB; --omit=optional skips GPU builds)
# and the npm openai client (serve's tests).
if [ ! -d node_modules/@node-llama-cpp/linux-x64 ] || [ ! -d node_modules/openai ]; then
  echo "setup: installing node-llama-cpp"
  npm install --omit=optional --no-audit --no-fund --ignore-scripts
fi

# The reference is llama.cpp's AVX2 ("haswell") CPU build on every machine:
# node-llama-cpp would otherwise pick an AVX-512 variant where the CPU has it,
# whose float summation order differs, and gemmac's kernels reproduce the
# AVX2 build's arithmetic exactly (docs/numerics.md).
bins=node_modules/@node-llama-cpp/linux-x64/bins/linux-x64
for v in alderlake cannonlake cascadelake cooperlake icelake sapphirerapids skylakex zen4; do
  rm -f "$bins/libggml-cpu-$v.so"
done

# The reference of the AVX-512 kernels (programs compiled for a CPU with
# AVX-512 VNNI and BF16) is llama.cpp's AVX-512 build, "zen4": a second
# install keeps that variant alone (parity.zen4.*, which skip on a CPU
# without its features), and bench-vs-llamacpp --llama-dir can use it.
zen4=.llama-zen4
zen4bins=$zen4/node_modules/@node-llama-cpp/linux-x64/bins/linux-x64
if [ ! -f "$zen4bins/libggml-cpu-zen4.so" ]; then
  echo "setup: installing llama.cpp's AVX-512 build in $zen4"
  mkdir -p "$zen4"
  version=$(node -p 'require("./node_modules/node-llama-cpp/package.json").version')
  npm install --prefix "$zen4" --omit=optional --no-audit --no-fund --ignore-scripts \
    "node-llama-cpp@$version" "@node-llama-cpp/linux-x64@$version"
fi
for lib in "$zen4bins"/libggml-cpu-*.so; do
  [ "$(basename "$lib")" = libggml-cpu-zen4.so ] || rm -f "$lib"
done

cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release
cmake --build build
