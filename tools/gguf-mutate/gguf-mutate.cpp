//===- gguf-mutate.cpp - writes malformed variants of a valid GGUF --------===//
//
// The malformed-input tests start from a valid generated model and damage it
// in one precise way, so each test shows one error message.
//
//   gguf-mutate IN.gguf MUTATION -o OUT.gguf
//
//===----------------------------------------------------------------------===//

#include "frontends/gguf/GGUFFile.h"
#include "frontends/gguf/GGUFWriter.h"

#include <cmath>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <string>
#include <vector>

using namespace gemmac::gguf;

namespace {

const char *kMutations[][2] = {
    {"bad-magic", "the first four bytes are not 'GGUF'"},
    {"bad-version", "GGUF version 7"},
    {"truncate-metadata", "the file ends inside the metadata"},
    {"truncate-data", "the file ends inside the tensor data"},
    {"offset-past-end", "a tensor's data offset points past the end"},
    {"absurd-dims", "a tensor claims 2^40 rows"},
    {"duplicate-key", "general.architecture appears twice"},
    {"duplicate-tensor", "two tensors share a name"},
    {"wrong-arch", "general.architecture is 'llama'"},
    {"missing-tensor", "blk.0.attn_q.weight is absent"},
    {"unknown-type", "a tensor has ggml type 99"},
    {"unsupported-type", "a tensor has type Q2_K (known, not supported)"},
    {"bad-shape", "blk.0.ffn_up.weight has the wrong number of rows"},
    {"bad-layer-array", "feed_forward_length has one entry too few"},
    {"huge-epsilon", "layer_norm_rms_epsilon is 1e30"},
    {"huge-window", "sliding_window is 2^32-1"},
    {"huge-context", "context_length is 2^32-1"},
    {"nan-score", "tokenizer.ggml.scores[3] is NaN"},
    {"quantized-norm", "blk.0.attn_norm.weight has type Q8_0"},
    {"sampling", "general.sampling.{temp,top_k,top_p} = 0.5, 7, 0.8 (valid)"},
    {"bad-sampling", "general.sampling.top_p is 2"},
};

int usage() {
  std::fprintf(stderr, "usage: gguf-mutate IN.gguf MUTATION -o OUT.gguf\nmutations:\n");
  for (auto &m : kMutations)
    std::fprintf(stderr, "  %-18s %s\n", m[0], m[1]);
  return 2;
}

std::vector<uint8_t> slurp(const std::string &path) {
  std::ifstream f(path, std::ios::binary);
  return std::vector<uint8_t>((std::istreambuf_iterator<char>(f)),
                              std::istreambuf_iterator<char>());
}

bool spit(const std::string &path, const std::vector<uint8_t> &bytes) {
  std::ofstream f(path, std::ios::binary);
  f.write(reinterpret_cast<const char *>(bytes.data()), bytes.size());
  return static_cast<bool>(f);
}

template <typename T> void poke(std::vector<uint8_t> &b, uint64_t at, T v) {
  std::memcpy(b.data() + at, &v, sizeof(T));
}

/// Overwrites a scalar metadata value in place, in the type it has.
bool pokeScalar(std::vector<uint8_t> &b, const GGUFFile &f,
                const std::string &key, double value) {
  const MetadataValue *v = f.find(key);
  if (!v) {
    std::fprintf(stderr, "gguf-mutate: the model has no key '%s'\n", key.c_str());
    return false;
  }
  switch (v->type) {
  case ValueType::UInt32: poke<uint32_t>(b, v->fileOffset, uint32_t(value)); return true;
  case ValueType::Int32: poke<int32_t>(b, v->fileOffset, int32_t(value)); return true;
  case ValueType::UInt64: poke<uint64_t>(b, v->fileOffset, uint64_t(value)); return true;
  case ValueType::Float32: poke<float>(b, v->fileOffset, float(value)); return true;
  case ValueType::Float64: poke<double>(b, v->fileOffset, value); return true;
  default:
    std::fprintf(stderr, "gguf-mutate: '%s' is not a 32/64-bit scalar\n", key.c_str());
    return false;
  }
}

/// Offsets of the fields of a tensor-info entry.
struct InfoFields {
  uint64_t ne, type, offset;
};
InfoFields fieldsOf(const TensorInfo &t) {
  uint64_t p = t.infoOffset + 8 + t.name.size() + 4;
  return {p, p + 8 * t.nDims, p + 8 * t.nDims + 4};
}

/// Rewrites the file through GGUFWriter, letting `edit` change metadata
/// (raw entries) and the tensor list.
struct Entry {
  std::string key;
  uint32_t type;
  std::vector<uint8_t> payload;
};
struct Tensor {
  std::string name;
  uint32_t type;
  std::vector<int64_t> ne;
  const uint8_t *data;
  uint64_t bytes;
};

int rewrite(const GGUFFile &f, const std::string &out,
            const std::function<void(std::vector<Entry> &,
                                     std::vector<Tensor> &)> &edit) {
  std::vector<Entry> entries;
  for (const std::string &k : f.keys()) {
    const MetadataValue *v = f.find(k);
    entries.push_back({k, static_cast<uint32_t>(v->type),
                       std::vector<uint8_t>(f.base() + v->fileOffset,
                                            f.base() + v->endOffset)});
  }
  std::vector<Tensor> tensors;
  for (const TensorInfo &t : f.tensors())
    tensors.push_back({t.name, t.type,
                       std::vector<int64_t>(t.ne, t.ne + t.nDims), t.data,
                       t.nbytes});
  edit(entries, tensors);
  GGUFWriter w;
  for (Entry &e : entries)
    w.addRaw(e.key, e.type, e.payload);
  for (Tensor &t : tensors)
    w.addTensor(t.name, t.type, t.ne);
  std::string err = w.write(out, [&](size_t i, uint8_t *dst) {
    std::memcpy(dst, tensors[i].data,
                std::min<uint64_t>(tensors[i].bytes, w.tensorBytes(i)));
  });
  if (!err.empty()) {
    std::fprintf(stderr, "gguf-mutate: %s\n", err.c_str());
    return 1;
  }
  return 0;
}

std::vector<uint8_t> stringPayload(const std::string &s) {
  std::vector<uint8_t> p(8);
  uint64_t n = s.size();
  std::memcpy(p.data(), &n, 8);
  p.insert(p.end(), s.begin(), s.end());
  return p;
}

} // namespace

int main(int argc, char **argv) {
  if (argc != 5 || std::string(argv[3]) != "-o")
    return usage();
  std::string in = argv[1], mutation = argv[2], out = argv[4];
  auto file = GGUFFile::open(in);
  if (!file) {
    std::fprintf(stderr, "gguf-mutate: %s\n",
                 llvm::toString(file.takeError()).c_str());
    return 1;
  }
  const GGUFFile &f = **file;
  std::vector<uint8_t> b = slurp(in);
  const TensorInfo &first = f.tensors().front();
  const TensorInfo &last = f.tensors().back();

  if (mutation == "bad-magic") {
    std::memcpy(b.data(), "GGML", 4);
  } else if (mutation == "bad-version") {
    poke<uint32_t>(b, 4, 7);
  } else if (mutation == "truncate-metadata") {
    b.resize(f.find("general.architecture")->endOffset + 40);
  } else if (mutation == "truncate-data") {
    b.resize(last.fileOffset(f.dataOffset()) + last.nbytes / 2);
  } else if (mutation == "offset-past-end") {
    poke<uint64_t>(b, fieldsOf(last).offset, (b.size() + 4096) / 32 * 32);
  } else if (mutation == "absurd-dims") {
    poke<int64_t>(b, fieldsOf(first).ne + 8, int64_t(1) << 40);
  } else if (mutation == "unknown-type") {
    poke<uint32_t>(b, fieldsOf(*f.findTensor("blk.0.attn_q.weight")).type, 99);
  } else if (mutation == "unsupported-type") {
    // Q2_K: 84 bytes per 256 weights; keep the byte size consistent by
    // declaring it on a tensor whose row is a multiple of 256.
    poke<uint32_t>(b, fieldsOf(*f.findTensor("blk.0.attn_q.weight")).type, 10);
  } else if (mutation == "duplicate-key") {
    return rewrite(f, out, [](auto &entries, auto &) {
      entries.push_back({"general.architecture", 8, stringPayload("gemma4")});
    });
  } else if (mutation == "duplicate-tensor") {
    return rewrite(f, out, [](auto &, auto &tensors) {
      tensors[2].name = tensors[1].name;
    });
  } else if (mutation == "wrong-arch") {
    return rewrite(f, out, [](auto &entries, auto &) {
      for (Entry &e : entries)
        if (e.key == "general.architecture")
          e.payload = stringPayload("llama");
    });
  } else if (mutation == "missing-tensor") {
    return rewrite(f, out, [](auto &, auto &tensors) {
      std::erase_if(tensors, [](const Tensor &t) {
        return t.name == "blk.0.attn_q.weight";
      });
    });
  } else if (mutation == "bad-shape") {
    return rewrite(f, out, [](auto &, auto &tensors) {
      for (Tensor &t : tensors)
        if (t.name == "blk.0.ffn_up.weight")
          t.ne[1] -= 32;
    });
  } else if (mutation == "bad-layer-array") {
    return rewrite(f, out, [&](auto &entries, auto &) {
      const MetadataValue *blocks = f.find("gemma4.block_count");
      uint32_t n = static_cast<uint32_t>(blocks->uintValue) - 1;
      std::vector<uint8_t> p(12 + 4 * n);
      uint32_t elem = 5; // int32
      uint64_t count = n;
      std::memcpy(p.data(), &elem, 4);
      std::memcpy(p.data() + 4, &count, 8);
      for (uint32_t i = 0; i < n; ++i) {
        int32_t v = 512;
        std::memcpy(p.data() + 12 + 4 * i, &v, 4);
      }
      for (Entry &e : entries)
        if (e.key == "gemma4.feed_forward_length") {
          e.type = 9;
          e.payload = p;
        }
    });
  } else if (mutation == "huge-epsilon") {
    if (!pokeScalar(b, f, "gemma4.attention.layer_norm_rms_epsilon", 1e30))
      return 1;
  } else if (mutation == "huge-window") {
    if (!pokeScalar(b, f, "gemma4.attention.sliding_window", 4294967295.0))
      return 1;
  } else if (mutation == "huge-context") {
    if (!pokeScalar(b, f, "gemma4.context_length", 4294967295.0))
      return 1;
  } else if (mutation == "sampling" || mutation == "bad-sampling") {
    return rewrite(f, out, [&](auto &entries, auto &) {
      auto scalar = [](auto v) {
        std::vector<uint8_t> p(sizeof v);
        std::memcpy(p.data(), &v, sizeof v);
        return p;
      };
      std::erase_if(entries, [](const Entry &e) {
        return e.key.rfind("general.sampling.", 0) == 0;
      });
      entries.push_back({"general.sampling.temp", 6, scalar(0.5f)});  // f32
      entries.push_back({"general.sampling.top_k", 5, scalar(int32_t{7})}); // i32
      entries.push_back({"general.sampling.top_p", 6,
                         scalar(mutation == "sampling" ? 0.8f : 2.0f)});
    });
  } else if (mutation == "quantized-norm") {
    poke<uint32_t>(b, fieldsOf(*f.findTensor("blk.0.attn_norm.weight")).type, 8);
  } else if (mutation == "nan-score") {
    const MetadataValue *scores = f.find("tokenizer.ggml.scores");
    if (!scores || scores->elemType != ValueType::Float32 || scores->count < 4) {
      std::fprintf(stderr, "gguf-mutate: no float32 tokenizer.ggml.scores\n");
      return 1;
    }
    // The array's payload follows its element type (u32) and count (u64).
    poke<float>(b, scores->fileOffset + 12 + 3 * 4, std::nanf(""));
  } else {
    std::fprintf(stderr, "gguf-mutate: unknown mutation '%s'\n",
                 mutation.c_str());
    return usage();
  }
  return spit(out, b) ? 0 : 1;
}
