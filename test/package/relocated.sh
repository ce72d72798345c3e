#!/bin/bash
# An installed tree copied elsewhere still works: compile-model finds the
# runtime beside itself, not where it was built or installed; --runtime-dir
# and GEMMAC_RUNTIME_DIR point elsewhere; a missing runtime is named.
prefix=$1 src=$2 work=$3
. "$src/test/package/common.sh"
rm -rf "$work" && mkdir -p "$work"
cp -r "$prefix" "$work/copy"
"$work/copy/bin/gemmac-gen-model" --variant e2b --type q4_0 -o "$work/m.gguf"
"$work/copy/bin/compile-model" "$work/m.gguf" --quiet -o "$work/a"
"$work/a" run -p "$PROMPT" -n 8 --temp 0 > /dev/null 2>&1 || fail "the copy's program does not run"
echo "ok: a copied install compiles and runs a program"

# A compile-model without its runtime: the error names what is missing.
mkdir -p "$work/lonely/bin" && cp "$work/copy/bin/compile-model" "$work/lonely/bin/"
if "$work/lonely/bin/compile-model" "$work/m.gguf" --quiet -o "$work/b" 2> "$work/err.txt"; then
  fail "compiled without a runtime"
fi
grep -q "libgemmac_cli.a not found\|libgemmac_runtime.a not found" "$work/err.txt" || { cat "$work/err.txt"; fail "error message"; }
grep -q -- "--runtime-dir" "$work/err.txt" || fail "the error does not say how to point elsewhere"
[ ! -e "$work/b" ] && [ ! -e "$work/b.weights" ] || fail "a failed compile left files"
echo "ok: missing runtime: $(head -c 200 "$work/err.txt")"
"$work/lonely/bin/compile-model" "$work/m.gguf" --quiet --runtime-dir "$work/copy/lib" -o "$work/c"
GEMMAC_RUNTIME_DIR="$work/copy/lib" "$work/lonely/bin/compile-model" "$work/m.gguf" --quiet --emit lib -o "$work/lib/model"
for f in libmodel.a libmodel.so model.h model.weights; do [ -s "$work/lib/$f" ] || fail "--emit lib wrote no $f"; done
echo "ok: --runtime-dir and GEMMAC_RUNTIME_DIR"
