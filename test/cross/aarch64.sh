#!/bin/bash
# Programs compiled for aarch64 (--target cpu:aarch64), run under qemu-user:
#  same-bits    the aarch64 program's logits equal the x86-64-v3 program's
#               bit for bit (one batch and steps of 7), with one tanhf in
#               both (tanhf_shim.c: the two glibc ports differ in its last
#               bit for a few inputs); without the shim they would differ,
#               which the case also shows
#  features     a program compiled for +dotprod refuses a CPU without it
#               (qemu's cortex-a53), naming it, and runs on one with it
#               (cortex-a76); run, embedded weights; the kernel set: arm
#               for a CPU with dotprod and fp16 arithmetic, else avx2
# usage: aarch64.sh BUILD SRC WORK CASE [VARIANT TYPE]   (exit 77: no qemu)
build=$1 src=$2 work=$3 case=$4 variant=${5:-dense} type=${6:-q4_0}
. "$src/test/package/common.sh"
sysroot=/usr/aarch64-linux-gnu
if ! command -v qemu-aarch64 > /dev/null || [ ! -e $sysroot/lib/ld-linux-aarch64.so.1 ]; then
  echo "skip: no qemu-aarch64 or aarch64 C libraries (Debian: qemu-user g++-aarch64-linux-gnu)"
  exit 77
fi
arm() { qemu-aarch64 -L $sysroot "$@"; }
bin=$build/bin
rm -rf "$work" && mkdir -p "$work"
"$bin/gemmac-gen-model" --variant "$variant" --type "$type" -o "$work/m.gguf" > /dev/null

case $case in
same-bits)
  "$bin/compile-model" "$work/m.gguf" --quiet --target cpu:x86-64-v3 -o "$work/x86"
  "$bin/compile-model" "$work/m.gguf" --quiet --target cpu:aarch64 -o "$work/arm"
  clang-22 -O2 -ffp-contract=off -shared -fPIC "$src/test/cross/tanhf_shim.c" -o "$work/shim-x86.so"
  clang-22 --target=aarch64-linux-gnu -O2 -ffp-contract=off -shared -fPIC \
    "$src/test/cross/tanhf_shim.c" -o "$work/shim-arm.so"
  # 72 tokens of a fixed pseudo-random sequence after <bos> (>= 64 in a batch).
  tokens=2 seed=12345
  for _ in $(seq 71); do
    seed=$(( (seed * 1103515245 + 12345) % 2147483648 ))
    tokens+=",$((20 + seed % 1004))"
  done
  for batch in 512 7; do
    LD_PRELOAD=$work/shim-x86.so "$work/x86" eval --tokens "$tokens" --batch $batch \
      --logits "$work/x86-$batch.bin"
    arm -E LD_PRELOAD="$work/shim-arm.so" "$work/arm" eval --tokens "$tokens" \
      --batch $batch --logits "$work/arm-$batch.bin"
    same "$work/x86-$batch.bin" "$work/arm-$batch.bin" \
      "$variant $type, batches of $batch: x86-64-v3 and aarch64 logits"
  done
  "$work/x86" eval --tokens "$tokens" --logits "$work/x86-libm.bin"
  arm "$work/arm" eval --tokens "$tokens" --logits "$work/arm-libm.bin"
  if cmp -s "$work/x86-libm.bin" "$work/arm-libm.bin"; then
    echo "note: with each C library's own tanhf the logits agree too"
  else
    echo "note: with each C library's own tanhf the logits differ (the shim is what makes them equal)"
  fi
  ;;
features)
  "$bin/compile-model" "$work/m.gguf" --quiet --target cpu:aarch64,+dotprod \
    --embed-weights -o "$work/dotprod"
  [ ! -e "$work/dotprod.weights" ] || fail "--embed-weights left a weight file"
  set +e
  arm -cpu cortex-a53 "$work/dotprod" run -p "$PROMPT" -n 4 > "$work/out.txt" 2> "$work/err.txt"
  rc=$?
  set -e
  cat "$work/err.txt"
  [ $rc -ne 0 ] || fail "compiled for +dotprod, the program ran on a Cortex-A53"
  [ $rc -lt 128 ] || fail "the program compiled for +dotprod died of signal $((rc - 128))"
  grep -q "this CPU lacks dotprod" "$work/err.txt" || fail "the message does not name dotprod"
  grep -q -- "--target cpu:aarch64" "$work/err.txt" || fail "the message does not name a --target"
  echo "ok: compiled for +dotprod, the program refuses a Cortex-A53, naming dotprod (exit $rc)"
  arm -cpu cortex-a76 "$work/dotprod" run -p "$PROMPT" -n 4 --temp 0 > "$work/a76.txt" ||
    fail "compiled for +dotprod, the program did not run on a Cortex-A76"
  "$bin/compile-model" "$work/m.gguf" --quiet --target cpu:x86-64-v3 -o "$work/x86"
  "$work/x86" run -p "$PROMPT" -n 4 --temp 0 > "$work/x86.txt"
  same "$work/x86.txt" "$work/a76.txt" "greedy run -n 4 on x86 and on a Cortex-A76 (embedded weights)"
  "$bin/compile-model" "$work/m.gguf" --quiet --target cpu:aarch64:cortex-a76 -o "$work/a76"
  for p in dotprod a76; do
    arm -cpu cortex-a76 "$work/$p" info --json |
      sed -n 's/.*"kernels": "\([a-z0-9]*\)".*/\1/p' > "$work/$p.kernels"
  done
  [ "$(cat "$work/dotprod.kernels")" = avx2 ] || fail "+dotprod alone: not the avx2 kernels"
  [ "$(cat "$work/a76.kernels")" = arm ] || fail "cortex-a76 (dotprod, fp16): not the arm kernels"
  echo "ok: kernels: +dotprod avx2, cortex-a76 arm"
  ;;
*) fail "unknown case $case" ;;
esac
