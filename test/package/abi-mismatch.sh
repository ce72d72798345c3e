#!/bin/bash
# A model library from another gemmac version: its program table's version
# is rewritten in the compiled library (as an older compile-model would
# have written it); the runtime refuses it with a message naming both
# versions. A program opened without a model compiled in is refused too.
build=$1 src=$2 work=$3
. "$src/test/package/common.sh"
rm -rf "$work" && mkdir -p "$work/lib"
bin=$build/bin
"$bin/gemmac-gen-model" --variant dense --type q8_0 -o "$work/m.gguf"
"$bin/compile-model" "$work/m.gguf" --quiet --emit lib -o "$work/lib/mdl"
build_app() {
  cc -O1 -I"$src/runtime/include" -I"$work/lib" -o "$work/app" "$src/test/package/abi_mismatch.c" \
    "$work/lib/libmdl.so" -L"$build/lib" -lgemmac_runtime -Wl,-rpath,"$work/lib:$build/lib"
}
build_app
"$work/app" > "$work/ok.txt" && fail "the unaltered library was refused: $(cat "$work/ok.txt")"
[ $? -eq 3 ] || fail "the unaltered library: unexpected exit"
echo "ok: the unaltered library opens"
# The table's magic "GMACTAB1" is followed by the 32-bit ABI version and a
# version string pointer; an older compiler wrote ABI 1.
/usr/bin/python3 - "$work/lib/libmdl.so" <<'PY'
import struct, sys
path = sys.argv[1]
data = bytearray(open(path, "rb").read())
at = data.find(b"GMACTAB1")
assert at >= 0 and data.find(b"GMACTAB1", at + 1) < 0, "table magic not found once"
data[at + 8:at + 12] = struct.pack("<I", 1)
open(path, "wb").write(data)
PY
"$work/app" > "$work/msg.txt" || fail "the altered library was not refused cleanly (exit $?)"
cat "$work/msg.txt"
grep -q "compiled by gemmac .* (program ABI 1); this runtime is gemmac .* (program ABI 6): recompile" "$work/msg.txt" ||
  fail "the message does not name both versions"
echo "ok: a library of another version is refused with both versions named"
