#!/bin/bash
# examples/c-app built against the installed package, from clean
# directories: through find_package (CMake) and through pkg-config (make),
# each compiling the model in its own build. The text each generates
# greedily must equal `OUT run` of the same checkpoint compiled to a
# program; the statically linked one must need nothing beyond libc, libm,
# libpthread and libdl.
prefix=$1 src=$2 work=$3
. "$src/test/package/common.sh"
rm -rf "$work" && mkdir -p "$work"
"$prefix/bin/gemmac-gen-model" --variant e4b --type q4_k_m -o "$work/tiny.gguf"
"$prefix/bin/compile-model" "$work/tiny.gguf" --quiet -o "$work/prog"
"$work/prog" run -p "$PROMPT" -n 24 --temp 0 --no-display-prompt > "$work/run.txt" 2> /dev/null

# find_package: a copy of the example outside the source tree.
cp -r "$src/examples/c-app" "$work/cmake-app"
cmake -S "$work/cmake-app" -B "$work/cmake-build" -DCMAKE_PREFIX_PATH="$prefix" \
  -DMODEL="$work/tiny.gguf" > "$work/cmake-configure.log" || { cat "$work/cmake-configure.log"; fail "configure"; }
cmake --build "$work/cmake-build" > "$work/cmake-build.log" 2>&1 || { cat "$work/cmake-build.log"; fail "cmake build"; }
"$work/cmake-build/generate" -n 24 "$PROMPT" > "$work/cmake.txt"
same "$work/cmake.txt" "$work/run.txt" "find_package app's text and OUT run's"

# The same with the shared model library and runtime.
cmake -S "$work/cmake-app" -B "$work/cmake-shared" -DCMAKE_PREFIX_PATH="$prefix" \
  -DMODEL="$work/tiny.gguf" -DSHARED=ON > "$work/cmake-shared.log" || { cat "$work/cmake-shared.log"; fail "configure (shared)"; }
cmake --build "$work/cmake-shared" >> "$work/cmake-shared.log" 2>&1 || { cat "$work/cmake-shared.log"; fail "cmake build (shared)"; }
ldd "$work/cmake-shared/generate" | grep -q "libtiny.so => .*/gemmac/tiny/libtiny.so" || fail "the shared app does not load libtiny.so"
ldd "$work/cmake-shared/generate" | grep -q "libgemmac_runtime.so => $prefix/lib/" || fail "the shared app does not load the installed runtime"
"$work/cmake-shared/generate" -n 24 "$PROMPT" > "$work/cmake-shared.txt"
same "$work/cmake-shared.txt" "$work/run.txt" "find_package app's text (shared libraries) and OUT run's"

# pkg-config: the example's Makefile, in another copy.
cp -r "$src/examples/c-app" "$work/make-app"
make -C "$work/make-app" GEMMAC_PREFIX="$prefix" MODEL="$work/tiny.gguf" > "$work/make.log" 2>&1 ||
  { cat "$work/make.log"; fail "make"; }
# Run from elsewhere: the weight file is found where compile-model wrote it.
(cd / && "$work/make-app/generate" -n 24 "$PROMPT") > "$work/make.txt"
same "$work/make.txt" "$work/run.txt" "pkg-config app's text and OUT run's"

# Nothing beyond libc, libm, libpthread and libdl (and the loader).
ldd "$work/make-app/generate" > "$work/ldd.txt"
cat "$work/ldd.txt"
extra=$(grep -vE '^\s*(linux-vdso\.so|/lib64/ld-linux|libc\.so|libm\.so|libpthread\.so|libdl\.so)' "$work/ldd.txt" || true)
[ -z "$extra" ] || fail "the static app needs more than libc, libm, libpthread, libdl: $extra"
echo "ok: the static app needs only libc, libm, libpthread, libdl"
