# The runtime's compile flags (GEMMAC_RUNTIME_FLAGS), shared by the main build
# and the cross-compiled runtimes (runtime/cross).
# Kernels reproduce llama.cpp's CPU arithmetic operation by operation (see
# docs/numerics.md), so the compiler must not fuse or reorder float math on
# its own: every FMA is written out. x86-64-v3 (AVX2, FMA, F16C) is the
# baseline of compiled x86 programs; aarch64 runtimes target armv8-a, which
# every 64-bit Arm CPU runs, with x86's signed char (the same code, the
# same results).
set(GEMMAC_RUNTIME_FLAGS -O3 -fno-exceptions -fno-rtti -fPIC -Wall -Wextra
    -Wno-unused-parameter -ffp-contract=off -fno-fast-math)
if(CMAKE_SYSTEM_PROCESSOR MATCHES "x86_64|AMD64")
  list(APPEND GEMMAC_RUNTIME_FLAGS -march=x86-64-v3)
elseif(CMAKE_SYSTEM_PROCESSOR MATCHES "aarch64|arm64")
  list(APPEND GEMMAC_RUNTIME_FLAGS -march=armv8-a -fsigned-char)
endif()
