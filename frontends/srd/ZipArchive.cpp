//===- ZipArchive.cpp - a defensive ZIP reader ----------------------------===//

#include "frontends/srd/ZipArchive.h"
#include "frontends/srd/Crypto.h"
#include "frontends/srd/SRDError.h"

#include "llvm/ADT/StringExtras.h"
#include "llvm/Support/FormatVariadic.h"

#include <zlib.h>

#include <algorithm>
#include <cstring>

using namespace gemmac::srd;
using llvm::Error;
using llvm::Expected;
using llvm::StringRef;

namespace {
constexpr uint32_t kLocalSig = 0x04034b50;
constexpr uint32_t kCentralSig = 0x02014b50;
constexpr uint32_t kEndSig = 0x06054b50;
constexpr uint32_t kZip64LocatorSig = 0x07064b50;
constexpr uint32_t kZip64EndSig = 0x06064b50;
constexpr uint64_t kEndSize = 22;
constexpr uint64_t kCentralSize = 46;
constexpr uint64_t kLocalSize = 30;
// Members are held in memory: refuse sizes no real checkpoint reaches rather
// than let a forged header ask for an absurd allocation.
constexpr uint64_t kMaxMemberSize = uint64_t(1) << 40;

template <typename T> T le(const uint8_t *p) {
  T v;
  std::memcpy(&v, p, sizeof(T));
  return v;
}
} // namespace

Error ZipArchive::error(const llvm::Twine &message,
                        std::optional<uint64_t> offset) const {
  return fileError(name_, offset, message);
}

Expected<std::unique_ptr<ZipArchive>> ZipArchive::open(StringRef path) {
  auto buffer = llvm::MemoryBuffer::getFile(path, /*IsText=*/false,
                                            /*RequiresNullTerminator=*/false);
  if (!buffer)
    return fileError(path, std::nullopt,
                     "cannot open: " + buffer.getError().message());
  return parse(std::move(*buffer), path);
}

Expected<std::unique_ptr<ZipArchive>>
ZipArchive::parse(std::unique_ptr<llvm::MemoryBuffer> buffer, StringRef name) {
  std::unique_ptr<ZipArchive> z(new ZipArchive());
  z->name_ = name.str();
  z->buffer_ = std::move(buffer);
  if (Error e = z->parseAll())
    return std::move(e);
  return std::move(z);
}

std::string ZipArchive::unsafeNameReason(StringRef name) {
  if (name.empty())
    return "empty name";
  if (name.contains('\0'))
    return "NUL byte in the name";
  if (name.contains('\\'))
    return "backslash in the name (a Windows path separator)";
  if (name.starts_with("/"))
    return "absolute path";
  if (name.size() >= 2 && name[1] == ':' && llvm::isAlpha(name[0]))
    return "drive letter";
  StringRef rest = name;
  if (rest.ends_with("/"))
    rest = rest.drop_back(); // a directory entry
  llvm::SmallVector<StringRef, 8> parts;
  rest.split(parts, '/', -1, /*KeepEmpty=*/true);
  for (StringRef p : parts) {
    if (p == "..")
      return "\"..\" component escapes the archive root";
    if (p == ".")
      return "\".\" component";
    if (p.empty())
      return "empty path component";
  }
  return "";
}

Error ZipArchive::parseAll() {
  const uint8_t *b = base();
  const uint64_t n = size();

  // The end record is the last 22 bytes plus a comment of up to 64 KiB; the
  // right one is the last whose comment length reaches the end exactly.
  std::optional<uint64_t> end;
  uint64_t lowest = n >= kEndSize + 0xFFFF ? n - kEndSize - 0xFFFF : 0;
  for (uint64_t p = n >= kEndSize ? n - kEndSize + 1 : 0; p-- > lowest;) {
    if (le<uint32_t>(b + p) == kEndSig &&
        p + kEndSize + le<uint16_t>(b + p + 20) == n) {
      end = p;
      break;
    }
  }
  if (!end)
    return error("no end-of-central-directory record in the last " +
                 llvm::Twine(std::min<uint64_t>(n, kEndSize + 0xFFFF)) +
                 " bytes: the archive is truncated or is not a ZIP");
  const uint8_t *e = b + *end;
  uint64_t entries = le<uint16_t>(e + 10);
  uint64_t cdSize = le<uint32_t>(e + 12);
  uint64_t cdOffset = le<uint32_t>(e + 16);
  uint64_t cdLimit = *end; // the central directory ends before this
  if (le<uint16_t>(e + 4) != 0 || le<uint16_t>(e + 6) != 0)
    return error("multi-disk archives are not supported", *end);
  if (entries == 0xFFFF || cdSize == 0xFFFFFFFF || cdOffset == 0xFFFFFFFF) {
    if (*end < 20 || le<uint32_t>(b + *end - 20) != kZip64LocatorSig)
      return error("ZIP64 fields without a ZIP64 locator", *end);
    uint64_t z64 = le<uint64_t>(b + *end - 20 + 8);
    if (z64 > *end - 20 || *end - 20 - z64 < 56 ||
        le<uint32_t>(b + z64) != kZip64EndSig)
      return error("ZIP64 end record at offset " + llvm::Twine(z64) +
                       " is missing or truncated",
                   *end - 20);
    entries = le<uint64_t>(b + z64 + 32);
    cdSize = le<uint64_t>(b + z64 + 40);
    cdOffset = le<uint64_t>(b + z64 + 48);
    cdLimit = z64;
  }
  if (cdOffset > cdLimit || cdSize > cdLimit - cdOffset)
    return error("central directory [" + llvm::Twine(cdOffset) + ", +" +
                     llvm::Twine(cdSize) +
                     ") does not fit before the end record: the archive is "
                     "truncated or damaged",
                 *end);

  uint64_t p = cdOffset;
  for (uint64_t i = 0; i < entries; ++i) {
    if (cdOffset + cdSize - p < kCentralSize ||
        le<uint32_t>(b + p) != kCentralSig)
      return error("central directory entry " + llvm::Twine(i) +
                       " is missing or truncated",
                   p);
    const uint8_t *c = b + p;
    ZipMember m;
    uint16_t flags = le<uint16_t>(c + 8);
    m.method = le<uint16_t>(c + 10);
    m.crc32 = le<uint32_t>(c + 16);
    m.compressedSize = le<uint32_t>(c + 20);
    m.size = le<uint32_t>(c + 24);
    uint16_t nameLen = le<uint16_t>(c + 28), extraLen = le<uint16_t>(c + 30),
             commentLen = le<uint16_t>(c + 32);
    m.localHeaderOffset = le<uint32_t>(c + 42);
    m.centralOffset = p;
    uint64_t varLen = uint64_t(nameLen) + extraLen + commentLen;
    if (cdOffset + cdSize - p - kCentralSize < varLen)
      return error("central directory entry " + llvm::Twine(i) +
                       ": name and extra fields run past the directory",
                   p);
    m.name.assign(reinterpret_cast<const char *>(c + kCentralSize), nameLen);
    // ZIP64 sizes and offsets replace the 32-bit fields that are all ones.
    const uint8_t *x = c + kCentralSize + nameLen;
    for (uint64_t q = 0; q + 4 <= extraLen;) {
      uint16_t id = le<uint16_t>(x + q), len = le<uint16_t>(x + q + 2);
      if (q + 4 + len > extraLen)
        return error("member " + m.name + ": extra field runs past its end", p);
      if (id == 0x0001) {
        uint64_t r = q + 4, stop = q + 4 + len;
        auto take = [&](uint64_t &field) -> bool {
          if (r + 8 > stop)
            return false;
          field = le<uint64_t>(x + r);
          r += 8;
          return true;
        };
        if ((m.size == 0xFFFFFFFF && !take(m.size)) ||
            (m.compressedSize == 0xFFFFFFFF && !take(m.compressedSize)) ||
            (m.localHeaderOffset == 0xFFFFFFFF && !take(m.localHeaderOffset)))
          return error("member " + m.name + ": ZIP64 extra field too short", p);
      }
      q += 4 + len;
    }
    p += kCentralSize + varLen;

    std::string why = unsafeNameReason(m.name);
    if (!why.empty())
      return error("member \"" + m.name + "\" escapes the archive root: " + why,
                   m.centralOffset);
    if (flags & 1)
      return error("member " + m.name + " is encrypted", m.centralOffset);
    if (m.name.back() == '/')
      continue; // a directory entry: nothing to read
    if (m.method != 0 && m.method != 8)
      return error("member " + m.name + ": compression method " +
                       llvm::Twine(m.method) +
                       " is not supported (stored or deflate only)",
                   m.centralOffset);
    if (m.method == 0 && m.compressedSize != m.size)
      return error("member " + m.name +
                       ": stored, yet its compressed and plain sizes differ",
                   m.centralOffset);
    if (m.size > kMaxMemberSize)
      return error("member " + m.name + " claims " + llvm::Twine(m.size) +
                       " bytes, more than the 1 TiB limit",
                   m.centralOffset);
    uint64_t lh = m.localHeaderOffset;
    if (lh > cdOffset || cdOffset - lh < kLocalSize ||
        le<uint32_t>(b + lh) != kLocalSig)
      return error("member " + m.name + ": local header at offset " +
                       llvm::Twine(lh) + " is missing or damaged",
                   m.centralOffset);
    uint64_t dataOff =
        lh + kLocalSize + le<uint16_t>(b + lh + 26) + le<uint16_t>(b + lh + 28);
    if (dataOff > cdOffset || m.compressedSize > cdOffset - dataOff)
      return error("member " + m.name + ": data [" + llvm::Twine(dataOff) +
                       ", " + llvm::Twine(dataOff + m.compressedSize) +
                       ") runs into the central directory at " +
                       llvm::Twine(cdOffset) +
                       ": the archive is truncated or damaged",
                   lh);
    StringRef localName(reinterpret_cast<const char *>(b + lh + kLocalSize),
                        std::min<uint64_t>(le<uint16_t>(b + lh + 26),
                                           cdOffset - lh - kLocalSize));
    if (localName != m.name)
      return error("member " + m.name + ": its local header names \"" +
                       localName + "\"",
                   lh);
    m.dataOffset = dataOff;
    if (!index_.try_emplace(m.name, members_.size()).second)
      return error("duplicate member " + m.name, m.centralOffset);
    members_.push_back(std::move(m));
  }
  if (p != cdOffset + cdSize)
    return error("central directory holds " + llvm::Twine(p - cdOffset) +
                     " bytes of entries, the end record says " +
                     llvm::Twine(cdSize),
                 cdOffset);

  // Members must not share bytes (overlapping members are a ZIP-bomb trick
  // and make "which member changed" ambiguous).
  std::vector<const ZipMember *> order;
  for (auto &m : members_)
    order.push_back(&m);
  std::sort(order.begin(), order.end(), [](auto *a, auto *b) {
    return a->localHeaderOffset < b->localHeaderOffset;
  });
  for (size_t k = 1; k < order.size(); ++k)
    if (order[k]->localHeaderOffset <
        order[k - 1]->dataOffset + order[k - 1]->compressedSize)
      return error("member " + order[k]->name + " overlaps member " +
                       order[k - 1]->name,
                   order[k]->localHeaderOffset);
  return Error::success();
}

const ZipMember *ZipArchive::find(StringRef name) const {
  auto it = index_.find(name);
  return it == index_.end() ? nullptr : &members_[it->second];
}

Expected<std::unique_ptr<llvm::MemoryBuffer>>
ZipArchive::read(const ZipMember &m, bool checkCRC) const {
  std::string display = name_ + ":" + m.name;
  llvm::ArrayRef<uint8_t> raw(base() + m.dataOffset, m.compressedSize);
  std::unique_ptr<llvm::MemoryBuffer> out;
  if (m.method == 0) {
    out = llvm::MemoryBuffer::getMemBuffer(
        StringRef(reinterpret_cast<const char *>(raw.data()), raw.size()),
        display, /*RequiresNullTerminator=*/false);
  } else {
    auto buf =
        llvm::WritableMemoryBuffer::getNewUninitMemBuffer(m.size, display);
    if (!buf)
      return error("member " + m.name + ": cannot allocate " +
                   llvm::Twine(m.size) + " bytes");
    z_stream zs;
    std::memset(&zs, 0, sizeof zs);
    if (inflateInit2(&zs, -MAX_WBITS) != Z_OK)
      return error("member " + m.name + ": zlib initialisation failed");
    const uint8_t *in = raw.data();
    uint64_t inLeft = raw.size();
    uint8_t *dst = reinterpret_cast<uint8_t *>(buf->getBufferStart());
    uint64_t outLeft = m.size;
    int rc = Z_OK;
    uint8_t spill; // catches output beyond the recorded size
    while (rc == Z_OK) {
      uInt inChunk = static_cast<uInt>(std::min<uint64_t>(inLeft, 1u << 30));
      uInt outChunk = static_cast<uInt>(std::min<uint64_t>(outLeft, 1u << 30));
      zs.next_in = const_cast<Bytef *>(in);
      zs.avail_in = inChunk;
      zs.next_out = outChunk ? dst : &spill;
      zs.avail_out = outChunk ? outChunk : 1;
      rc = inflate(&zs, Z_NO_FLUSH);
      uint64_t usedIn = inChunk - zs.avail_in;
      uint64_t made = (outChunk ? outChunk : 1) - zs.avail_out;
      in += usedIn;
      inLeft -= usedIn;
      if (!outChunk && made) {
        inflateEnd(&zs);
        return error("member " + m.name +
                         ": inflates to more than its recorded " +
                         llvm::Twine(m.size) + " bytes",
                     m.dataOffset);
      }
      dst += made;
      outLeft -= made;
      if (rc == Z_BUF_ERROR && inLeft == 0)
        break;
      if (rc == Z_OK && usedIn == 0 && made == 0)
        break; // no progress
    }
    inflateEnd(&zs);
    if (rc != Z_STREAM_END)
      return error(
          "member " + m.name + ": deflate data is damaged or truncated (" +
              (zs.msg ? StringRef(zs.msg) : StringRef("ends early")) + ")",
          m.dataOffset + (raw.size() - inLeft));
    if (outLeft != 0)
      return error("member " + m.name + ": inflates to " +
                       llvm::Twine(m.size - outLeft) +
                       " bytes, its header says " + llvm::Twine(m.size),
                   m.dataOffset);
    out = std::move(buf);
  }
  if (checkCRC) {
    uint32_t crc = crc32(llvm::ArrayRef<uint8_t>(
        reinterpret_cast<const uint8_t *>(out->getBufferStart()),
        out->getBufferSize()));
    if (crc != m.crc32)
      return error(llvm::formatv("member {0}: CRC-32 {1:x8} does not match the "
                                 "recorded {2:x8}: its bytes were changed",
                                 m.name, crc, m.crc32)
                       .str(),
                   m.dataOffset);
  }
  return std::move(out);
}
