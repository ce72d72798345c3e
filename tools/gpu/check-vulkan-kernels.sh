#!/usr/bin/env bash
# Runs the Vulkan kernels of one tiny variant in every weight format on a
# Vulkan device (lavapipe on a machine without a GPU) against scalar
# references. Exits 77 (CTest: skipped) without a usable Vulkan device.
#   tools/gpu/check-vulkan-kernels.sh --bin build/bin --variant dense --work DIR
set -euo pipefail
source "$(dirname "$0")/args.sh"
for type in $types; do
  model=$work/$variant-$type.gguf
  gen_model "$type" "$model"
  compile_input "$type" "$model"
  "$bin/compile-model" "${input[@]}" --target vulkan --emit spirv -o "$work/$type.spv" --quiet
  rc=0
  "$bin/gemmac-vk-kernel-check" --gguf "$model" --spirv "$work/$type.spv" || rc=$?
  [ $rc = 77 ] && exit 77
  [ $rc = 0 ] || { echo "FAILED: $variant $type"; exit 1; }
done
