// The log-probabilities `OUT perplexity --kl-divergence-base FILE` saves and
// `--kl-divergence` compares against. Two layouts are read:
//   gemmac's: "GMLOGPR1", u32 n_ctx, u32 n_vocab, u32 n_chunk,
//             i32 tokens[n_ctx * n_chunk], then per chunk (n_ctx - 1 - n_ctx/2)
//             rows of n_vocab float32 log-probs (exact: a program compared
//             with its own file gives KL divergence 0);
//   llama-perplexity's: "_logits_", u32 n_ctx, i32 n_vocab, i32 n_chunk,
//             tokens, then per row {f32 scale, f32 min} + n_vocab u16 (padded
//             to even) quantized log-probs, so that a gemmac program can be
//             compared with a base file llama.cpp wrote.
// gemmac writes its own layout. Every size is checked against the file's
// length before anything is read.
#pragma once

#include <cstdint>
#include <cstdio>
#include <string>
#include <vector>

namespace gemmac::cli {

class LogProbReader {
public:
  ~LogProbReader();
  /// False with `error` naming the file and the field on a malformed file.
  bool open(const std::string &path, int32_t modelVocab, std::string &error);
  uint32_t nCtx() const { return nCtx_; }
  uint32_t nChunk() const { return nChunk_; }
  const std::vector<int32_t> &tokens() const { return tokens_; }
  /// Rows of chunk `c` as float log-probs (rows x vocab).
  bool readChunk(uint32_t c, std::vector<float> &logProbs, std::string &error);

private:
  FILE *f_ = nullptr;
  std::string path_;
  bool llama_ = false;
  uint32_t nCtx_ = 0, nVocab_ = 0, nChunk_ = 0;
  uint64_t dataOffset_ = 0;
  std::vector<int32_t> tokens_;
  std::vector<uint16_t> packed_;
};

class LogProbWriter {
public:
  ~LogProbWriter();
  bool open(const std::string &path, uint32_t nCtx, uint32_t nVocab,
            uint32_t nChunk, const std::vector<int32_t> &tokens, std::string &error);
  bool writeRows(const float *logProbs, size_t rows, std::string &error);
  bool close(std::string &error);
  bool isOpen() const { return f_ != nullptr; }

private:
  FILE *f_ = nullptr;
  std::string path_;
  uint32_t nVocab_ = 0;
};

/// Rows scored per chunk of n_ctx tokens: the second half, minus the last.
inline uint32_t scoredRows(uint32_t nCtx) { return nCtx - 1 - nCtx / 2; }

} // namespace gemmac::cli
