//===- SanitizerDefaults.cpp - default options of the sanitizer build ----===//
//
// Linked into every executable of a GEMMAC_SANITIZE build (top-level
// CMakeLists.txt), so that a test or a user running one gets the same
// options without setting ASAN_OPTIONS.
//
//===----------------------------------------------------------------------===//

extern "C" const char *__asan_default_options() {
  // allow_user_poisoning=0 is the one suppression, and why: LLVM and MLIR
  // are Debian's uninstrumented libLLVM/libMLIR, but their headers' inline
  // BumpPtrAllocator code, compiled into our instrumented objects, poisons
  // whole slabs that the library's own (uninstrumented) code then allocates
  // from without unpoisoning. The result is use-after-poison reports inside
  // MLIR's dialect registration that are not bugs. Real out-of-bounds and
  // use-after-free on heap, stack and globals are still reported.
  return "allow_user_poisoning=0";
}
