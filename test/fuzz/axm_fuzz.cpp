// libFuzzer harness: a hostile .axm container (a ZIP of JSON documents, a
// JSONL proof ledger, MACs and residual files) verified with the test
// master key the generated seeds are signed with, then its residuals read
// unverified (the reader below verification must hold on its own too).
// Refused with findings or read; no crash, hang or sanitizer report.
#include "formats/srd/AXMContainer.h"
#include "test/fuzz/residual_reads.h"

#include "support/FileTree.h"
#include "support/ZipArchive.h"
#include "llvm/Support/MemoryBuffer.h"

using namespace gemmac;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  static const srd::AxiomKeys keys =
      srd::AxiomKeys::derive("gemmac-test-master-key");
  auto zip = support::ZipArchive::parse(
      llvm::MemoryBuffer::getMemBufferCopy(
          llvm::StringRef(reinterpret_cast<const char *>(data), size),
          "fuzz.axm"),
      "fuzz.axm");
  if (!zip) {
    llvm::consumeError(zip.takeError());
    return 0;
  }
  srd::AXMContainer container(
      std::make_unique<support::ZipTree>(std::move(*zip)));
  srd::AXMVerification verification = container.verify(keys);
  for (const srd::AXMFinding &finding : verification.findings)
    (void)finding.str();
  auto residuals = container.residuals();
  if (!residuals) {
    llvm::consumeError(residuals.takeError());
    return 0;
  }
  fuzz::readResiduals(**residuals);
  return 0;
}
