// OUT perplexity: llama-perplexity's method and output. The text is cut into
// chunks of -c tokens, each evaluated from an empty cache with <bos> in
// place of its first token; the second half of each chunk is scored.
// --kl-divergence-base FILE saves the scored log-probs; with --kl-divergence
// the program is compared with that file instead (KL divergence, same top
// token, Δp), the statistics llama-perplexity prints.

#include "runtime/cli/commands.h"
#include "runtime/cli/generation.h"
#include "runtime/cli/logprob_file.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <sys/stat.h>
#include <unistd.h>

namespace gemmac::cli {
namespace {

/// One scored row as llama-perplexity computes it: float max, double sum of
/// expf, the log-probs in float.
struct RowLogSoftmax {
  float max;
  double logSumExp;
  int32_t argmax;
};

RowLogSoftmax logSoftmax(const float *logits, int32_t n) {
  float maxLogit = logits[0];
  int32_t imax = 0;
  for (int32_t i = 1; i < n; ++i)
    if (logits[i] > maxLogit) {
      maxLogit = logits[i];
      imax = i;
    }
  double sumExp = 0;
  for (int32_t i = 0; i < n; ++i)
    sumExp += std::exp(logits[i] - maxLogit);
  return {maxLogit, std::log(sumExp), imax};
}

struct Moments {
  double sum = 0, sum2 = 0;
  void add(double v) { sum += v; sum2 += v * v; }
  /// Mean and its standard error, as llama-perplexity's mean_and_uncertainty.
  std::pair<double, double> mean(size_t n) const {
    if (n < 1)
      return {0, 0};
    double f = sum / n, df = sum2 / n - f * f;
    return {f, df > 0 && n > 10 ? std::sqrt(df / (n - 1)) : 0.0};
  }
};

struct KLStats {
  Moments nll, nllRef, kld, pDiff, pDiff2;
  double nllNllBase = 0;
  float maxPDiff = 0;
  size_t sameTop = 0, count = 0;
  std::vector<float> kldValues, pDiffValues;

  /// One scored position: this program's log-probs `lp` against the base
  /// file's `b`, both float, so that a program compared with its own file
  /// gives exactly 0.
  void addRow(const float *lp, const float *b, int32_t V, int32_t next, int32_t argmax) {
    const float nllQ = -lp[next], nllBase = -b[next];
    nll.add(nllQ);
    nllRef.add(nllBase);
    nllNllBase += static_cast<double>(nllQ) * nllBase;
    double sum = 0;
    int32_t imaxBase = 0;
    for (int32_t i = 0; i < V; ++i) {
      if (b[i] > b[imaxBase])
        imaxBase = i;
      if (b[i] > -16.f) // llama-perplexity's floor
        sum += std::exp(b[i]) * (b[i] - lp[i]);
    }
    kld.add(sum);
    kldValues.push_back(static_cast<float>(sum));
    const float diff = std::exp(-nllQ) - std::exp(-nllBase);
    pDiff.add(diff);
    pDiff2.add(static_cast<double>(diff) * diff);
    pDiffValues.push_back(diff);
    sameTop += argmax == imaxBase;
    ++count;
  }
};

float percentile(const std::vector<float> &v, float fraction) {
  if (fraction <= 0) return v.front();
  if (fraction >= 1) return v.back();
  float p = fraction * (v.size() - 1);
  size_t ip = static_cast<size_t>(p);
  p -= ip;
  return (1 - p) * v[ip] + p * v[std::min(ip + 1, v.size() - 1)];
}

void progress(uint32_t done, uint32_t total, double elapsed) {
  if (!isatty(2))
    return;
  double eta = done ? elapsed / done * (total - done) : 0;
  std::fprintf(stderr, "\r\033[Kchunk %u/%u, %.1f s, ETA %.0f s", done, total, elapsed, eta);
  if (done == total)
    std::fprintf(stderr, "\r\033[K");
}

void printKLSummary(KLStats &k) {
  std::sort(k.kldValues.begin(), k.kldValues.end());
  std::sort(k.pDiffValues.begin(), k.pDiffValues.end());
  const size_t n = k.count;
  auto logPpl = k.nll.mean(n), logPplBase = k.nllRef.mean(n);
  double cov = n < 10 ? 0 : (k.nllNllBase / n - (k.nll.sum / n) * (k.nllRef.sum / n)) / (n - 1);
  std::printf("====== Perplexity statistics ======\n");
  std::printf("Mean PPL(Q)                   : %10.6f ± %10.6f\n", std::exp(logPpl.first),
              std::exp(logPpl.first) * logPpl.second);
  std::printf("Mean PPL(base)                : %10.6f ± %10.6f\n", std::exp(logPplBase.first),
              std::exp(logPplBase.first) * logPplBase.second);
  double ratio = logPpl.first - logPplBase.first;
  double ratioUnc = std::sqrt(std::max(0.0, logPpl.second * logPpl.second +
                                                logPplBase.second * logPplBase.second - 2 * cov));
  std::printf("Mean ln(PPL(Q)/PPL(base))     : %10.6f ± %10.6f\n", ratio, ratioUnc);
  std::printf("\n====== KL divergence statistics ======\n");
  auto kl = k.kld.mean(n);
  std::printf("Mean    KLD: %10.6f ± %10.6f\n", kl.first, kl.second);
  const std::vector<float> &v = k.kldValues;
  std::printf("Maximum KLD: %10.6f\n", v.back());
  const float kldPct[] = {0.999f, 0.99f, 0.95f, 0.90f, 0.5f, 0.10f, 0.05f, 0.01f, 0.001f};
  const char *kldName[] = {"99.9%  ", "99.0%  ", "95.0%  ", "90.0%  ", "Median ",
                           "10.0%  ", " 5.0%  ", " 1.0%  ", " 0.1%  "};
  for (int i = 0; i < 9; ++i)
    std::printf("%s KLD: %10.6f\n", kldName[i], percentile(v, kldPct[i]));
  std::printf("Minimum KLD: %10.6f\n", v.front());
  std::printf("\n====== Token probability statistics ======\n");
  auto pd = k.pDiff.mean(n);
  std::printf("Mean    Δp: %6.3f ± %5.3f %%\n", 100 * pd.first, 100 * pd.second);
  const std::vector<float> &p = k.pDiffValues;
  std::printf("Maximum Δp: %6.3f%%\n", 100 * p.back());
  std::printf("Median  Δp: %6.3f%%\n", 100 * percentile(p, 0.5f));
  std::printf("Minimum Δp: %6.3f%%\n", 100 * p.front());
  auto mse = k.pDiff2.mean(n);
  std::printf("RMS Δp    : %6.3f %%\n", 100 * std::sqrt(mse.first));
  double same = static_cast<double>(k.sameTop) / n;
  std::printf("Same top p: %6.3f ± %5.3f %%\n", 100 * same,
              n > 1 ? 100 * std::sqrt(same * (1 - same) / (n - 1)) : 0.0);
}

} // namespace

int cmdPerplexity(const Options &o) {
  const bool compare = o.klCompare;
  if (compare && o.klBase.empty())
    die("--kl-divergence needs --kl-divergence-base FILE (the log-probs to compare with)");
  if (!compare && !o.klBase.empty()) {
    struct stat st;
    if (stat(o.klBase.c_str(), &st) == 0)
      die(o.klBase + ": exists; not overwritten (remove it, or add --kl-divergence to "
                     "compare with it)");
  }
  gemmac_model *m = openModel(o);
  const int32_t V = gemmac_model_vocab_size(m);
  std::string err;
  LogProbReader base;
  std::vector<gemmac_token> tokens;
  uint32_t nCtx = 0, nChunk = 0;
  if (compare) {
    if (!base.open(o.klBase, V, err))
      die(err);
    nCtx = base.nCtx();
    nChunk = base.nChunk();
    if (o.ctx > 0 && static_cast<uint32_t>(o.ctx) != nCtx)
      die(o.klBase + " was computed with -c " + std::to_string(nCtx) + ", not " +
          std::to_string(o.ctx));
    tokens = base.tokens();
    if (o.chunks > 0)
      nChunk = std::min<uint32_t>(nChunk, static_cast<uint32_t>(o.chunks));
  } else {
    std::string text = readPrompt(o);
    if (text.empty())
      die("perplexity needs a text (-f FILE, or on stdin)");
    nCtx = static_cast<uint32_t>(o.ctx > 0 ? o.ctx : 512);
    if (nCtx < 4)
      die("perplexity needs -c of at least 4");
    std::vector<gemmac_token> all(text.size() + 8);
    int32_t n = gemmac_tokenize(m, text.data(), text.size(), 1, 0, all.data(),
                                static_cast<int32_t>(all.size()));
    if (n < 0)
      die(gemmac_last_error());
    all.resize(static_cast<size_t>(n));
    if (all.size() < 2 * static_cast<size_t>(nCtx))
      die("the text tokenizes to " + std::to_string(all.size()) +
          " tokens; perplexity with -c " + std::to_string(nCtx) + " needs at least " +
          std::to_string(2 * nCtx));
    nChunk = static_cast<uint32_t>(all.size() / nCtx);
    if (o.chunks > 0)
      nChunk = std::min<uint32_t>(nChunk, static_cast<uint32_t>(o.chunks));
    tokens.assign(all.begin(), all.begin() + uint64_t(nCtx) * nChunk);
  }
  LogProbWriter writer;
  if (!compare && !o.klBase.empty() &&
      !writer.open(o.klBase, nCtx, static_cast<uint32_t>(V), nChunk, tokens, err))
    die(err);
  gemmac_session *s = newSession(m, nCtx, o.ctx > 0);
  const uint32_t first = nCtx / 2, rows = scoredRows(nCtx);
  const uint32_t step = o.batch > 0 ? static_cast<uint32_t>(std::min<long>(o.batch, nCtx)) : nCtx;
  std::fprintf(stderr, "perplexity: %zu tokens, %u chunks of %u, batch %u\n", tokens.size(),
               nChunk, nCtx, step);
  std::vector<float> logits(uint64_t(nCtx) * V), lp(uint64_t(rows) * V), baseLp;
  std::vector<gemmac_token> chunk(nCtx);
  Moments nll;
  KLStats kl;
  size_t count = 0;
  const double t0 = seconds();
  if (compare)
    std::printf("chunk        PPL          ln(PPL(Q)/PPL(base))   KL Divergence     Same top p\n");
  for (uint32_t c = 0; c < nChunk; ++c) {
    std::copy(tokens.begin() + uint64_t(c) * nCtx, tokens.begin() + uint64_t(c + 1) * nCtx,
              chunk.begin());
    chunk[0] = gemmac_token_bos(m);
    gemmac_session_reset(s);
    for (uint32_t i = 0; i < nCtx; i += step) {
      int32_t n = static_cast<int32_t>(std::min(step, nCtx - i));
      if (gemmac_session_eval(s, chunk.data() + i, n, logits.data() + uint64_t(i) * V, 1) != 0)
        die(gemmac_last_error());
    }
    if (compare && !base.readChunk(c, baseLp, err))
      die(err);
    for (uint32_t r = 0; r < rows; ++r) {
      const float *row = logits.data() + uint64_t(first + r) * V;
      const int32_t next = chunk[first + r + 1];
      RowLogSoftmax ls = logSoftmax(row, V);
      const float norm = ls.max + static_cast<float>(ls.logSumExp);
      float *lpRow = lp.data() + uint64_t(r) * V;
      for (int32_t i = 0; i < V; ++i)
        lpRow[i] = row[i] - norm;
      const double v = ls.logSumExp - (row[next] - ls.max);
      nll.add(v);
      ++count;
      if (compare)
        kl.addRow(lpRow, baseLp.data() + uint64_t(r) * V, V, next, ls.argmax);
    }
    if (writer.isOpen() && !writer.writeRows(lp.data(), rows, err))
      die(err);
    if (compare) {
      auto a = kl.nll.mean(kl.count), b = kl.nllRef.mean(kl.count);
      auto k = kl.kld.mean(kl.count);
      std::printf("%4u  %10.4f    %10.5f          %10.6f ± %8.6f   %6.3f %%\n", c + 1,
                  std::exp(a.first), a.first - b.first, k.first, k.second,
                  100.0 * kl.sameTop / kl.count);
    } else {
      std::printf("[%u]%.4f,", c + 1, std::exp(nll.sum / count));
    }
    std::fflush(stdout);
    progress(c + 1, nChunk, seconds() - t0);
  }
  std::printf("\n");
  if (writer.isOpen() && !writer.close(err))
    die(err);
  if (compare) {
    std::printf("\n");
    printKLSummary(kl);
  } else {
    const double mean = nll.sum / count, ppl = std::exp(mean);
    double var = nll.sum2 / count - mean * mean;
    if (var > 0 && count > 1)
      std::printf("Final estimate: PPL = %.4f +/- %.5f\n", ppl, std::sqrt(var / (count - 1)) * ppl);
    else
      std::printf("Final estimate: PPL = %.4f\n", ppl);
  }
  gemmac_session_free(s);
  gemmac_model_close(m);
  return 0;
}

} // namespace gemmac::cli
