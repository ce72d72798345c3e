// libFuzzer harness: a hostile pickle (a checkpoint's data.pkl) through the
// restricted unpickler. It must run nothing, refuse what it does not know
// with an error, and never crash, hang, leak or exhaust memory (memo cycles,
// deep nesting, huge counts). The result is walked as a reader would.
#include "formats/srd/Unpickler.h"

#include <cstdint>

using namespace gemmac::srd;

namespace {
void walk(const PickleValue &v, int depth) {
  (void)v.kindName();
  if (depth > 64)
    return;
  for (const PickleRef &item : v.items)
    if (item)
      walk(*item, depth + 1);
  for (const auto &[key, value] : v.entries) {
    if (key)
      walk(*key, depth + 1);
    if (value)
      walk(*value, depth + 1);
  }
  (void)v.get("state_dict");
}
} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  auto value = unpickle(llvm::ArrayRef<uint8_t>(data, size), "fuzz.pkl");
  if (!value) {
    llvm::consumeError(value.takeError());
    return 0;
  }
  if (*value)
    walk(**value, 0);
  return 0;
}
