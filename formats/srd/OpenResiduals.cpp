//===- OpenResiduals.cpp - one entry point for every residual format ------===//

#include "formats/srd/OpenResiduals.h"
#include "formats/srd/AXMContainer.h"
#include "formats/srd/SRD4File.h"
#include "support/BinaryReader.h"
#include "formats/srd/SRDSupport.h"
#include "formats/srd/SealedContainer.h"

#include "llvm/Support/ErrorHandling.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/FormatVariadic.h"

#include <cstdlib>
#include <cstring>

using namespace gemmac::srd;
using llvm::Expected;
using llvm::StringRef;

Expected<ResidualFormat> gemmac::srd::detectResidualFormat(StringRef path) {
  if (llvm::sys::fs::is_directory(path))
    return ResidualFormat::AXM;
  auto head = llvm::MemoryBuffer::getFileSlice(path, 8, 0, false);
  if (!head)
    return fileError(path, std::nullopt,
                     "cannot open: " + head.getError().message());
  StringRef h = (*head)->getBuffer();
  if (h.size() == 8 && std::memcmp(h.data(), SRD4File::kMagic, 8) == 0)
    return ResidualFormat::SRD4;
  if (h.size() == 8 && std::memcmp(h.data(), sealed::kMagic, 8) == 0)
    return ResidualFormat::Sealed;
  if (h.starts_with("PK"))
    return ResidualFormat::AXM;
  return fileError(path, 0,
                   "not an SRD residual file: neither a .srd4 sidecar, a "
                   "sealed container nor an .axm ZIP or directory");
}

static Expected<std::string> masterSecret(const ResidualOpenOptions &o) {
  if (o.master)
    return *o.master;
  const char *v = std::getenv(o.keyEnv.c_str());
  if (!v || !*v)
    return llvm::createStringError(
        llvm::inconvertibleErrorCode(),
        "the master key is not set: export " + o.keyEnv +
            " (the secret the residuals were signed with)");
  return std::string(v);
}

Expected<OpenedResiduals>
gemmac::srd::openResiduals(StringRef path, const ResidualOpenOptions &o) {
  auto format = detectResidualFormat(path);
  if (!format)
    return format.takeError();
  OpenedResiduals out;
  out.format = *format;
  switch (*format) {
  case ResidualFormat::SRD4: {
    auto f = SRD4File::open(path);
    if (!f)
      return f.takeError();
    out.source = std::move(*f);
    out.warnings.push_back(
        path.str() + ": a .srd4 sidecar carries no signature: its provenance "
                     "is not verified");
    return std::move(out);
  }
  case ResidualFormat::AXM: {
    auto master = masterSecret(o);
    if (!master)
      return master.takeError();
    auto c = AXMContainer::open(path);
    if (!c)
      return c.takeError();
    auto src = (*c)->verifiedResiduals(AxiomKeys::derive(*master, o.derivation),
                                       &out.fingerprint);
    if (!src)
      return src.takeError();
    out.source = std::move(*src);
    return std::move(out);
  }
  case ResidualFormat::Sealed: {
    SealedKeys keys;
    keys.publicKey = o.publicKey;
    if (!o.publicKey || o.master || std::getenv(o.keyEnv.c_str())) {
      auto master = masterSecret(o);
      if (!master)
        return master.takeError();
      keys.master = *master;
    }
    auto c = SealedContainer::open(path, keys);
    if (!c)
      return c.takeError();
    for (const std::string &n : (*c)->notes())
      out.warnings.push_back(path.str() + ": " + n);
    if (!o.allowPartial) {
      if (llvm::Error e = (*c)->damageError())
        return std::move(e);
    } else {
      for (const DamagedShard &d : (*c)->damagedShards())
        out.warnings.push_back(
            llvm::formatv("{0}: --allow-partial: rows [{1}, {2}) of {3} stay "
                          "uncorrected (damaged shard {4})",
                          path, d.rows.begin, d.rows.end, d.tensor, d.shard)
                .str());
    }
    out.fingerprint = (*c)->fingerprint().str();
    out.source = std::move(*c);
    return std::move(out);
  }
  }
  llvm_unreachable("unknown residual format");
}
