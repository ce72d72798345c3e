#include "HFCheckpoint.h"

#include "llvm/Support/FormatVariadic.h"
#include "llvm/Support/JSON.h"
#include "llvm/Support/raw_ostream.h"

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <set>

namespace gemmac::gen {

namespace {
// The stream leaves the failed call's errno (ENOSPC on a full disk, say).
std::string cannotWrite(const std::string &path) {
  return "cannot write " + path + ": " +
         (errno ? std::strerror(errno) : "stream error");
}

std::string writeText(const std::string &path, const std::string &text) {
  errno = 0;
  std::ofstream out(path, std::ios::binary);
  out << text;
  out.close();
  return out ? "" : cannotWrite(path);
}

std::string shardName(int k, int n) {
  return n == 1 ? "model.safetensors"
                : llvm::formatv("model-{0:d5}-of-{1:d5}.safetensors", k + 1, n)
                      .str();
}

const std::set<std::string> kRendered = {
    "<|channel>", "<channel|>", "<|tool_call>", "<tool_call|>",
    "<|tool_response>", "<tool_response|>", "<|\"|>"};
} // namespace

std::string writeSafetensors(const std::string &dir,
                             const std::vector<HFTensor> &tensors,
                             int shards) {
  llvm::json::Object weightMap;
  uint64_t totalBytes = 0;
  for (int k = 0; k < shards; ++k) {
    size_t first = tensors.size() * k / shards,
           last = tensors.size() * (k + 1) / shards;
    llvm::json::Object header;
    header["__metadata__"] = llvm::json::Object{{"format", "pt"}};
    uint64_t at = 0;
    for (size_t i = first; i < last; ++i) {
      const HFTensor &t = tensors[i];
      header[t.name] = llvm::json::Object{
          {"dtype", t.dtype},
          {"shape", llvm::json::Array(t.shape)},
          {"data_offsets", llvm::json::Array{at, at + t.bytes}}};
      at += t.bytes;
      weightMap[t.name] = shardName(k, shards);
    }
    totalBytes += at;
    std::string text;
    llvm::raw_string_ostream(text) << llvm::json::Value(std::move(header));
    // The reference writer pads the header with spaces to 8 bytes.
    text.append((8 - text.size() % 8) % 8, ' ');
    std::string path = dir + "/" + shardName(k, shards);
    errno = 0;
    std::ofstream out(path, std::ios::binary);
    uint64_t n = text.size();
    for (int b = 0; b < 8; ++b)
      out.put(static_cast<char>(n >> (8 * b)));
    out << text;
    for (size_t i = first; i < last; ++i) {
      std::vector<uint8_t> data(tensors[i].bytes);
      tensors[i].fill(data.data());
      out.write(reinterpret_cast<const char *>(data.data()), data.size());
    }
    out.close();
    if (!out)
      return cannotWrite(path);
  }
  if (shards == 1)
    return "";
  llvm::json::Object index{
      {"metadata", llvm::json::Object{{"total_size", totalBytes}}},
      {"weight_map", std::move(weightMap)}};
  return writeText(dir + "/model.safetensors.index.json",
                   llvm::formatv("{0:2}", llvm::json::Value(std::move(index))));
}

std::vector<int32_t> convertedTokenTypes(const Vocab &vocab) {
  std::vector<int32_t> types;
  for (size_t i = 0; i < vocab.tokens.size(); ++i) {
    const std::string &t = vocab.tokens[i];
    int32_t v = vocab.types[i];
    if (v == 6)
      types.push_back(6);
    else if (kRendered.count(t))
      types.push_back(4);
    else if (v == 2 || v == 3 || v == 4)
      types.push_back(3);
    else
      types.push_back(1);
  }
  return types;
}

std::string writeTokenizerFiles(const std::string &dir, const Vocab &vocab,
                                const std::string &chatTemplate) {
  llvm::json::Object model{{"type", "BPE"},
                           {"dropout", nullptr},
                           {"unk_token", "<unk>"},
                           {"continuing_subword_prefix", nullptr},
                           {"end_of_word_suffix", nullptr},
                           {"fuse_unk", false},
                           {"byte_fallback", true},
                           {"ignore_merges", false}};
  llvm::json::Object ids;
  llvm::json::Array added;
  for (size_t i = 0; i < vocab.tokens.size(); ++i) {
    ids[vocab.tokens[i]] = static_cast<int64_t>(i);
    int32_t type = vocab.types[i];
    if (type == 2 || type == 3 || type == 4)
      added.push_back(llvm::json::Object{{"id", static_cast<int64_t>(i)},
                                         {"content", vocab.tokens[i]},
                                         {"single_word", false},
                                         {"lstrip", false},
                                         {"rstrip", false},
                                         {"normalized", false},
                                         {"special", true}});
  }
  model["vocab"] = std::move(ids);
  // Newer tokenizers write merges as pairs; the older "a b" strings are
  // read too (the frontend's tests cover both).
  llvm::json::Array merges;
  for (const std::string &m : vocab.merges) {
    size_t sp = m.find(' ');
    merges.push_back(llvm::json::Array{m.substr(0, sp), m.substr(sp + 1)});
  }
  model["merges"] = std::move(merges);
  llvm::json::Object tokenizer{
      {"version", "1.0"},
      {"truncation", nullptr},
      {"padding", nullptr},
      {"added_tokens", std::move(added)},
      {"normalizer",
       llvm::json::Object{{"type", "Replace"},
                          {"pattern", llvm::json::Object{{"String", " "}}},
                          {"content", "\xE2\x96\x81"}}},
      {"pre_tokenizer", nullptr},
      {"post_processor", nullptr},
      {"decoder",
       llvm::json::Object{
           {"type", "Sequence"},
           {"decoders",
            llvm::json::Array{
                llvm::json::Object{{"type", "Replace"},
                                   {"pattern",
                                    llvm::json::Object{{"String", "\xE2\x96\x81"}}},
                                   {"content", " "}},
                llvm::json::Object{{"type", "ByteFallback"}},
                llvm::json::Object{{"type", "Fuse"}}}}}},
      {"model", std::move(model)}};
  if (std::string e = writeText(dir + "/tokenizer.json",
                                llvm::formatv("{0}", llvm::json::Value(
                                                         std::move(tokenizer)))
                                    .str());
      !e.empty())
    return e;
  llvm::json::Object config{{"tokenizer_class", "GemmaTokenizer"},
                            {"bos_token", "<bos>"},
                            {"eos_token", "<eos>"},
                            {"pad_token", "<pad>"},
                            {"unk_token", "<unk>"},
                            {"add_bos_token", true},
                            {"chat_template", chatTemplate}};
  return writeText(dir + "/tokenizer_config.json",
                   llvm::formatv("{0:2}", llvm::json::Value(std::move(config))));
}

} // namespace gemmac::gen
