//===- SRDSupport.h - the support library's names inside gemmac::srd ------===//
//
// The SRD readers and writers use the shared input plumbing (errors, JSON,
// ZIP, crypto) unqualified, as they did when it lived beside them.
//
//===----------------------------------------------------------------------===//
#pragma once

namespace gemmac::support {}

namespace gemmac::srd {
using namespace gemmac::support;
} // namespace gemmac::srd
