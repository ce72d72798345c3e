#!/bin/bash
# --embed-weights: one self-contained program or library, no weight file
# beside it, the same text as the program with its weight file; the weights
# identity compiled in still refuses another compile's weight file.
build=$1 src=$2 work=$3
. "$src/test/package/common.sh"
rm -rf "$work" && mkdir -p "$work/lib" "$work/elsewhere"
bin=$build/bin
"$bin/gemmac-gen-model" --variant e4b --type q4_k_m -o "$work/m.gguf"
"$bin/compile-model" "$work/m.gguf" --quiet -o "$work/plain"
"$bin/compile-model" "$work/m.gguf" --quiet --embed-weights -o "$work/embedded"
[ ! -e "$work/embedded.weights" ] || fail "--embed-weights wrote a weight file"
weights=$(stat -c %s "$work/plain.weights")
size=$(stat -c %s "$work/embedded")
[ "$size" -gt "$weights" ] || fail "the embedded program ($size bytes) is smaller than the weights ($weights)"
"$work/plain" run -p "$PROMPT" -n 24 --temp 0 --no-display-prompt > "$work/plain.txt" 2> /dev/null
mv "$work/embedded" "$work/elsewhere/"
"$work/elsewhere/embedded" run -p "$PROMPT" -n 24 --temp 0 --no-display-prompt > "$work/embedded.txt" 2> /dev/null
same "$work/embedded.txt" "$work/plain.txt" "the embedded program's text (moved alone) and the plain one's"

# Another compile's weights are refused (the identity is in the table).
"$bin/gemmac-gen-model" --variant e4b --type q4_k_m --seed 7 -o "$work/other.gguf"
"$bin/compile-model" "$work/other.gguf" --quiet -o "$work/other"
if "$work/elsewhere/embedded" run --weights "$work/other.weights" -p x -n 1 2> "$work/err.txt" > /dev/null; then
  fail "the embedded program ran with another compile's weights"
fi
grep -q "belongs to another compile" "$work/err.txt" || { cat "$work/err.txt"; fail "message"; }
echo "ok: $(head -c 160 "$work/err.txt")"

# A library with its weights inside, statically linked into an application.
"$bin/compile-model" "$work/m.gguf" --quiet --emit lib --embed-weights -o "$work/lib/tiny"
[ ! -e "$work/lib/tiny.weights" ] || fail "--emit lib --embed-weights wrote a weight file"
cc -O1 -I"$src/runtime/include" -I"$work/lib" -o "$work/elsewhere/generate" \
  "$src/examples/c-app/generate.c" "$work/lib/libtiny.a" "$build/lib/libgemmac_runtime.a" \
  -l:libstdc++.a -static-libgcc -pthread -lm -ldl
rm -rf "$work/lib"
"$work/elsewhere/generate" -n 24 "$PROMPT" > "$work/app.txt"
same "$work/app.txt" "$work/plain.txt" "an application with an embedded-weights library and the program"
