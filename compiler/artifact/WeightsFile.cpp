//===- WeightsFile.cpp - the weight file beside a compiled program --------===//

#include "compiler/artifact/WeightsFile.h"
#include "abi/artifact_format.h"
#include "abi/version.h"
#include "abi/weights_checksum.h"
#include "dialects/gemma/GemmaDialect.h"
#include "support/FileOutput.h"

#include "llvm/Support/FileSystem.h"
#include "llvm/Support/Format.h"
#include "llvm/Support/MemoryBuffer.h"
#include "llvm/Support/Path.h"
#include "llvm/Support/raw_ostream.h"

#include <algorithm>
#include <cstddef>
#include <string>
#ifdef __linux__
#include <sys/mman.h>
#include <unistd.h>
#endif
#include <cstring>
#include <vector>

using namespace gemmac;
using namespace gemmac::gemma;
using llvm::Error;

namespace {

template <typename T> void put(std::string &out, T v) {
  out.append(reinterpret_cast<const char *>(&v), sizeof(T));
}
void putBytes(std::string &out, llvm::StringRef s) {
  put<uint32_t>(out, static_cast<uint32_t>(s.size()));
  out.append(s.data(), s.size());
}

std::string serializeTokenizer(const TokenizerData &t) {
  std::string out(artifact::kTokenizerMagic, 4);
  put<uint32_t>(out, artifact::kTokenizerVersion);
  put<uint32_t>(out, static_cast<uint32_t>(t.tokens.size()));
  for (size_t i = 0; i < t.tokens.size(); ++i) {
    putBytes(out, t.tokens[i]);
    put<int32_t>(out, t.types[i]);
    put<float>(out, t.scores[i]);
  }
  put<uint32_t>(out, static_cast<uint32_t>(t.merges.size()));
  for (const std::string &m : t.merges)
    putBytes(out, m);
  for (int32_t id : {t.bos, t.eos, t.eot, t.pad, t.unk})
    put<int32_t>(out, id);
  put<uint32_t>(out, t.addBos ? 1 : 0);
  put<uint32_t>(out, static_cast<uint32_t>(t.endOfGeneration.size()));
  for (int32_t id : t.endOfGeneration)
    put<int32_t>(out, id);
  put<uint32_t>(out, static_cast<uint32_t>(t.suppress.size()));
  for (int32_t id : t.suppress)
    put<int32_t>(out, id);
  putBytes(out, t.chatTemplate);
  const SamplingDefaults &s = t.sampling;
  uint32_t set = 0;
  set |= s.temperature ? artifact::kSamplingTemperature : 0;
  set |= s.topK ? artifact::kSamplingTopK : 0;
  set |= s.topP ? artifact::kSamplingTopP : 0;
  set |= s.minP ? artifact::kSamplingMinP : 0;
  set |= s.repeatPenalty ? artifact::kSamplingRepeatPenalty : 0;
  set |= s.penaltyLastN ? artifact::kSamplingPenaltyLastN : 0;
  put<uint32_t>(out, set);
  put<float>(out, s.temperature.value_or(0));
  put<int32_t>(out, s.topK.value_or(0));
  put<float>(out, s.topP.value_or(0));
  put<float>(out, s.minP.value_or(0));
  put<float>(out, s.repeatPenalty.value_or(0));
  put<int32_t>(out, s.penaltyLastN.value_or(0));
  return out;
}

/// Lets the kernel drop our mapping of checkpoint bytes already written: they
/// stay in the page cache but stop counting as this process's memory, so
/// compile-model's footprint does not grow with the model.
void releasePages(const uint8_t *p, uint64_t n) {
#ifdef __linux__
  const uintptr_t page = static_cast<uintptr_t>(sysconf(_SC_PAGESIZE));
  uintptr_t begin = reinterpret_cast<uintptr_t>(p) & ~(page - 1);
  uintptr_t end = reinterpret_cast<uintptr_t>(p + n) & ~(page - 1);
  if (end > begin)
    madvise(reinterpret_cast<void *>(begin), end - begin, MADV_DONTNEED);
#else
  (void)p;
  (void)n;
#endif
}

/// How much of a weight's checkpoint bytes is written before their pages are
/// dropped.
constexpr uint64_t kReleaseBytes = 16ull << 20;

void copyString(char *dst, size_t cap, llvm::StringRef s) {
  size_t n = std::min(cap - 1, s.size());
  std::memcpy(dst, s.data(), n);
  dst[n] = 0;
}

/// "q4_0 x183 q6_k x1 f32 x62": each stored format and how many weights use
/// it, most used first (what `OUT info` shows).
std::string formatSummary(const WeightBlobLayout &layout) {
  std::vector<std::pair<fmt::Type, int>> counts;
  for (const WeightPlacement &w : layout.weights) {
    auto it = std::find_if(counts.begin(), counts.end(),
                           [&](auto &c) { return c.first == w.spec.format; });
    if (it == counts.end())
      counts.push_back({w.spec.format, 1});
    else
      ++it->second;
  }
  std::stable_sort(counts.begin(), counts.end(),
                   [](auto &a, auto &b) { return a.second > b.second; });
  std::string s;
  for (auto &[type, n] : counts)
    s += (s.empty() ? "" : " ") + std::string(fmt::typeName(type)) + " x" +
         std::to_string(n);
  return s;
}

/// Passes every byte on to the file and keeps a copy of those inside the
/// checksum's windows (abi/weights_checksum.h), so that the checksum needs
/// no second read of a file of gigabytes.
class SamplingStream : public llvm::raw_ostream {
public:
  SamplingStream(llvm::raw_fd_ostream &out, uint64_t fileBytes)
      : out_(out), fileBytes_(fileBytes), window_(artifact::sampleBytes(fileBytes)),
        samples_(artifact::kSamples * window_, 0) {
    SetUnbuffered();
  }
  uint64_t checksum() const {
    return artifact::weightsChecksum(samples_.data(), fileBytes_);
  }

private:
  void write_impl(const char *p, size_t n) override {
    out_.write(p, n);
    // Windows are sorted and may overlap (a small file): copy the part of
    // [pos_, pos_ + n) each one covers.
    for (uint64_t i = 0; i < artifact::kSamples; ++i) {
      const uint64_t w0 = artifact::sampleOffset(i, fileBytes_), w1 = w0 + window_;
      const uint64_t lo = std::max(w0, pos_), hi = std::min(w1, pos_ + n);
      if (lo < hi)
        std::memcpy(samples_.data() + i * window_ + (lo - w0), p + (lo - pos_), hi - lo);
    }
    pos_ += n;
  }
  uint64_t current_pos() const override { return pos_; }

  llvm::raw_fd_ostream &out_;
  uint64_t fileBytes_, window_, pos_ = 0;
  std::vector<uint8_t> samples_;
};

/// The GPTQ tensors of a weight (or part) whose qweight is at `qweight`.
weights::GPTQSource gptqSource(GPTQSourceAttr q, int64_t qweight) {
  weights::GPTQSource g;
  g.qweight = static_cast<uint64_t>(qweight);
  g.qzeros = static_cast<uint64_t>(q.getQzeros());
  g.scales = static_cast<uint64_t>(q.getScales());
  if (q.getGIdx() >= 0)
    g.gIdx = static_cast<uint64_t>(q.getGIdx());
  g.group = static_cast<uint64_t>(q.getGroup());
  g.zeroOffset = static_cast<uint32_t>(q.getZeroOffset());
  return g;
}

} // namespace

llvm::Expected<WeightBlobLayout>
gemmac::collectBlobLayout(mlir::ModuleOp module) {
  GemmaDialect *dialect = gemmaDialect(module.getContext());
  mlir::IntegerAttr bytesAttr =
      dialect->getWeightsBytesAttrHelper().getAttr(module);
  mlir::IntegerAttr fpAttr =
      dialect->getWeightsFingerprintAttrHelper().getAttr(module);
  if (!bytesAttr || !fpAttr)
    return llvm::createStringError("module has no weight layout");
  WeightBlobLayout layout;
  layout.totalBytes = bytesAttr.getInt();
  layout.fingerprint = static_cast<uint64_t>(fpAttr.getInt());
  for (WeightDefOp def : module.getOps<WeightDefOp>()) {
    if (!def.getBlobOffset())
      return llvm::createStringError("weight '" + def.getSymName() +
                                     "' has no blob offset");
    WeightType type = def.getWeightType();
    WeightPlacement w;
    w.sourceOffset = def.getSourceOffset();
    w.sourceFile = def.getSourceFile().value_or(0);
    w.blobOffset = *def.getBlobOffset();
    weights::WeightSpec &spec = w.spec;
    spec.name = def.getSymName().str();
    spec.format = static_cast<fmt::Type>(type.getFormat());
    spec.rows = static_cast<uint64_t>(type.getRows());
    spec.cols = static_cast<uint64_t>(type.getCols());
    spec.x8 = def.isInterleaved();
    if (FP8BlocksSourceAttr f = def.getFp8BlocksAttr())
      spec.fp8 = weights::FP8BlocksSource{static_cast<uint64_t>(f.getScales()),
                                          static_cast<uint64_t>(f.getBlock())};
    if (NVFP4SourceAttr nv = def.getNvfp4SourceAttr())
      spec.nvfp4 =
          weights::NVFP4Source{static_cast<uint64_t>(nv.getScales())};
    if (std::optional<WeightFormat> from = def.getWidenFrom())
      spec.widenFrom = static_cast<fmt::Type>(*from);
    if (GPTQSourceAttr q = def.getGptqAttr())
      spec.gptq = gptqSource(q, def.getSourceOffset());
    if (mlir::ArrayAttr parts = def.getPartsAttr())
      for (WeightPartAttr p : parts.getAsRange<WeightPartAttr>()) {
        weights::WeightPart part;
        part.sourceOffset = static_cast<uint64_t>(p.getSourceOffset());
        part.rows = static_cast<uint64_t>(p.getRows());
        if (GPTQSourceAttr q = p.getGptq())
          part.gptq = gptqSource(q, p.getSourceOffset());
        if (NVFP4SourceAttr nv = p.getNvfp4Source())
          part.nvfp4 =
              weights::NVFP4Source{static_cast<uint64_t>(nv.getScales())};
        if (FP8BlocksSourceAttr f = p.getFp8Blocks())
          part.fp8 = weights::FP8BlocksSource{
              static_cast<uint64_t>(f.getScales()),
              static_cast<uint64_t>(f.getBlock())};
        spec.parts.push_back(part);
      }
    // An f32 weight with its value in the definition is written from it
    // (for a checkpoint's f32 scalar, the same bytes).
    if (auto value = def.getValueAttr();
        value && spec.format == fmt::Type::F32)
      for (float x : mlir::cast<mlir::DenseFPElementsAttr>(value).getValues<float>())
        spec.values.push_back(x);
    if (SRDFoldAttr srd = def.getSrdAttr())
      spec.srd = weights::SRDFold{static_cast<size_t>(srd.getTensor()),
                                  static_cast<fmt::Type>(srd.getBase()),
                                  srd.getAlphaValue()};
    layout.weights.push_back(std::move(w));
  }
  std::sort(layout.weights.begin(), layout.weights.end(),
            [](auto &a, auto &b) { return a.blobOffset < b.blobOffset; });
  return layout;
}

llvm::Expected<WeightsIdentity>
gemmac::writeWeightsFile(llvm::StringRef path, const WeightBlobLayout &layout,
                         const WeightsSource &source,
                         const TokenizerData &tokenizer, llvm::StringRef target,
                         bool progress) {
  const uint64_t weightsBytes = layout.totalBytes;
  const uint64_t tokenizerOffset =
      (artifact::kHeaderBytes + weightsBytes + 4095) / 4096 * 4096;
  std::string tok = serializeTokenizer(tokenizer);

  artifact::ArtifactHeader h{};
  std::memcpy(h.magic, artifact::kMagic, 8);
  h.version = artifact::kVersion;
  h.headerBytes = artifact::kHeaderBytes;
  h.fingerprint = layout.fingerprint;
  h.weightsOffset = artifact::kHeaderBytes;
  h.weightsBytes = weightsBytes;
  h.tokenizerOffset = tokenizerOffset;
  h.tokenizerBytes = tok.size();
  h.sourceBytes = source.size;
  copyString(h.source, sizeof h.source, llvm::sys::path::filename(source.name));
  copyString(h.target, sizeof h.target, target);
  copyString(h.compiler, sizeof h.compiler,
             std::string("gemmac ") + abi::kGemmacVersion);
  copyString(h.residuals, sizeof h.residuals, source.residualProvenance);
  copyString(h.formats, sizeof h.formats, formatSummary(layout));
  h.fileBytes = tokenizerOffset + tok.size();

  uint64_t checksum = 0;
  Error written = support::writeFileWith(path, [&](llvm::raw_fd_ostream &file) -> Error {
    SamplingStream os(file, h.fileBytes);
    std::string header(artifact::kHeaderBytes, '\0');
    std::memcpy(header.data(), &h, sizeof h);
    os << header;

    uint64_t written = 0, done = 0;
    for (const WeightPlacement &w : layout.weights) {
      // The drafter's weights come from its own checkpoint.
      const bool draft = w.sourceFile == 1;
      if (w.sourceFile != 0 && (!draft || !source.draftData))
        return llvm::createStringError("weight '" + w.spec.name +
                                       "' names source file " +
                                       std::to_string(w.sourceFile) +
                                       ", which was not given");
      const uint8_t *data = draft ? source.draftData : source.data;
      const uint64_t size = draft ? source.draftSize : source.size;
      const std::string &name = draft ? source.draftName : source.name;
      if (w.sourceOffset > size)
        return llvm::createStringError(
            name + ": weight '" + w.spec.name + "' at offset " +
            std::to_string(w.sourceOffset) +
            " starts past the end of the checkpoint");
      if (w.blobOffset < written)
        return llvm::createStringError("weight blob offsets overlap");
      os.write_zeros(w.blobOffset - written);
      const uint8_t *src = data + w.sourceOffset;
      // Checkpoint pages already consumed are dropped as the weight streams.
      uint64_t released = 0;
      auto sink = [&](llvm::ArrayRef<uint8_t> bytes, uint64_t sourceDone) {
        os.write(reinterpret_cast<const char *>(bytes.data()), bytes.size());
        if (sourceDone - released >= kReleaseBytes) {
          releasePages(src + released, sourceDone - released);
          released = sourceDone;
        }
      };
      if (Error e = weights::transformWeight(
              w.spec, {src, size - w.sourceOffset},
              draft ? nullptr : source.residuals, sink, {data, size}))
        return llvm::createStringError(name + ": " +
                                       llvm::toString(std::move(e)));
      releasePages(src, w.spec.sourceBytes());
      written = w.blobOffset + w.spec.storedBytes();
      done += w.spec.storedBytes();
      if (progress)
        llvm::errs() << llvm::format("\rwriting weights %5.1f%%",
                                     100.0 * done /
                                         std::max<uint64_t>(1, weightsBytes));
    }
    if (progress)
      llvm::errs() << "\n";
    os.write_zeros(tokenizerOffset - artifact::kHeaderBytes - written);
    os << tok;
    os.flush();
    if (os.tell() != h.fileBytes)
      return llvm::createStringError("wrote " + std::to_string(os.tell()) +
                                     " bytes, planned " + std::to_string(h.fileBytes));
    // The header went out with a zero checksum (the checksum reads it so).
    checksum = os.checksum();
    file.seek(offsetof(artifact::ArtifactHeader, checksum));
    file.write(reinterpret_cast<const char *>(&checksum), sizeof checksum);
    return Error::success();
  });
  if (written)
    return std::move(written);
  return WeightsIdentity{checksum, h.fileBytes};
}
