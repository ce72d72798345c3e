#!/bin/bash
# Two model libraries in one process (one shared, one static), each giving
# the logits of its own program, bit for bit, on the same 80 tokens (the
# programs evaluate them in one batch, the libraries in chunks of 16:
# gemmac is batch-invariant).
build=$1 src=$2 work=$3
. "$src/test/package/common.sh"
rm -rf "$work" && mkdir -p "$work/lib"
bin=$build/bin
"$bin/gemmac-gen-model" --variant dense --type q8_0 -o "$work/dense.gguf"
"$bin/gemmac-gen-model" --variant e2b --type q4_0 -o "$work/e2b.gguf"
for m in dense e2b; do
  "$bin/compile-model" "$work/$m.gguf" --quiet -o "$work/$m-prog"
  "$bin/compile-model" "$work/$m.gguf" --quiet --emit lib -o "$work/lib/$m"
done
# The symbols of the two libraries do not collide: each exports its table.
for m in dense e2b; do
  exported=$(nm -D --defined-only "$work/lib/lib$m.so" | awk '{print $3}' | tr '\n' ' ')
  [ "$exported" = "${m}_program " ] || fail "lib$m.so exports '$exported', not only ${m}_program"
done
echo "ok: each shared library exports only NAME_program"
cc -O1 -I"$src/runtime/include" -I"$work/lib" -o "$work/two_models" \
  "$src/test/package/two_models.c" "$work/lib/libe2b.a" "$work/lib/libdense.so" \
  -L"$build/lib" -lgemmac_runtime -Wl,-rpath,"$work/lib:$build/lib" -lm
tokens=$(seq 2 81 | paste -sd, -)
"$work/two_models" "$tokens" "$work/dense.lib.f32" "$work/e2b.lib.f32"
for m in dense e2b; do
  "$work/$m-prog" eval --tokens "$tokens" --logits "$work/$m.prog.f32" > /dev/null
  same "$work/$m.lib.f32" "$work/$m.prog.f32" "$m: the library's logits in a two-model process and its program's"
done
