#!/bin/sh
# Cross-compiles llama.cpp's CPU backend and libllama for aarch64 from the
# source node-llama-cpp ships (llama/gitRelease.bundle), and the logits oracle
# (llama-logits-oracle.cpp) against them: llama.cpp's Arm arithmetic, run
# under qemu-user, the reference aarch64 programs are measured against
# (docs/arm.md). The build is llama.cpp's Arm build for CPUs with the
# dot-product and half-precision arithmetic extensions (armv8.2-a+dotprod+fp16:
# Cortex-A76/A78, Neoverse N1, Raspberry Pi 5, Jetson Orin; its release's
# armv8.2_2 variant), with GCC as llama.cpp's Linux releases build it.
# About 2.5 minutes on 2 cores.
# usage: tools/oracle/build-llama-arm.sh OUT_DIR
#   then: qemu-aarch64 -L /usr/aarch64-linux-gnu OUT_DIR/llama-logits-oracle
#         MODEL.gguf OUT_DIR/lib --tokens 2,... --logits FILE
# (exit 77: no node_modules or no aarch64 cross compiler)
set -e
OUT=$1
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
BUNDLE=$ROOT/node_modules/node-llama-cpp/llama/gitRelease.bundle
if [ -z "$OUT" ]; then echo "usage: build-llama-arm.sh OUT_DIR" >&2; exit 2; fi
if [ ! -f "$BUNDLE" ]; then
  echo "SKIP: node-llama-cpp is not installed in $ROOT/node_modules"; exit 77
fi
if ! command -v aarch64-linux-gnu-g++ > /dev/null; then
  echo "SKIP: no aarch64-linux-gnu-g++ (Debian: g++-aarch64-linux-gnu)"; exit 77
fi
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
if [ ! -f "$OUT/src/.complete" ]; then
  rm -rf "$OUT/src"
  git clone -q "$BUNDLE" "$OUT/src"
  touch "$OUT/src/.complete"
fi
cat > "$OUT/toolchain.cmake" <<TOOLCHAIN
set(CMAKE_SYSTEM_NAME Linux)
set(CMAKE_SYSTEM_PROCESSOR aarch64)
set(CMAKE_C_COMPILER aarch64-linux-gnu-gcc)
set(CMAKE_CXX_COMPILER aarch64-linux-gnu-g++)
set(CMAKE_FIND_ROOT_PATH /usr/aarch64-linux-gnu)
set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)
set(CMAKE_FIND_ROOT_PATH_MODE_LIBRARY ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_INCLUDE ONLY)
TOOLCHAIN
LAUNCHER=""
if command -v ccache > /dev/null; then
  LAUNCHER="-DCMAKE_C_COMPILER_LAUNCHER=ccache -DCMAKE_CXX_COMPILER_LAUNCHER=ccache"
fi
# shellcheck disable=SC2086
cmake -S "$OUT/src" -B "$OUT/build" -G Ninja -DCMAKE_BUILD_TYPE=Release \
  -DCMAKE_TOOLCHAIN_FILE="$OUT/toolchain.cmake" $LAUNCHER \
  -DGGML_NATIVE=OFF -DGGML_CPU_ARM_ARCH=armv8.2-a+dotprod+fp16 -DGGML_OPENMP=OFF \
  -DBUILD_SHARED_LIBS=ON -DLLAMA_CURL=OFF -DLLAMA_BUILD_COMMON=OFF \
  -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF -DLLAMA_BUILD_TOOLS=OFF \
  -DLLAMA_BUILD_SERVER=OFF > "$OUT/configure.log"
ninja -C "$OUT/build" llama > "$OUT/build.log"
rm -rf "$OUT/lib" && mkdir -p "$OUT/lib"
cp -P "$OUT"/build/bin/lib*.so* "$OUT/lib/"
aarch64-linux-gnu-g++ -O2 -std=c++17 -I "$OUT/src/include" -I "$OUT/src/ggml/include" \
  "$ROOT/tools/oracle/llama-logits-oracle.cpp" -o "$OUT/llama-logits-oracle" \
  -L "$OUT/lib" -lllama -lggml -lggml-base -Wl,-rpath,"$OUT/lib"
echo "built $OUT/llama-logits-oracle (llama.cpp $(git -C "$OUT/src" describe --tags --always 2>/dev/null), armv8.2-a+dotprod+fp16)"
