// libFuzzer harness: a hostile .srd4 residual file (magic, JSON header,
// tensor table, blocks): refused with an error or read, rows decoded, the
// block invariants scanned; no crash, hang or sanitizer report.
#include "formats/srd/SRD4File.h"
#include "test/fuzz/residual_reads.h"

#include "llvm/Support/MemoryBuffer.h"

using namespace gemmac;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  auto buffer = llvm::MemoryBuffer::getMemBufferCopy(
      llvm::StringRef(reinterpret_cast<const char *>(data), size), "fuzz.srd4");
  auto file = srd::SRD4File::parse(std::move(buffer), "fuzz.srd4");
  if (!file) {
    llvm::consumeError(file.takeError());
    return 0;
  }
  fuzz::readResiduals(**file);
  (void)srd::scanBlockInvariants(**file, 4);
  return 0;
}
