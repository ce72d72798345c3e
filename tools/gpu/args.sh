# Options shared by the GPU check scripts (sourced):
#   [--bin DIR] [--variant dense|e2b|e4b|moe] [--work DIR] [--types "T ..."]
#   [--archs "sm_XX ..."]
# and the weight types every check covers (all, unless --types names some);
# --archs: the CUDA architectures check-device-code.sh runs ptxas for.
bin=build/bin variant=dense work=$(mktemp -d)
archs="sm_80 sm_89 sm_90 sm_100 sm_120"
types="f32 f16 bf16 q8_0 q4_0 q4_1 q5_0 q5_1 q4_k q5_k q6_k q4_k_m q5_k_m nvfp4 nvfp4-fp4 fp8"
while [ $# -gt 0 ]; do
  case "$1" in
    --bin) bin=$2; shift 2 ;;
    --variant) variant=$2; shift 2 ;;
    --work) work=$2; shift 2 ;;
    --types) types=$2; shift 2 ;;
    --archs) archs=$2; shift 2 ;;
    *) echo "usage: $0 [--bin DIR] [--variant V] [--work DIR] [--types \"T ...\"] [--archs \"sm_XX ...\"]" >&2; exit 2 ;;
  esac
done
mkdir -p "$work"

# gen_model TYPE OUT.gguf: the variant's GGUF of that type; nvfp4 is the
# GGUF llama.cpp's converter makes of a ModelOpt NVFP4 checkpoint (NVFP4 MLP,
# '.scale' tensors, the rest BF16), as no quantizer writes NVFP4 GGUFs; fp8
# writes a ModelOpt FP8 checkpoint with KV-cache scales ($work/hf-fp8, which
# compile_input names; compiled with an E4M3 cache) and its F32 twin;
# nvfp4-fp4 is the nvfp4 GGUF compiled with W4A4 activations; fp8-experts
# (moe only, named by --types) writes per-expert FP8 modules, 128 wide, so
# that every expert weight is f8_b64.
gen_model() {
  if [ "$1" = nvfp4 ] || [ "$1" = nvfp4-fp4 ]; then
    "$bin/gemmac-gen-model" --variant "$variant" --type bf16 \
      --hf "$work/hf-nvfp4" --hf-quant nvfp4 -o "$2" >/dev/null
  elif [ "$1" = fp8-experts ]; then
    "$bin/gemmac-gen-model" --variant "$variant" --type bf16 \
      --hf "$work/hf-fp8-experts" --hf-quant fp8 --hf-per-expert \
      --expert-ffn 128 -o "$2" >/dev/null
  elif [ "$1" = fp8 ]; then
    "$bin/gemmac-gen-model" --variant "$variant" --type bf16 \
      --hf "$work/hf-fp8" --hf-quant fp8 --kv-scales 0.02,0.03 -o "$2" >/dev/null
  else
    "$bin/gemmac-gen-model" --variant "$variant" --type "$1" -o "$2" >/dev/null
  fi
}

# compile_input TYPE MODEL.gguf: sets `input` to what compile-model reads
# for that type, with its options.
compile_input() {
  case "$1" in
    fp8) input=("$work/hf-fp8" --kv-cache f8) ;;
    fp8-experts) input=("$work/hf-fp8-experts") ;;
    nvfp4-fp4) input=("$2" --nvfp4-activations fp4) ;;
    *) input=("$2") ;;
  esac
}
