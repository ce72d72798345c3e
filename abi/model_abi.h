// The symbols compile-model generates for every model: their names, which
// the compiler emits (passes/LowerToCPU.cpp, compiler/targets/gpu/
// GpuProgram.cpp) and then makes local to the model's object; the runtime
// reaches them through the model's program table (abi/program_table.h).
#pragma once

#include "abi/model_meta.h"

namespace gemmac::abi {
inline constexpr char kForwardSymbol[] = "gemmac_forward";
inline constexpr char kDraftSymbol[] = "gemmac_draft";
inline constexpr char kKVBytesSymbol[] = "gemmac_kv_bytes";
inline constexpr char kArenaBytesSymbol[] = "gemmac_arena_bytes";
inline constexpr char kModelMetaSymbol[] = "gemmac_model_meta";
inline constexpr char kGpuProgramSymbol[] = "gemmac_gpu_program";
inline constexpr char kGpuProgramBytesSymbol[] = "gemmac_gpu_program_bytes";
/// The exported entry points: a program's, and NAME + kProgramSuffix of a
/// library compiled with --emit lib -o DIR/NAME.
inline constexpr char kBuiltinProgramSymbol[] = "gemmac_builtin_program";
inline constexpr char kProgramSuffix[] = "_program";
} // namespace gemmac::abi
