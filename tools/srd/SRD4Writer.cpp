//===- SRD4Writer.cpp - writes .srd4 sidecars -----------------------------===//

#include "tools/srd/SRD4Writer.h"
#include "support/PyJSON.h"
#include "formats/srd/SRDSupport.h"
#include "formats/srd/SRD4File.h"
#include "tools/srd/ZipWriter.h"

using namespace gemmac::srd;

llvm::Expected<std::vector<uint8_t>>
gemmac::srd::writeSRD4Bytes(const ResidualSource &source,
                            const SRD4WriteOptions &options) {
  auto tensors = source.tensors();
  std::vector<PyJSON> list;
  uint64_t offset = 0;
  for (const ResidualTensorInfo &t : tensors) {
    uint64_t nBlocks = uint64_t(t.rows) * t.groupsPerRow();
    PyJSON e = PyJSON::object();
    e.set("hf_name", PyJSON::string(t.name))
        .set("shape",
             PyJSON::array({PyJSON::integer(t.rows), PyJSON::integer(t.cols)}))
        .set("group_size", PyJSON::integer(kGroupSize))
        .set("n_blocks", PyJSON::integer(static_cast<int64_t>(nBlocks)))
        .set("offset", PyJSON::integer(static_cast<int64_t>(offset)))
        .set("n_bytes",
             PyJSON::integer(static_cast<int64_t>(nBlocks * kBlockBytes)));
    list.push_back(std::move(e));
    offset += nBlocks * kBlockBytes;
  }
  PyJSON blockFormat = PyJSON::object();
  blockFormat.set("block_bytes", PyJSON::integer(kBlockBytes))
      .set("w4_offset", PyJSON::integer(0))
      .set("w4_bytes", PyJSON::integer(32))
      .set("s4_offset", PyJSON::integer(kBlockS4Offset))
      .set("s4_bytes", PyJSON::integer(4))
      .set("d8_offset", PyJSON::integer(kBlockD8Offset))
      .set("d8_bytes", PyJSON::integer(kGroupSize))
      .set("s8_offset", PyJSON::integer(kBlockS8Offset))
      .set("s8_bytes", PyJSON::integer(4))
      .set("weights_per_block", PyJSON::integer(kGroupSize))
      .set("bpw_dense", PyJSON::number(13.0));
  PyJSON header = PyJSON::object();
  header.set("version", PyJSON::string("1.0"))
      .set("axiom_version", PyJSON::string("gemmac-srd-gen"))
      .set("fingerprint", PyJSON::string(options.fingerprint))
      .set("alpha", PyJSON::number(source.alpha()))
      .set("group_size", PyJSON::integer(kGroupSize))
      .set("top_k_pct", PyJSON::number(options.topKPct))
      .set("num_layers", PyJSON::integer(0))
      .set("chunk_map", PyJSON::object())
      .set("tensors", PyJSON::array(std::move(list)))
      .set("block_format", blockFormat);
  std::string text = header.indented();

  std::vector<uint8_t> out(SRD4File::kMagic, SRD4File::kMagic + 8);
  uint32_t len = static_cast<uint32_t>(text.size());
  for (int i = 0; i < 4; ++i)
    out.push_back(static_cast<uint8_t>(len >> (8 * i)));
  out.insert(out.end(), text.begin(), text.end());
  for (size_t i = 0; i < tensors.size(); ++i) {
    std::vector<SRDGroup> groups(tensors[i].groupsPerRow());
    for (int64_t r = 0; r < tensors[i].rows; ++r) {
      if (llvm::Error e = source.readRow(i, r, groups))
        return std::move(e);
      size_t at = out.size();
      out.resize(at + groups.size() * kBlockBytes);
      for (size_t g = 0; g < groups.size(); ++g)
        encodeBlock(groups[g], out.data() + at + g * kBlockBytes);
    }
  }
  return out;
}

llvm::Error gemmac::srd::writeSRD4(const ResidualSource &source,
                                   llvm::StringRef path,
                                   const SRD4WriteOptions &options) {
  auto bytes = writeSRD4Bytes(source, options);
  if (!bytes)
    return bytes.takeError();
  return writeFileBytes(path, *bytes);
}
