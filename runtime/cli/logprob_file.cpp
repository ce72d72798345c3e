#include "runtime/cli/logprob_file.h"

#include <cerrno>
#include <cstring>
#include <sys/stat.h>

namespace gemmac::cli {
namespace {
constexpr char kMagic[8] = {'G', 'M', 'L', 'O', 'G', 'P', 'R', '1'};
constexpr char kLlamaMagic[8] = {'_', 'l', 'o', 'g', 'i', 't', 's', '_'};
constexpr uint64_t kHeaderBytes = 8 + 3 * 4;
} // namespace

LogProbReader::~LogProbReader() {
  if (f_)
    std::fclose(f_);
}

bool LogProbReader::open(const std::string &path, int32_t modelVocab,
                         std::string &error) {
  path_ = path;
  f_ = std::fopen(path.c_str(), "rb");
  if (!f_) {
    error = path + ": " + std::strerror(errno);
    return false;
  }
  struct stat st;
  if (fstat(fileno(f_), &st) != 0 || !S_ISREG(st.st_mode)) {
    error = path + ": not a regular file";
    return false;
  }
  const uint64_t size = static_cast<uint64_t>(st.st_size);
  char magic[8];
  uint32_t h[3];
  if (size < kHeaderBytes || std::fread(magic, 1, 8, f_) != 8 ||
      std::fread(h, 4, 3, f_) != 3) {
    error = path + ": too short for a log-probability file (" +
            std::to_string(size) + " bytes)";
    return false;
  }
  if (std::memcmp(magic, kMagic, 8) == 0)
    llama_ = false;
  else if (std::memcmp(magic, kLlamaMagic, 8) == 0)
    llama_ = true;
  else {
    error = path + ": not a log-probability file (magic at offset 0 is neither "
                   "GMLOGPR1 nor llama-perplexity's _logits_)";
    return false;
  }
  nCtx_ = h[0];
  nVocab_ = h[1];
  nChunk_ = h[2];
  if (nCtx_ < 4 || nCtx_ > (1u << 24)) {
    error = path + ": n_ctx " + std::to_string(nCtx_) + " at offset 8 is out of range (4 to 16777216)";
    return false;
  }
  if (static_cast<int64_t>(nVocab_) != modelVocab) {
    error = path + ": n_vocab " + std::to_string(static_cast<int32_t>(nVocab_)) +
            " at offset 12 differs from the model's " + std::to_string(modelVocab);
    return false;
  }
  // Every product below is bounded: n_ctx < 2^24, vocab < 2^31, and the
  // chunk count is checked against the file size first.
  const uint64_t rowBytes = llama_ ? (2 * ((uint64_t(nVocab_) + 1) / 2) + 4) * 2
                                   : uint64_t(nVocab_) * 4;
  const uint64_t chunkBytes = uint64_t(nCtx_) * 4 + scoredRows(nCtx_) * rowBytes;
  if (nChunk_ == 0 || nChunk_ > (size - kHeaderBytes) / chunkBytes ||
      kHeaderBytes + nChunk_ * chunkBytes != size) {
    error = path + ": n_chunk " + std::to_string(static_cast<int32_t>(nChunk_)) +
            " at offset 16 does not match the file's " + std::to_string(size) +
            " bytes (n_ctx " + std::to_string(nCtx_) + ", n_vocab " +
            std::to_string(nVocab_) + ")";
    return false;
  }
  tokens_.resize(uint64_t(nCtx_) * nChunk_);
  if (std::fread(tokens_.data(), 4, tokens_.size(), f_) != tokens_.size()) {
    error = path + ": read failed in the tokens at offset " + std::to_string(kHeaderBytes);
    return false;
  }
  for (size_t i = 0; i < tokens_.size(); ++i)
    if (tokens_[i] < 0 || tokens_[i] >= modelVocab) {
      error = path + ": token " + std::to_string(tokens_[i]) + " at offset " +
              std::to_string(kHeaderBytes + 4 * i) + " is outside the vocabulary";
      return false;
    }
  dataOffset_ = kHeaderBytes + uint64_t(4) * tokens_.size();
  return true;
}

bool LogProbReader::readChunk(uint32_t c, std::vector<float> &out, std::string &error) {
  const uint64_t rows = scoredRows(nCtx_);
  const uint64_t nv = 2 * ((uint64_t(nVocab_) + 1) / 2) + 4; // u16 per llama row
  const uint64_t rowBytes = llama_ ? nv * 2 : uint64_t(nVocab_) * 4;
  const uint64_t offset = dataOffset_ + c * rows * rowBytes;
  out.resize(rows * nVocab_);
  if (c >= nChunk_ || fseeko(f_, static_cast<off_t>(offset), SEEK_SET) != 0) {
    error = path_ + ": cannot seek to chunk " + std::to_string(c) + " at offset " +
            std::to_string(offset);
    return false;
  }
  if (!llama_) {
    if (std::fread(out.data(), 4, out.size(), f_) != out.size()) {
      error = path_ + ": read failed in chunk " + std::to_string(c) + " at offset " +
              std::to_string(offset);
      return false;
    }
    return true;
  }
  packed_.resize(rows * nv);
  if (std::fread(packed_.data(), 2, packed_.size(), f_) != packed_.size()) {
    error = path_ + ": read failed in chunk " + std::to_string(c) + " at offset " +
            std::to_string(offset);
    return false;
  }
  for (uint64_t r = 0; r < rows; ++r) {
    const uint16_t *row = packed_.data() + r * nv;
    float scale, minLogProb;
    std::memcpy(&scale, row, 4);
    std::memcpy(&minLogProb, row + 2, 4);
    for (uint32_t i = 0; i < nVocab_; ++i)
      out[r * nVocab_ + i] = scale * row[4 + i] + minLogProb;
  }
  return true;
}

LogProbWriter::~LogProbWriter() {
  if (f_)
    std::fclose(f_);
}

bool LogProbWriter::open(const std::string &path, uint32_t nCtx, uint32_t nVocab,
                         uint32_t nChunk, const std::vector<int32_t> &tokens,
                         std::string &error) {
  path_ = path;
  nVocab_ = nVocab;
  f_ = std::fopen(path.c_str(), "wb");
  uint32_t h[3] = {nCtx, nVocab, nChunk};
  if (!f_ || std::fwrite(kMagic, 1, 8, f_) != 8 || std::fwrite(h, 4, 3, f_) != 3 ||
      std::fwrite(tokens.data(), 4, uint64_t(nCtx) * nChunk, f_) != uint64_t(nCtx) * nChunk) {
    error = path + ": cannot write: " + std::strerror(errno);
    return false;
  }
  return true;
}

bool LogProbWriter::writeRows(const float *logProbs, size_t rows, std::string &error) {
  const size_t n = rows * nVocab_;
  if (std::fwrite(logProbs, 4, n, f_) != n) {
    error = path_ + ": write failed: " + std::strerror(errno);
    return false;
  }
  return true;
}

bool LogProbWriter::close(std::string &error) {
  int rc = std::fclose(f_);
  f_ = nullptr;
  if (rc != 0) {
    error = path_ + ": write failed: " + std::strerror(errno);
    return false;
  }
  return true;
}

} // namespace gemmac::cli
