// libFuzzer harness for the runtime tokenizer. An input that starts with the
// section magic "GMTK" is a hostile tokenizer section (a weight file's):
// loaded or refused, then used. Any other input is text for a fixed
// vocabulary (specials, byte fallback, letters, merges): tokenized with and
// without special tokens, and detokenized. Round trip: valid UTF-8 without
// U+2581 (the space marker) and without the user-defined token's text comes
// back byte for byte from its pieces.
#include "runtime/src/tokenizer.h"
#include "test/unit/tokenizer_section.h"

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <string_view>

using gemmac::rt::Tokenizer;

namespace {

const Tokenizer &fixedTokenizer() {
  static const Tokenizer tokenizer = [] {
    gemmac::test::Vocab v;
    for (const char *s : {"<pad>", "<eos>", "<bos>", "<unk>", "<|turn>", "<turn|>"})
      v.tokens.push_back({s, 3});
    v.tokens.push_back({"<|tool|>", 4});
    for (int b = 0; b < 256; ++b) {
      char buf[8];
      std::snprintf(buf, sizeof buf, "<0x%02X>", b);
      v.tokens.push_back({buf, 6});
    }
    for (char c = 'a'; c <= 'z'; ++c)
      v.tokens.push_back({std::string(1, c), 1});
    const std::string space = "\xE2\x96\x81";
    for (const std::string &s :
         std::vector<std::string>{space, space + "t", "th", "the", space + "the",
                                  "\n", "\n\n", "in", "ing", "\xC3\xA9"})
      v.tokens.push_back({s, 1});
    v.merges = {"t h", "th e", space + " t", space + "t he", "i n", "in g"};
    std::string bytes = gemmac::test::section(v, 2, {1, 5});
    Tokenizer t;
    std::string error;
    if (!t.load(reinterpret_cast<const uint8_t *>(bytes.data()), bytes.size(),
                error)) {
      std::fprintf(stderr, "fixed vocabulary: %s\n", error.c_str());
      std::abort();
    }
    return t;
  }();
  return tokenizer;
}

bool validUtf8(std::string_view s) {
  size_t i = 0;
  while (i < s.size()) {
    unsigned char b = s[i];
    size_t n = b < 0x80 ? 1 : (b >> 5) == 6 ? 2 : (b >> 4) == 14 ? 3
             : (b >> 3) == 30 ? 4 : 0;
    if (n == 0 || i + n > s.size())
      return false;
    uint32_t cp = n == 1 ? b : b & (0xFF >> (n + 1));
    for (size_t k = 1; k < n; ++k) {
      if ((s[i + k] & 0xC0) != 0x80)
        return false;
      cp = cp << 6 | (s[i + k] & 0x3F);
    }
    static const uint32_t kMin[] = {0, 0, 0x80, 0x800, 0x10000};
    if (cp < kMin[n] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
      return false;
    i += n;
  }
  return true;
}

std::string detokenize(const Tokenizer &t, const std::vector<int32_t> &ids) {
  std::string out;
  for (int32_t id : ids) {
    if (id < 0 || id >= t.vocabSize()) {
      std::fprintf(stderr, "encode produced id %d outside [0, %d)\n", id,
                   t.vocabSize());
      std::abort();
    }
    out += t.piece(id);
  }
  return out;
}

void useLoaded(const Tokenizer &t) {
  for (std::string_view text : {"hello world", "\n\n<bos> x\xC3\xA9", ""})
    for (bool special : {false, true})
      (void)detokenize(t, t.encode(text, true, special));
  for (int32_t id = -1; id < t.vocabSize() && id < 4096; ++id) {
    (void)t.piece(id, true);
    (void)t.isEndOfGeneration(id);
  }
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  std::string_view input(reinterpret_cast<const char *>(data), size);
  if (input.substr(0, 4) == std::string_view("GMTK", 4)) {
    Tokenizer t;
    std::string error;
    if (t.load(data, size, error))
      useLoaded(t);
    return 0;
  }
  const Tokenizer &t = fixedTokenizer();
  (void)detokenize(t, t.encode(input, true, true));
  std::string back = detokenize(t, t.encode(input, false, false));
  if (validUtf8(input) && input.find("\xE2\x96\x81") == std::string_view::npos &&
      input.find("<|tool|>") == std::string_view::npos && back != input) {
    std::fprintf(stderr, "round trip changed the text (%zu -> %zu bytes)\n",
                 input.size(), back.size());
    std::abort();
  }
  return 0;
}
