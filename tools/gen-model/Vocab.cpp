#include "Vocab.h"

#include <algorithm>
#include <cstdio>
#include <map>
#include <set>

namespace gemmac::gen {

// Training text for the merges: common English so that prompts in tests and
// examples tokenize into multi-character pieces.
static const char *kCorpus =
    "The quick brown fox jumps over the lazy dog. The compiler reads the "
    "model and writes a program that runs on the machine. A small model "
    "with random weights still has the same shape as a large one, and the "
    "program that runs it must compute the same numbers as the reference. "
    "Once upon a time there was a little robot who wanted to learn how to "
    "write poems about the sea, the sky and the stars.\n"
    "Hello world! How are you today? I am fine, thank you. What is the "
    "weather like in the city where you live? It is warm and sunny here.\n\n"
    "Tokens are pieces of text; the tokenizer splits the text into pieces "
    "and the model predicts the next piece. The quick answer is that there "
    "is no quick answer. They said that this would be the best one.\n"
    "def main():\n    return 0\n\nint main(void) { return 0; }\n";

static const char *kSpecials[][2] = {
    // {text, type}: ids 0.. in this order, as in the real Gemma 4 vocab.
    {"<pad>", "3"}, {"<eos>", "3"}, {"<bos>", "3"}, {"<unk>", "2"},
    {"<mask>", "3"}, {"<|turn>", "3"}, {"<turn|>", "3"},
    {"<|think|>", "3"}, {"<|channel>", "4"}, {"<channel|>", "4"},
    {"<|tool_call>", "4"}, {"<tool_call|>", "4"}, {"<|tool_response>", "4"},
    {"<tool_response|>", "4"}, {"<|\"|>", "4"}, {"<|tool>", "3"},
    {"<tool|>", "3"}, {"<|image|>", "3"}, {"<|audio|>", "3"},
};

static std::string utf8Char(const std::string &s, size_t &i) {
  unsigned char c = s[i];
  size_t n = c < 0x80 ? 1 : c < 0xE0 ? 2 : c < 0xF0 ? 3 : 4;
  std::string r = s.substr(i, n);
  i += n;
  return r;
}

Vocab buildVocab(int64_t size) {
  Vocab v;
  std::set<std::string> seen;
  auto add = [&](const std::string &t, int32_t type) {
    if (!seen.insert(t).second)
      return false;
    v.tokens.push_back(t);
    v.types.push_back(type);
    v.scores.push_back(-static_cast<float>(v.tokens.size()));
    return true;
  };
  for (auto &s : kSpecials)
    add(s[0], std::atoi(s[1]));
  v.eot = 6; // <turn|>
  add("\n", 1);
  add("\n\n", 1);
  for (int b = 0; b < 256; ++b) {
    char buf[8];
    std::snprintf(buf, sizeof buf, "<0x%02X>", b);
    add(buf, 6);
  }
  // Every character of the corpus (with spaces as U+2581) is a token.
  std::string text;
  for (const char *p = kCorpus; *p; ++p)
    text += *p == ' ' ? std::string("\xE2\x96\x81") : std::string(1, *p);
  for (size_t i = 0; i < text.size();) {
    std::string c = utf8Char(text, i);
    if (c != "\n")
      add(c, 1);
  }
  for (char c = 'a'; c <= 'z'; ++c)
    add(std::string(1, c), 1);
  for (char c = 'A'; c <= 'Z'; ++c)
    add(std::string(1, c), 1);
  for (char c = '0'; c <= '9'; ++c)
    add(std::string(1, c), 1);

  // Train merges: words are runs without newlines, as the tokenizer splits.
  std::vector<std::vector<std::string>> words;
  std::vector<std::string> cur;
  for (size_t i = 0; i < text.size();) {
    std::string c = utf8Char(text, i);
    if (c == "\n") {
      if (!cur.empty())
        words.push_back(cur);
      cur.clear();
    } else {
      cur.push_back(c);
    }
  }
  if (!cur.empty())
    words.push_back(cur);
  int64_t budget = size - static_cast<int64_t>(v.tokens.size());
  while (budget > 0) {
    std::map<std::pair<std::string, std::string>, int> counts;
    for (auto &w : words)
      for (size_t i = 0; i + 1 < w.size(); ++i)
        counts[{w[i], w[i + 1]}]++;
    std::pair<std::string, std::string> best;
    int bestCount = 1;
    for (auto &[pair, n] : counts)
      if (n > bestCount) {
        best = pair;
        bestCount = n;
      }
    if (bestCount <= 1)
      break;
    std::string merged = best.first + best.second;
    v.merges.push_back(best.first + " " + best.second);
    if (add(merged, 1))
      --budget;
    for (auto &w : words) {
      std::vector<std::string> out;
      for (size_t i = 0; i < w.size(); ++i) {
        if (i + 1 < w.size() && w[i] == best.first && w[i + 1] == best.second) {
          out.push_back(merged);
          ++i;
        } else {
          out.push_back(w[i]);
        }
      }
      w = std::move(out);
    }
  }
  // Fill the rest with tokens no merge produces (a real vocab has many).
  for (int64_t i = 0; static_cast<int64_t>(v.tokens.size()) < size; ++i)
    add("<unused" + std::to_string(i) + ">", 5);
  return v;
}

const char *chatTemplate() {
  return "{{ bos_token }}{% for message in messages %}"
         "{% set role = 'model' if message['role'] == 'assistant' else "
         "message['role'] %}"
         "{{ '<|turn>' + role + '\n' + message['content'] | trim + "
         "'<turn|>\n' }}{% endfor %}"
         "{% if add_generation_prompt %}{{ '<|turn>model\n' }}{% endif %}";
}

} // namespace gemmac::gen
