//===- kernel_signature.h - argument kinds of a runtime kernel --*- C++ -*-===//
//
// A kernel's signature in abi/kernels.def is a string with one character per
// argument, in order. The runtime checks its C declarations against it
// (runtime/kernels/kernels.h); the compiler builds each kernel call from it
// and checks the operands' types (passes/KernelCatalogue.cpp).
//
//   char  C type            IR operand      what it is
//   R     gemmac_rt *       !llvm.ptr       runtime context (threads, scratch)
//   O     float *           memref<?xf32>   activation written
//   A     const float *     memref<?xf32>   activation read
//   T     const int32_t *   memref<?xi32>   token ids
//   I     const int64_t *   memref<?xi64>   the step's positions, segments or
//                                           output rows (abi/step.h)
//   W     const uint8_t *   memref<?xi8>    a weight's bytes
//   h, H  uint16_t *        memref<?xf16>   f16 KV cache written, read (const)
//   k, K  float *           memref<?xf32>   f32 KV cache written, read (const)
//   e, E  uint8_t *         memref<?xi8>    E4M3 KV cache written, read (const)
//   i     int64_t           index           a count, size or position
//   n     int32_t           i32             a small enum (a format id)
//   f     float             f32             a scalar parameter
//
// Dependency-free: included by the runtime and the compiler alike.
//
//===----------------------------------------------------------------------===//
#pragma once

#ifdef __cplusplus
#include <cstddef>
#include <cstdint>
#include <type_traits>
#include <utility>

struct gemmac_rt;

namespace gemmac::abi {

/// The C type of one signature character (void for an unknown one).
template <char C> struct KernelArg { using type = void; };
template <> struct KernelArg<'R'> { using type = gemmac_rt *; };
template <> struct KernelArg<'O'> { using type = float *; };
template <> struct KernelArg<'A'> { using type = const float *; };
template <> struct KernelArg<'T'> { using type = const int32_t *; };
template <> struct KernelArg<'I'> { using type = const int64_t *; };
template <> struct KernelArg<'W'> { using type = const uint8_t *; };
template <> struct KernelArg<'h'> { using type = uint16_t *; };
template <> struct KernelArg<'H'> { using type = const uint16_t *; };
template <> struct KernelArg<'k'> { using type = float *; };
template <> struct KernelArg<'K'> { using type = const float *; };
template <> struct KernelArg<'e'> { using type = uint8_t *; };
template <> struct KernelArg<'E'> { using type = const uint8_t *; };
template <> struct KernelArg<'i'> { using type = int64_t; };
template <> struct KernelArg<'n'> { using type = int32_t; };
template <> struct KernelArg<'f'> { using type = float; };

/// A signature string as a template argument.
template <size_t N> struct Signature {
  char chars[N];
  constexpr Signature(const char (&s)[N]) {
    for (size_t i = 0; i < N; ++i)
      chars[i] = s[i];
  }
  constexpr size_t size() const { return N - 1; }
};

namespace detail {
template <Signature S, size_t... I>
auto kernelType(std::index_sequence<I...>)
    -> void (*)(typename KernelArg<S.chars[I]>::type...);
} // namespace detail

/// The C function type of a kernel with signature S: KernelType<"ROAi"> is
/// void(gemmac_rt *, float *, const float *, int64_t).
template <Signature S>
using KernelType = std::remove_pointer_t<decltype(detail::kernelType<S>(
    std::make_index_sequence<S.size()>()))>;

} // namespace gemmac::abi
#endif
