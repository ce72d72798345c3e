// libFuzzer harness: a hostile ZIP archive (the .axm container and PyTorch
// checkpoints are ZIPs): central directory, local headers, names, inflate
// and CRC; then the same bytes as a PyTorch checkpoint (pickle through the
// restricted unpickler, storages). Refused or read; never a crash, a hang,
// a zip bomb's allocation or a sanitizer report.
#include "formats/srd/TorchCheckpoint.h"
#include "support/ZipArchive.h"

#include "llvm/Support/MemoryBuffer.h"

using namespace gemmac;

namespace {
llvm::StringRef bytes(const uint8_t *data, size_t size) {
  return llvm::StringRef(reinterpret_cast<const char *>(data), size);
}
} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  auto zip = support::ZipArchive::parse(
      llvm::MemoryBuffer::getMemBufferCopy(bytes(data, size), "fuzz.zip"),
      "fuzz.zip");
  if (!zip) {
    llvm::consumeError(zip.takeError());
    return 0;
  }
  for (const support::ZipMember &member : (*zip)->members()) {
    auto content = (*zip)->read(member);
    if (!content)
      llvm::consumeError(content.takeError());
  }
  auto checkpoint = srd::TorchCheckpoint::parse(
      llvm::MemoryBuffer::getMemBufferCopy(bytes(data, size), "fuzz.pt"),
      "fuzz.pt");
  if (!checkpoint) {
    llvm::consumeError(checkpoint.takeError());
    return 0;
  }
  (void)(*checkpoint)->changedTensors();
  return 0;
}
