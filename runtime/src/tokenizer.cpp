#include "runtime/src/tokenizer.h"
#include "abi/artifact_format.h"

#include <algorithm>
#include <cstddef>
#include <cstdlib>
#include <cstring>
#include <queue>

namespace gemmac::rt {

namespace {

const char kSpaceMark[] = "\xE2\x96\x81"; // U+2581

/// Bounds-checked reader of the tokenizer section.
struct Reader {
  const uint8_t *p, *end;
  bool ok = true;
  template <typename T> T get() {
    T v{};
    if (end - p < static_cast<std::ptrdiff_t>(sizeof(T))) {
      ok = false;
      return v;
    }
    std::memcpy(&v, p, sizeof(T));
    p += sizeof(T);
    return v;
  }
  std::string bytes() {
    uint32_t n = get<uint32_t>();
    if (!ok || static_cast<size_t>(end - p) < n) {
      ok = false;
      return {};
    }
    std::string s(reinterpret_cast<const char *>(p), n);
    p += n;
    return s;
  }
};

/// Length of the UTF-8 sequence starting with byte c (1 for stray bytes).
size_t utf8Len(unsigned char c) {
  if (c < 0x80) return 1;
  if ((c & 0xE0) == 0xC0) return 2;
  if ((c & 0xF0) == 0xE0) return 3;
  if ((c & 0xF8) == 0xF0) return 4;
  return 1;
}

/// Replaces invalid UTF-8 with U+FFFD, as llama.cpp's pre-tokenizer does when
/// it decodes the text to code points and encodes it again.
std::string sanitizeUtf8(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size();) {
    unsigned char c = s[i];
    size_t n = utf8Len(c);
    bool valid = c < 0x80 || (n > 1 && i + n <= s.size());
    for (size_t k = 1; valid && k < n; ++k)
      valid = (static_cast<unsigned char>(s[i + k]) & 0xC0) == 0x80;
    if (c >= 0x80 && n == 1)
      valid = false;
    if (valid) {
      out.append(s.substr(i, n));
      i += n;
    } else {
      out += "\xEF\xBF\xBD";
      ++i;
    }
  }
  return out;
}

} // namespace

bool Tokenizer::load(const uint8_t *data, size_t size, std::string &error) {
  Reader r{data, data + size};
  if (size < 8 || std::memcmp(data, artifact::kTokenizerMagic, 4) != 0) {
    error = "tokenizer section: bad magic";
    return false;
  }
  r.p += 4;
  if (r.get<uint32_t>() != artifact::kTokenizerVersion) {
    error = "tokenizer section: unsupported version";
    return false;
  }
  uint32_t n = r.get<uint32_t>();
  if (!r.ok || n == 0 || n > (1u << 24)) {
    error = "tokenizer section: bad token count";
    return false;
  }
  tokens_.reserve(n);
  types_.reserve(n);
  for (uint32_t i = 0; i < n && r.ok; ++i) {
    tokens_.push_back(r.bytes());
    types_.push_back(r.get<int32_t>());
    (void)r.get<float>();
  }
  uint32_t nMerges = r.get<uint32_t>();
  for (uint32_t i = 0; i < nMerges && r.ok; ++i) {
    std::string m = r.bytes();
    size_t sp = m.find(' ', 1);
    if (sp == std::string::npos)
      continue;
    std::string key = m.substr(0, sp) + '\x01' + m.substr(sp + 1);
    mergeRank_.emplace(std::move(key), static_cast<int32_t>(i));
  }
  bos_ = r.get<int32_t>();
  eos_ = r.get<int32_t>();
  eot_ = r.get<int32_t>();
  pad_ = r.get<int32_t>();
  unk_ = r.get<int32_t>();
  addBos_ = r.get<uint32_t>() != 0;
  uint32_t nEog = r.get<uint32_t>();
  for (uint32_t i = 0; i < nEog && r.ok; ++i)
    eog_.push_back(r.get<int32_t>());
  uint32_t nSup = r.get<uint32_t>();
  for (uint32_t i = 0; i < nSup && r.ok; ++i)
    suppress_.push_back(r.get<int32_t>());
  template_ = r.bytes();
  samplingSet_ = r.get<uint32_t>();
  sampling_.temperature = r.get<float>();
  sampling_.top_k = r.get<int32_t>();
  sampling_.top_p = r.get<float>();
  sampling_.min_p = r.get<float>();
  sampling_.repeat_penalty = r.get<float>();
  sampling_.penalty_last_n = r.get<int32_t>();
  if (!r.ok) {
    error = "tokenizer section: truncated";
    return false;
  }
  // The ranges compile-model accepts (and the CLI's flags).
  const gemmac_sampler_params &s = sampling_;
  auto within = [](float v, float lo, float hi) { return v >= lo && v <= hi; };
  if ((samplingSet_ & ~uint32_t(63)) ||
      ((samplingSet_ & artifact::kSamplingTemperature) &&
       !within(s.temperature, 0, 100)) ||
      ((samplingSet_ & artifact::kSamplingTopK) && s.top_k < 0) ||
      ((samplingSet_ & artifact::kSamplingTopP) && !within(s.top_p, 0, 1)) ||
      ((samplingSet_ & artifact::kSamplingMinP) && !within(s.min_p, 0, 1)) ||
      ((samplingSet_ & artifact::kSamplingRepeatPenalty) &&
       !within(s.repeat_penalty, 0.01f, 100)) ||
      ((samplingSet_ & artifact::kSamplingPenaltyLastN) &&
       s.penalty_last_n < -1)) {
    error = "tokenizer section: a sampling default out of range";
    return false;
  }
  auto inRange = [&](int32_t id) { return id >= -1 && id < int32_t(n); };
  for (int32_t id : {bos_, eos_, eot_, pad_, unk_})
    if (!inRange(id)) {
      error = "tokenizer section: special token id out of range";
      return false;
    }
  for (int32_t id : eog_)
    if (id < 0 || id >= int32_t(n)) {
      error = "tokenizer section: end-of-generation id out of range";
      return false;
    }
  for (int32_t id : suppress_)
    if (id < 0 || id >= int32_t(n)) {
      error = "tokenizer section: suppressed id out of range";
      return false;
    }

  for (uint32_t i = 0; i < n; ++i) {
    ids_.emplace(tokens_[i], static_cast<int32_t>(i));
    int32_t t = types_[i];
    if (t == kControl || t == kUnknown || t == kUserDefined)
      specials_.push_back(static_cast<int32_t>(i));
  }
  std::sort(specials_.begin(), specials_.end(), [&](int32_t a, int32_t b) {
    if (tokens_[a].size() != tokens_[b].size())
      return tokens_[a].size() > tokens_[b].size();
    return a < b;
  });
  static const char hex[] = "0123456789ABCDEF";
  for (int b = 0; b < 256; ++b) {
    char name[7] = {'<', '0', 'x', hex[b >> 4], hex[b & 15], '>', 0};
    byteTokens_[b] = find(name);
  }
  return true;
}

int32_t Tokenizer::find(std::string_view text) const {
  auto it = ids_.find(std::string(text));
  return it == ids_.end() ? -1 : it->second;
}

bool Tokenizer::isEndOfGeneration(int32_t id) const {
  return std::find(eog_.begin(), eog_.end(), id) != eog_.end();
}

void Tokenizer::bpe(std::string_view word, std::vector<int32_t> &out) const {
  // A run of newlines that is itself a token stays whole.
  if (word.find_first_not_of('\n') == std::string_view::npos) {
    int32_t id = find(word);
    if (id >= 0) {
      out.push_back(id);
      return;
    }
  }
  struct Symbol {
    size_t start, len;
    int prev, next;
  };
  std::vector<Symbol> sym;
  for (size_t i = 0; i < word.size();) {
    size_t n = std::min(utf8Len(static_cast<unsigned char>(word[i])),
                        word.size() - i);
    sym.push_back({i, n, static_cast<int>(sym.size()) - 1,
                   static_cast<int>(sym.size()) + 1});
    i += n;
  }
  if (!sym.empty())
    sym.back().next = -1;

  struct Bigram {
    int left, right;
    int32_t rank;
    size_t len; // combined length when queued, to detect stale entries
  };
  auto worse = [](const Bigram &a, const Bigram &b) {
    return a.rank > b.rank || (a.rank == b.rank && a.left > b.left);
  };
  std::priority_queue<Bigram, std::vector<Bigram>, decltype(worse)> queue(worse);
  auto push = [&](int left, int right) {
    if (left < 0 || right < 0)
      return;
    std::string key(word.substr(sym[left].start, sym[left].len));
    key += '\x01';
    key += word.substr(sym[right].start, sym[right].len);
    auto it = mergeRank_.find(key);
    if (it != mergeRank_.end())
      queue.push({left, right, it->second, sym[left].len + sym[right].len});
  };
  for (size_t i = 0; i + 1 < sym.size(); ++i)
    push(static_cast<int>(i), static_cast<int>(i + 1));
  while (!queue.empty()) {
    Bigram bg = queue.top();
    queue.pop();
    Symbol &l = sym[bg.left];
    Symbol &r = sym[bg.right];
    if (l.len == 0 || r.len == 0 || l.len + r.len != bg.len ||
        l.next != bg.right)
      continue;
    l.len += r.len;
    r.len = 0;
    l.next = r.next;
    if (r.next >= 0)
      sym[r.next].prev = bg.left;
    push(l.prev, bg.left);
    push(bg.left, l.next);
  }
  for (int i = sym.empty() ? -1 : 0; i >= 0; i = sym[i].next) {
    std::string_view s = word.substr(sym[i].start, sym[i].len);
    int32_t id = find(s);
    if (id >= 0) {
      out.push_back(id);
      continue;
    }
    for (unsigned char c : s)
      if (byteTokens_[c] >= 0)
        out.push_back(byteTokens_[c]);
  }
}

std::vector<int32_t> Tokenizer::encode(std::string_view text, bool addBos,
                                       bool parseSpecial) const {
  // Fragments: raw text or an already-resolved special token.
  struct Fragment {
    bool raw;
    int32_t token;
    std::string text;
  };
  std::vector<Fragment> frags{{true, -1, std::string(text)}};
  for (int32_t id : specials_) {
    if (!parseSpecial && types_[id] != kUserDefined)
      continue;
    const std::string &sp = tokens_[id];
    if (sp.empty())
      continue;
    std::vector<Fragment> next;
    for (Fragment &f : frags) {
      if (!f.raw) {
        next.push_back(std::move(f));
        continue;
      }
      size_t from = 0, at;
      while ((at = f.text.find(sp, from)) != std::string::npos) {
        if (at > from)
          next.push_back({true, -1, f.text.substr(from, at - from)});
        next.push_back({false, id, {}});
        from = at + sp.size();
      }
      if (from < f.text.size())
        next.push_back({true, -1, f.text.substr(from)});
    }
    frags = std::move(next);
  }

  std::vector<int32_t> out;
  if (addBos && addBos_ && bos_ >= 0)
    out.push_back(bos_);
  for (const Fragment &f : frags) {
    if (!f.raw) {
      out.push_back(f.token);
      continue;
    }
    std::string s = sanitizeUtf8(f.text);
    std::string escaped;
    for (char c : s) {
      if (c == ' ')
        escaped += kSpaceMark;
      else
        escaped += c;
    }
    // Runs of newlines and runs of everything else.
    for (size_t i = 0; i < escaped.size();) {
      bool nl = escaped[i] == '\n';
      size_t j = i;
      while (j < escaped.size() && (escaped[j] == '\n') == nl)
        ++j;
      bpe(std::string_view(escaped).substr(i, j - i), out);
      i = j;
    }
  }
  return out;
}

std::string Tokenizer::piece(int32_t id, bool special) const {
  if (id < 0 || id >= vocabSize())
    return {};
  const std::string &t = tokens_[id];
  switch (types_[id]) {
  case kNormal: {
    std::string s;
    for (size_t i = 0; i < t.size();) {
      if (t.compare(i, 3, kSpaceMark) == 0) {
        s += ' ';
        i += 3;
      } else {
        s += t[i++];
      }
    }
    return s;
  }
  case kByte:
    if (t.size() == 6 && t.compare(0, 3, "<0x") == 0)
      return std::string(1, static_cast<char>(std::strtol(t.substr(3, 2).c_str(), nullptr, 16)));
    return {};
  case kUserDefined:
    return t;
  case kControl:
  case kUnknown:
    return special ? t : std::string();
  default:
    return {};
  }
}

} // namespace gemmac::rt

gemmac_sampler_params
gemmac::rt::Tokenizer::samplingDefaults(gemmac_sampler_params base) const {
  if (samplingSet_ & artifact::kSamplingTemperature)
    base.temperature = sampling_.temperature;
  if (samplingSet_ & artifact::kSamplingTopK)
    base.top_k = sampling_.top_k;
  if (samplingSet_ & artifact::kSamplingTopP)
    base.top_p = sampling_.top_p;
  if (samplingSet_ & artifact::kSamplingMinP)
    base.min_p = sampling_.min_p;
  if (samplingSet_ & artifact::kSamplingRepeatPenalty)
    base.repeat_penalty = sampling_.repeat_penalty;
  if (samplingSet_ & artifact::kSamplingPenaltyLastN)
    base.penalty_last_n = sampling_.penalty_last_n;
  return base;
}
