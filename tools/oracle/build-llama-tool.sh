#!/bin/sh
# Builds a small C++ program against the libllama of node-llama-cpp's pinned
# CPU install (node_modules at the repository root) and the llama.h / ggml
# headers of the llama.cpp source that package ships (gitRelease.bundle):
# llama.cpp as a library, for oracles its JavaScript API cannot drive.
# usage: tools/oracle/build-llama-tool.sh SOURCE.cpp OUT   (exit 77: no node_modules)
set -e
SRC=$1
OUT=$2
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
BUNDLE=$ROOT/node_modules/node-llama-cpp/llama/gitRelease.bundle
BINS=$ROOT/node_modules/@node-llama-cpp/linux-x64/bins/linux-x64
if [ ! -f "$BUNDLE" ] || [ ! -d "$BINS" ]; then
  echo "SKIP: node-llama-cpp is not installed in $ROOT/node_modules"
  exit 77
fi
HEADERS=$(dirname "$OUT")/llama-headers
if [ ! -f "$HEADERS/.complete" ]; then
  rm -rf "$HEADERS" "$HEADERS.git"
  git clone -q --bare "$BUNDLE" "$HEADERS.git"
  mkdir -p "$HEADERS"
  git --git-dir="$HEADERS.git" archive HEAD include ggml/include | tar -x -C "$HEADERS"
  rm -rf "$HEADERS.git"
  touch "$HEADERS/.complete"
fi
LIBS=$(cd "$BINS" && ls | grep -E '^lib(llama|ggml)\.v[0-9.]+\.so$|^libggml-base\.so$' | sed 's/^/-l:/')
# shellcheck disable=SC2086
c++ -O2 -std=c++17 -I "$HEADERS/include" -I "$HEADERS/ggml/include" "$SRC" -o "$OUT" \
  -L "$BINS" $LIBS -Wl,-rpath,"$BINS"
