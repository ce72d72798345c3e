#!/usr/bin/env bash
# Device code of one tiny variant in every weight format, checked by the
# standard tools: the PTX of each CUDA architecture (all five, or --archs)
# by ptxas, the SPIR-V by spirv-val for Vulkan 1.3. Exits 77 (CTest: skipped) when a tool is missing.
#   tools/gpu/check-device-code.sh --bin build/bin --variant dense --work DIR
set -euo pipefail
source "$(dirname "$0")/args.sh"
ptxas=${PTXAS:-$(command -v ptxas || echo /usr/local/cuda/bin/ptxas)}
spirv_val=$(command -v spirv-val || true)
if [ ! -x "$ptxas" ] || [ -z "$spirv_val" ]; then
  echo "SKIP: needs ptxas (CUDA toolkit; set PTXAS) and spirv-val (spirv-tools)"
  exit 77
fi
checked=0
for type in $types; do
  model=$work/$variant-$type.gguf
  gen_model "$type" "$model"
  compile_input "$type" "$model"
  for arch in $archs; do
    ptx=$work/$variant-$type-$arch.ptx
    "$bin/compile-model" "${input[@]}" --target "cuda:$arch" --emit ptx -o "$ptx" --quiet
    "$ptxas" -arch="$arch" "$ptx" -o "$work/out.cubin"
    checked=$((checked + 1))
  done
  spv=$work/$variant-$type.spv
  "$bin/compile-model" "${input[@]}" --target vulkan --emit spirv -o "$spv" --quiet
  "$spirv_val" --target-env vulkan1.3 "$spv"
  checked=$((checked + 1))
  echo "$variant $type: PTX ($archs) and SPIR-V valid"
done
echo "$checked modules valid"
