// libFuzzer harness: the JSON reader of the .axm documents (support/PyJSON,
// Python's json module's dialect). Any bytes are parsed or refused; what
// parses is written back in Python's three layouts, and the canonical form
// must read back to itself (a round trip the signatures depend on).
#include "support/PyJSON.h"

#include <cstdio>
#include <cstdlib>

using gemmac::support::PyJSON;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  auto value = PyJSON::parse(
      llvm::StringRef(reinterpret_cast<const char *>(data), size));
  if (!value) {
    llvm::consumeError(value.takeError());
    return 0;
  }
  std::string canonical = value->canonical();
  (void)value->indented(true);
  (void)value->oneLine();
  auto again = PyJSON::parse(canonical);
  if (!again) {
    std::fprintf(stderr, "canonical form does not parse: %s\n%s\n",
                 llvm::toString(again.takeError()).c_str(), canonical.c_str());
    std::abort();
  }
  if (again->canonical() != canonical) {
    std::fprintf(stderr, "canonical form changes on a round trip:\n%s\n%s\n",
                 canonical.c_str(), again->canonical().c_str());
    std::abort();
  }
  return 0;
}
