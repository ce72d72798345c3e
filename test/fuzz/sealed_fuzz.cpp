// libFuzzer harness: a hostile sealed residual container (.qrc). open()
// authenticates before trusting anything (the test master key here, which
// the generated seeds are signed with); a forged or damaged file must be
// refused with an error, a valid one read. No crash, hang or report.
#include "formats/srd/SealedContainer.h"
#include "test/fuzz/residual_reads.h"

#include "llvm/Support/MemoryBuffer.h"

using namespace gemmac;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  static const srd::SealedKeys keys = [] {
    srd::SealedKeys k;
    k.master = "gemmac-test-master-key";
    return k;
  }();
  auto buffer = llvm::MemoryBuffer::getMemBufferCopy(
      llvm::StringRef(reinterpret_cast<const char *>(data), size), "fuzz.qrc");
  auto file = srd::SealedContainer::parse(std::move(buffer), "fuzz.qrc", keys);
  if (!file) {
    llvm::consumeError(file.takeError());
    return 0;
  }
  fuzz::readResiduals(**file);
  return 0;
}
