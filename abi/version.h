// gemmac's version: compile-model records it in every weight file and the
// runtime prints it (`OUT --version`).
#pragma once

namespace gemmac::abi {
inline constexpr char kGemmacVersion[] = "0.3.0";
} // namespace gemmac::abi
