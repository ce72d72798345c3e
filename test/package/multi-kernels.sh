#!/bin/bash
# --target cpu:x86-64-multi: code for x86-64-v3 and the kernel set chosen
# when the program starts. On a CPU with llama.cpp's AVX-512 build features
# (avx512f/bw/vl/dq/cd, VNNI, BF16, VBMI) it reports the avx512 kernels and
# its logits equal those of the program compiled for cpu:znver4 (the
# AVX-512 set) bit for bit; under qemu-x86_64 -cpu Haswell (AVX2 only) the
# same program reports avx2 and equals the cpu:x86-64-v3 program. A BF16
# model, whose sums the two sets group differently (the test checks that
# they do differ, so that it tells them apart).
build=$1 src=$2 work=$3
. "$src/test/package/common.sh"
if [ "$(uname -m)" != x86_64 ]; then echo "skip: the kernel sets are x86's"; exit 77; fi
rm -rf "$work" && mkdir -p "$work"
bin=$build/bin
"$bin/gemmac-gen-model" --variant dense --type bf16 -o "$work/m.gguf" > /dev/null
for t in x86-64-multi x86-64-v3 znver4; do
  "$bin/compile-model" "$work/m.gguf" --quiet --target "cpu:$t" -o "$work/$t"
done
tokens=2 seed=7
for _ in $(seq 71); do
  seed=$(( (seed * 1103515245 + 12345) % 2147483648 ))
  tokens+=",$((20 + seed % 1004))"
done
kernels() { "$@" info --json | sed -n 's/.*"kernels": "\([a-z0-9]*\)".*/\1/p'; }
logits() { local out=$1; shift; "$@" eval --tokens "$tokens" --logits "$out"; }

flags=" $(grep -m1 '^flags' /proc/cpuinfo | cut -d: -f2) "
zen4=yes
for f in avx512f avx512bw avx512vl avx512dq avx512cd avx512_vnni avx512_bf16 avx512vbmi; do
  [[ "$flags" == *" $f "* ]] || zen4=no
done
if [ $zen4 = yes ]; then
  [ "$(kernels "$work/x86-64-multi")" = avx512 ] || fail "x86-64-multi on this CPU: not the avx512 kernels"
  [ "$(kernels "$work/x86-64-v3")" = avx2 ] || fail "x86-64-v3: not the avx2 kernels"
  logits "$work/multi.bin" "$work/x86-64-multi"
  logits "$work/znver4.bin" "$work/znver4"
  logits "$work/v3.bin" "$work/x86-64-v3"
  ! cmp -s "$work/znver4.bin" "$work/v3.bin" || fail "the two kernel sets gave the same logits: this model cannot tell them apart"
  same "$work/multi.bin" "$work/znver4.bin" "x86-64-multi on this CPU and the cpu:znver4 program: logits"
else
  echo "note: this CPU lacks llama.cpp's AVX-512 build features; the avx512 choice is not checked"
  [ "$(kernels "$work/x86-64-multi")" = avx2 ] || fail "x86-64-multi on this CPU: not the avx2 kernels"
fi
if command -v qemu-x86_64 > /dev/null; then
  haswell() { qemu-x86_64 -cpu Haswell "$@" 2> "$work/qemu.err"; }
  [ "$(kernels haswell "$work/x86-64-multi")" = avx2 ] ||
    fail "x86-64-multi on an emulated Haswell: not the avx2 kernels"
  logits "$work/multi-haswell.bin" haswell "$work/x86-64-multi"
  [ -f "$work/v3.bin" ] || logits "$work/v3.bin" "$work/x86-64-v3"
  same "$work/multi-haswell.bin" "$work/v3.bin" "x86-64-multi on an emulated Haswell and the cpu:x86-64-v3 program: logits"
else
  echo "note: no qemu-x86_64 (Debian: qemu-user); the avx2 choice on an AVX-512 CPU is not checked"
fi
