//===- ZipArchive.cpp - a defensive ZIP reader ----------------------------===//

#include "support/ZipArchive.h"
#include "support/BinaryReader.h"
#include "support/Crypto.h"

#include "llvm/ADT/StringExtras.h"
#include "llvm/Support/FormatVariadic.h"

#include <zlib.h>

#include <algorithm>
#include <cstring>

using namespace gemmac::support;
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

} // namespace

uint32_t gemmac::support::crc32(llvm::ArrayRef<uint8_t> data) {
  uLong crc = ::crc32(0L, Z_NULL, 0);
  // zlib takes uInt lengths: feed large buffers in pieces.
  const uint8_t *p = data.data();
  size_t n = data.size();
  while (n) {
    uInt chunk = n > (1u << 30) ? (1u << 30) : static_cast<uInt>(n);
    crc = ::crc32(crc, p, chunk);
    p += chunk;
    n -= chunk;
  }
  return static_cast<uint32_t>(crc);
}

Expected<std::unique_ptr<ZipArchive>> ZipArchive::open(StringRef path) {
  return openAs<ZipArchive>(path);
}

Expected<std::unique_ptr<ZipArchive>>
ZipArchive::parse(std::unique_ptr<llvm::MemoryBuffer> buffer, StringRef name) {
  return parseAs<ZipArchive>(std::move(buffer), name);
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

namespace {
/// Where the central directory lies, from the end record (ZIP64 included).
struct CentralDirectory {
  uint64_t entries = 0;
  uint64_t offset = 0;
  uint64_t size = 0;
};

Expected<CentralDirectory> findCentralDirectory(const BinaryReader &in) {
  const uint64_t n = in.size();
  // The end record is the last 22 bytes plus a comment of up to 64 KiB; the
  // right one is the last whose comment length reaches the end exactly.
  std::optional<uint64_t> end;
  uint64_t lowest = n >= kEndSize + 0xFFFF ? n - kEndSize - 0xFFFF : 0;
  for (uint64_t p = n >= kEndSize ? n - kEndSize + 1 : 0; p-- > lowest;) {
    if (in.at<uint32_t>(p) == kEndSig &&
        p + kEndSize + in.at<uint16_t>(p + 20) == n) {
      end = p;
      break;
    }
  }
  if (!end)
    return in.error("no end-of-central-directory record in the last " +
                    llvm::Twine(std::min<uint64_t>(n, kEndSize + 0xFFFF)) +
                    " bytes: the archive is truncated or is not a ZIP");
  uint64_t entries = in.at<uint16_t>(*end + 10);
  uint64_t cdSize = in.at<uint32_t>(*end + 12);
  uint64_t cdOffset = in.at<uint32_t>(*end + 16);
  uint64_t cdLimit = *end; // the central directory ends before this
  if (in.at<uint16_t>(*end + 4) != 0 || in.at<uint16_t>(*end + 6) != 0)
    return in.error("multi-disk archives are not supported", *end);
  if (entries == 0xFFFF || cdSize == 0xFFFFFFFF || cdOffset == 0xFFFFFFFF) {
    if (*end < 20 || in.at<uint32_t>(*end - 20) != kZip64LocatorSig)
      return in.error("ZIP64 fields without a ZIP64 locator", *end);
    uint64_t z64 = in.at<uint64_t>(*end - 20 + 8);
    if (z64 > *end - 20 || *end - 20 - z64 < 56 ||
        in.at<uint32_t>(z64) != kZip64EndSig)
      return in.error("ZIP64 end record at offset " + llvm::Twine(z64) +
                          " is missing or truncated",
                      *end - 20);
    entries = in.at<uint64_t>(z64 + 32);
    cdSize = in.at<uint64_t>(z64 + 40);
    cdOffset = in.at<uint64_t>(z64 + 48);
    cdLimit = z64;
  }
  if (cdOffset > cdLimit || cdSize > cdLimit - cdOffset)
    return in.error("central directory [" + llvm::Twine(cdOffset) + ", +" +
                        llvm::Twine(cdSize) +
                        ") does not fit before the end record: the archive is "
                        "truncated or damaged",
                    *end);
  return CentralDirectory{entries, cdOffset, cdSize};
}
} // namespace

Error ZipArchive::parseAll() {
  const uint8_t *b = base();
  // Every read below lies inside a range checked against the file (or the
  // central directory) first.
  const BinaryReader in = reader();
  auto cd = findCentralDirectory(in);
  if (!cd)
    return cd.takeError();
  const uint64_t entries = cd->entries, cdOffset = cd->offset,
                 cdSize = cd->size;

  uint64_t p = cdOffset;
  for (uint64_t i = 0; i < entries; ++i) {
    if (cdOffset + cdSize - p < kCentralSize ||
        in.at<uint32_t>(p) != kCentralSig)
      return error("central directory entry " + llvm::Twine(i) +
                       " is missing or truncated",
                   p);
    ZipMember m;
    uint16_t flags = in.at<uint16_t>(p + 8);
    m.method = in.at<uint16_t>(p + 10);
    m.crc32 = in.at<uint32_t>(p + 16);
    m.compressedSize = in.at<uint32_t>(p + 20);
    m.size = in.at<uint32_t>(p + 24);
    uint16_t nameLen = in.at<uint16_t>(p + 28),
             extraLen = in.at<uint16_t>(p + 30),
             commentLen = in.at<uint16_t>(p + 32);
    m.localHeaderOffset = in.at<uint32_t>(p + 42);
    m.centralOffset = p;
    uint64_t varLen = uint64_t(nameLen) + extraLen + commentLen;
    if (cdOffset + cdSize - p - kCentralSize < varLen)
      return error("central directory entry " + llvm::Twine(i) +
                       ": name and extra fields run past the directory",
                   p);
    m.name.assign(reinterpret_cast<const char *>(b + p + kCentralSize),
                  nameLen);
    // ZIP64 sizes and offsets replace the 32-bit fields that are all ones.
    const uint64_t xAt = p + kCentralSize + nameLen;
    for (uint64_t q = 0; q + 4 <= extraLen;) {
      uint16_t id = in.at<uint16_t>(xAt + q),
               len = in.at<uint16_t>(xAt + q + 2);
      if (q + 4 + len > extraLen)
        return error("member " + m.name + ": extra field runs past its end", p);
      if (id == 0x0001) {
        uint64_t r = q + 4, stop = q + 4 + len;
        auto take = [&](uint64_t &field) -> bool {
          if (r + 8 > stop)
            return false;
          field = in.at<uint64_t>(xAt + r);
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
        in.at<uint32_t>(lh) != kLocalSig)
      return error("member " + m.name + ": local header at offset " +
                       llvm::Twine(lh) + " is missing or damaged",
                   m.centralOffset);
    uint64_t dataOff =
        lh + kLocalSize + in.at<uint16_t>(lh + 26) + in.at<uint16_t>(lh + 28);
    if (dataOff > cdOffset || m.compressedSize > cdOffset - dataOff)
      return error("member " + m.name + ": data [" + llvm::Twine(dataOff) +
                       ", " + llvm::Twine(dataOff + m.compressedSize) +
                       ") runs into the central directory at " +
                       llvm::Twine(cdOffset) +
                       ": the archive is truncated or damaged",
                   lh);
    StringRef localName(reinterpret_cast<const char *>(b + lh + kLocalSize),
                        std::min<uint64_t>(in.at<uint16_t>(lh + 26),
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
  std::string display = (fileName() + ":" + m.name).str();
  llvm::ArrayRef<uint8_t> raw(base() + m.dataOffset, m.compressedSize);
  std::unique_ptr<llvm::MemoryBuffer> out;
  if (m.method == 0) {
    out = llvm::MemoryBuffer::getMemBuffer(
        StringRef(reinterpret_cast<const char *>(raw.data()), raw.size()),
        display, /*RequiresNullTerminator=*/false);
  } else {
    // Deflate expands at most 1032:1: a larger declared size is a lie (a
    // zip bomb's header), refused before its buffer is allocated.
    if (m.size > m.compressedSize * 1032 + 1024)
      return error("member " + m.name + " claims " + llvm::Twine(m.size) +
                       " bytes from " + llvm::Twine(m.compressedSize) +
                       " compressed, more than deflate can expand to",
                   m.localHeaderOffset);
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
