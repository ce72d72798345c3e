//===- AXMWriter.cpp - writes .axm containers as upstream packs them ------===//

#include "tools/srd/AXMWriter.h"
#include "support/PyJSON.h"
#include "tools/srd/SRD4Writer.h"
#include "support/BinaryReader.h"
#include "formats/srd/SRDSupport.h"
#include "tools/srd/TorchSave.h"
#include "tools/srd/ZipWriter.h"

#include "llvm/Support/ErrorHandling.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/Path.h"

#include <algorithm>
#include <cstring>

using namespace gemmac::srd;
using llvm::Expected;

static std::vector<uint8_t> bytesOfText(const std::string &s) {
  return std::vector<uint8_t>(s.begin(), s.end());
}

static std::string signHex(const Digest &key, const PyJSON &payload) {
  return toHex(hmacSha256(key, bytesOf(payload.canonical())));
}

Expected<AXMFiles> gemmac::srd::buildRealPack(const ResidualSource &source,
                                              double topKPct) {
  TorchValue blob = TorchValue::dict();
  std::vector<PyJSON> layers;
  std::vector<std::string> names;
  auto tensors = source.tensors();
  for (size_t i = 0; i < tensors.size(); ++i) {
    const ResidualTensorInfo &t = tensors[i];
    int64_t gpr = t.groupsPerRow(), n = t.rows * t.cols;
    std::vector<uint8_t> w4(n / 2), mask((n + 7) / 8, 0), vals;
    std::vector<uint8_t> s4(t.rows * gpr * 4), s8(t.rows * gpr * 4);
    std::vector<SRDGroup> groups(gpr);
    for (int64_t r = 0; r < t.rows; ++r) {
      if (llvm::Error e = source.readRow(i, r, groups))
        return std::move(e);
      for (int64_t g = 0; g < gpr; ++g) {
        const SRDGroup &G = groups[g];
        for (int j = 0; j < kGroupSize / 2; ++j)
          w4[r * (t.cols / 2) + g * 32 + j] = static_cast<uint8_t>(
              ((G.w4[2 * j] + 8) & 15) | (((G.w4[2 * j + 1] + 8) & 15) << 4));
        for (int k = 0; k < kGroupSize; ++k)
          if (G.d8[k]) {
            int64_t bit = r * t.cols + g * kGroupSize + k;
            mask[bit >> 3] |= static_cast<uint8_t>(1u << (bit & 7));
            vals.push_back(static_cast<uint8_t>(G.d8[k]));
          }
        std::memcpy(&s4[(r * gpr + g) * 4], &G.s4, 4);
        std::memcpy(&s8[(r * gpr + g) * 4], &G.s8, 4);
      }
    }
    int64_t nnz = static_cast<int64_t>(vals.size());
    TorchValue entry = TorchValue::dict();
    entry
        .add("w4_packed",
             TorchValue::tensor("ByteStorage", {t.rows, t.cols / 2},
                                std::move(w4)))
        .add("orig_cols", TorchValue::integerValue(t.cols))
        .add("d8_mask",
             TorchValue::tensor("ByteStorage", {(n + 7) / 8}, std::move(mask)))
        .add("d8_vals",
             TorchValue::tensor("CharStorage", {nnz}, std::move(vals)))
        .add("d8_shape", TorchValue::tuple({TorchValue::integerValue(t.rows),
                                            TorchValue::integerValue(t.cols)}))
        .add("s4",
             TorchValue::tensor("FloatStorage", {t.rows, gpr}, std::move(s4)))
        .add("s8",
             TorchValue::tensor("FloatStorage", {t.rows, gpr}, std::move(s8)))
        .add("group_size", TorchValue::integerValue(kGroupSize))
        .add("top_k_pct", TorchValue::floatValue(topKPct))
        .add("original_dtype", TorchValue::stringValue("float16"));
    blob.add(t.name, std::move(entry));
    names.push_back(t.name);
  }
  std::sort(names.begin(), names.end());
  for (auto &n : names)
    layers.push_back(PyJSON::string(n));
  PyJSON index = PyJSON::object();
  index.set("packed", PyJSON::boolean(true))
      .set("scheme", PyJSON::string("srd"))
      .set("alpha", PyJSON::number(source.alpha()))
      .set("group_size", PyJSON::integer(kGroupSize))
      .set("top_k_pct", PyJSON::number(topKPct))
      .set("n_quantized", PyJSON::integer(static_cast<int64_t>(names.size())))
      .set("layers", PyJSON::array(std::move(layers)));
  // The dense checkpoint: the unquantized parameters (one norm, in FP16).
  TorchValue dense = TorchValue::dict();
  dense.add(
      "model.norm.weight",
      TorchValue::tensor("HalfStorage", {64}, std::vector<uint8_t>(128, 0x3C)));
  PyJSON config = PyJSON::object();
  config.set("model_type", PyJSON::string("gemma4"));

  AXMFiles files;
  files.emplace_back("config.json", bytesOfText(config.indented()));
  files.emplace_back("srd_dense.pt", torchSave(dense, "srd_dense"));
  files.emplace_back("srd_packed.pt", torchSave(blob, "srd_packed"));
  files.emplace_back("srd_index.json", bytesOfText(index.indented(true)));
  return files;
}

Expected<AXMFiles> gemmac::srd::buildAXM(const ResidualSource &source,
                                         const AXMWriteOptions &o,
                                         std::string *fingerprint,
                                         const AlterWeights &alterWeights) {
  AxiomKeys keys = AxiomKeys::derive(o.master, o.derivation);
  AXMFiles files;
  auto add = [&](std::string rel, std::vector<uint8_t> bytes) {
    files.emplace_back(std::move(rel), std::move(bytes));
  };
  auto find = [&](const std::string &rel) -> const std::vector<uint8_t> & {
    for (auto &f : files)
      if (f.first == rel)
        return f.second;
    llvm_unreachable("file not written");
  };

  PyJSON quantMap = PyJSON::object();
  quantMap.set("scheme", PyJSON::string("srd"))
      .set("group_size", PyJSON::integer(kGroupSize))
      .set("top_k_pct", PyJSON::number(o.topKPct))
      .set("bpw", PyJSON::number(5.0))
      .set("alpha", PyJSON::number(source.alpha()))
      .set("packed", PyJSON::boolean(o.layout == ResidualLayout::RealPack));
  PyJSON core = PyJSON::object();
  core.set("name", PyJSON::string(o.coreLogic))
      .set("params", PyJSON::string("test"))
      .set("quant_map", quantMap);
  add("core/core.json", bytesOfText(core.indented()));

  std::vector<std::string> delegateNames;
  if (o.withDelegate) {
    PyJSON payload = PyJSON::object();
    payload.set("name", PyJSON::string("summarize"))
        .set("when_condition", PyJSON::string("always"))
        .set("intent_classes", PyJSON::array({PyJSON::string("INFORM")}))
        .set("weight_manifest",
             PyJSON::string("delegates/summarize/weights.bin"));
    PyJSON signedD = payload;
    signedD.set("signature", PyJSON::string(signHex(keys.delegate, payload)));
    add("delegates/summarize/skill.json", bytesOfText(signedD.indented()));
    delegateNames.push_back("summarize");
  }
  if (o.withRecords) {
    PyJSON t = PyJSON::object();
    t.set("id", PyJSON::string("t0"))
        .set("task_pattern", PyJSON::string("compile"))
        .set("action_sequence",
             PyJSON::array({PyJSON::string("verify"), PyJSON::string("fold")}));
    PyJSON ts = t;
    ts.set("signature", PyJSON::string(signHex(keys.proof, t)));
    add("trajectories/history.jsonl", bytesOfText(ts.oneLine() + "\n"));
    PyJSON v = PyJSON::object();
    v.set("semantic_class", PyJSON::string("weights"))
        .set("vertex_cluster", PyJSON::string("srd"));
    PyJSON vs = v;
    vs.set("signature", PyJSON::string(signHex(keys.proof, v)));
    add("vertices.json", bytesOfText(PyJSON::array({vs}).indented()));
  }

  // Weights and their manifest (sorted keys, indent 2, as upstream).
  AXMFiles weights;
  if (o.layout == ResidualLayout::SRD4File) {
    auto srd4 = writeSRD4Bytes(source, {"", o.topKPct});
    if (!srd4)
      return srd4.takeError();
    weights.emplace_back(o.srd4Name, std::move(*srd4));
  } else {
    auto trio = buildRealPack(source, o.topKPct);
    if (!trio)
      return trio.takeError();
    weights = std::move(*trio);
  }
  if (alterWeights)
    alterWeights(weights);
  PyJSON manifest = PyJSON::object();
  for (auto &[rel, bytes] : weights) {
    manifest.set(rel, PyJSON::string(toHex(sha256(bytes))));
    add("weights/" + rel, std::move(bytes));
  }
  add("weights/manifest.json", bytesOfText(manifest.indented(true)));

  // The header after the delegates, as upstream (its list names them).
  std::vector<PyJSON> dn;
  for (auto &d : delegateNames)
    dn.push_back(PyJSON::string(d));
  PyJSON header = PyJSON::object();
  header.set("format_version", PyJSON::string("0.1-concept"))
      .set("core_logic", PyJSON::string(o.coreLogic))
      .set("quant_map", quantMap)
      .set("delegates", PyJSON::array(std::move(dn)))
      .set("safety_proofs", PyJSON::boolean(true))
      .set("hardware_map", PyJSON::string("compile_on_load"));
  std::string signature = signHex(keys.container, header);
  header.set("signature", PyJSON::string(signature));
  add("header.json", bytesOfText(header.indented()));
  if (fingerprint)
    *fingerprint =
        toHex(hmacSha256(keys.container, bytesOf(signature))).substr(0, 8);

  // The ledger: one signed line per covered file.
  std::vector<std::pair<std::string, std::string>> targets = {
      {"header", "header.json"}, {"core", "core/core.json"}};
  for (auto &d : delegateNames)
    targets.push_back({"delegate:" + d, "delegates/" + d + "/skill.json"});
  if (o.withRecords)
    targets.push_back({"vertices", "vertices.json"});
  targets.push_back({"weights_manifest", "weights/manifest.json"});
  std::string ledger;
  for (auto &[subject, rel] : targets) {
    PyJSON payload = PyJSON::object();
    payload.set("subject", PyJSON::string(subject))
        .set("claim", PyJSON::string("module integrity at pack time"))
        .set("file_sha", PyJSON::string(toHex(sha256(find(rel)))));
    PyJSON line = payload;
    line.set("signature", PyJSON::string(signHex(keys.proof, payload)));
    ledger += line.oneLine() + "\n";
  }
  add("proofs/ledger.jsonl", bytesOfText(ledger));
  return files;
}

llvm::Error gemmac::srd::writeAXMDirectory(const AXMFiles &files,
                                           llvm::StringRef dir) {
  if (llvm::sys::fs::exists(dir))
    if (std::error_code ec = llvm::sys::fs::remove_directories(dir))
      return fileError(dir, std::nullopt, "cannot replace: " + ec.message());
  for (auto &[rel, bytes] : files) {
    llvm::SmallString<256> p(dir);
    llvm::sys::path::append(p, rel);
    if (llvm::Error e = writeFileBytes(p, bytes))
      return e;
  }
  return llvm::Error::success();
}

llvm::Error gemmac::srd::writeAXMZip(const AXMFiles &files,
                                     llvm::StringRef path) {
  ZipWriter zip;
  for (auto &[rel, bytes] : files)
    zip.add(rel, bytes, ZipWriter::Method::Deflate, 0, 1);
  return zip.writeTo(path);
}
