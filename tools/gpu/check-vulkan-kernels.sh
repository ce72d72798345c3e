#!/usr/bin/env bash
# Runs the Vulkan kernels of one tiny variant in every weight format on a
# Vulkan device (lavapipe on a machine without a GPU) against scalar
# references. Exits 77 (CTest: skipped) without a usable Vulkan device.
#   tools/gpu/check-vulkan-kernels.sh --bin build/bin --variant dense --work DIR
set -euo pipefail
bin=build/bin variant=dense work=$(mktemp -d)
while [ $# -gt 0 ]; do
  case "$1" in
    --bin) bin=$2; shift 2 ;;
    --variant) variant=$2; shift 2 ;;
    --work) work=$2; shift 2 ;;
    *) echo "usage: $0 [--bin DIR] [--variant V] [--work DIR]" >&2; exit 2 ;;
  esac
done
mkdir -p "$work"
types="f32 f16 bf16 q8_0 q4_0 q4_1 q5_0 q5_1 q4_k q5_k q6_k q4_k_m q5_k_m"
for type in $types; do
  model=$work/$variant-$type.gguf
  "$bin/gemmac-gen-model" --variant "$variant" --type "$type" -o "$model" >/dev/null
  "$bin/compile-model" "$model" --target vulkan --emit spirv -o "$work/$type.spv" --quiet
  rc=0
  "$bin/gemmac-vk-kernel-check" --gguf "$model" --spirv "$work/$type.spv" || rc=$?
  [ $rc = 77 ] && exit 77
  [ $rc = 0 ] || { echo "FAILED: $variant $type"; exit 1; }
done
