#!/bin/bash
# A program compiled for CPU features this CPU lacks refuses to start,
# naming them and the --target to use, instead of dying of an illegal
# instruction; the same model compiled for the host and for x86-64-v3 runs.
# What this CPU lacks is read from /proc/cpuinfo: AVX-512 (cpu:x86-64-v4)
# on a CPU without it, else AMX (cpu:sapphirerapids, which Zen 5 lacks).
build=$1 src=$2 work=$3
. "$src/test/package/common.sh"
if [ "$(uname -m)" != x86_64 ]; then echo "skip: the features are x86's"; exit 77; fi
rm -rf "$work" && mkdir -p "$work"
flags=" $(grep -m1 '^flags' /proc/cpuinfo | cut -d: -f2) "
if [[ "$flags" != *" avx512f "* ]]; then target=x86-64-v4 lacking=avx512f
elif [[ "$flags" != *" amx_tile "* ]]; then target=sapphirerapids lacking=amx-tile
else echo "skip: this CPU has AVX-512 and AMX"; exit 77; fi
bin=$build/bin
"$bin/gemmac-gen-model" --variant dense --type q8_0 -o "$work/m.gguf"
"$bin/compile-model" "$work/m.gguf" --quiet --target "cpu:$target" -o "$work/foreign"
for cmd in "run -p x -n 4" "info"; do
  set +e
  # shellcheck disable=SC2086
  "$work/foreign" $cmd > "$work/out.txt" 2> "$work/err.txt"
  rc=$?
  set -e
  cat "$work/err.txt"
  [ $rc -ne 0 ] || fail "$cmd: the program compiled for $target ran on a CPU without $lacking"
  [ $rc -lt 128 ] || fail "$cmd: the program compiled for $target died of signal $((rc - 128))"
  grep -q "this CPU lacks [^:]*$lacking" "$work/err.txt" || fail "$cmd: the message does not name $lacking"
  grep -q -- "--target cpu:x86-64-v3" "$work/err.txt" || fail "$cmd: the message does not name a --target"
  echo "ok: $cmd: compiled for $target, the program refuses this CPU, naming $lacking (exit $rc)"
done
for target in host x86-64-v3; do
  "$bin/compile-model" "$work/m.gguf" --quiet --target "cpu:$target" -o "$work/native"
  "$work/native" run -p "$PROMPT" -n 4 > "$work/out.txt" || fail "compiled for $target, the program did not run"
  echo "ok: compiled for $target, the program runs"
done
