//===- ZipWriter.cpp - writes small ZIP archives --------------------------===//

#include "tools/srd/ZipWriter.h"
#include "formats/srd/SRDSupport.h"
#include "support/BinaryReader.h"
#include "support/Crypto.h"
#include "support/ZipArchive.h"

#include "llvm/Support/FileSystem.h"
#include "llvm/Support/Path.h"
#include "llvm/Support/raw_ostream.h"

#include <zlib.h>

using namespace gemmac::srd;

template <typename T> static void put(std::vector<uint8_t> &v, T x) {
  for (size_t i = 0; i < sizeof(T); ++i)
    v.push_back(static_cast<uint8_t>(uint64_t(x) >> (8 * i)));
}

void ZipWriter::add(llvm::StringRef name, llvm::ArrayRef<uint8_t> data,
                    Method method, unsigned align, int level) {
  std::vector<uint8_t> payload;
  uint16_t m = 0;
  if (method == Method::Deflate) {
    m = 8;
    z_stream zs{};
    deflateInit2(&zs, level, Z_DEFLATED, -MAX_WBITS, 8, Z_DEFAULT_STRATEGY);
    payload.resize(deflateBound(&zs, data.size()));
    zs.next_in = const_cast<Bytef *>(data.data());
    zs.avail_in = static_cast<uInt>(data.size());
    zs.next_out = payload.data();
    zs.avail_out = static_cast<uInt>(payload.size());
    deflate(&zs, Z_FINISH);
    payload.resize(zs.total_out);
    deflateEnd(&zs);
  } else {
    payload.assign(data.begin(), data.end());
  }
  Entry e{name.str(),
          m,
          crc32(data),
          static_cast<uint32_t>(payload.size()),
          static_cast<uint32_t>(data.size()),
          static_cast<uint32_t>(body_.size())};
  // Padding extra field (id 0x4246 "FB", as PyTorch's writer uses) so the
  // data starts on an `align` boundary.
  uint16_t extraLen = 0;
  if (zip64_) {
    extraLen = 20; // id, size, then the plain and compressed sizes
  } else if (align > 1 && m == 0) {
    uint64_t dataAt = body_.size() + 30 + name.size() + 4;
    extraLen = static_cast<uint16_t>(4 + (align - dataAt % align) % align);
  }
  put<uint32_t>(body_, 0x04034b50);
  put<uint16_t>(body_, 20);
  put<uint16_t>(body_, 0);
  put<uint16_t>(body_, m);
  put<uint16_t>(body_, 0);
  put<uint16_t>(body_, 0x21); // 1980-01-01
  put<uint32_t>(body_, e.crc);
  put<uint32_t>(body_, zip64_ ? 0xFFFFFFFF : e.compressedSize);
  put<uint32_t>(body_, zip64_ ? 0xFFFFFFFF : e.size);
  put<uint16_t>(body_, static_cast<uint16_t>(name.size()));
  put<uint16_t>(body_, extraLen);
  body_.insert(body_.end(), name.begin(), name.end());
  if (zip64_) {
    put<uint16_t>(body_, 0x0001);
    put<uint16_t>(body_, 16);
    put<uint64_t>(body_, e.size);
    put<uint64_t>(body_, e.compressedSize);
  } else if (extraLen) {
    put<uint16_t>(body_, 0x4246);
    put<uint16_t>(body_, static_cast<uint16_t>(extraLen - 4));
    body_.insert(body_.end(), extraLen - 4, 0);
  }
  body_.insert(body_.end(), payload.begin(), payload.end());
  entries_.push_back(std::move(e));
}

std::vector<uint8_t> ZipWriter::finish() const {
  std::vector<uint8_t> out = body_;
  uint32_t cdStart = static_cast<uint32_t>(out.size());
  for (const Entry &e : entries_) {
    put<uint32_t>(out, 0x02014b50);
    put<uint16_t>(out, 20);
    put<uint16_t>(out, 20);
    put<uint16_t>(out, 0);
    put<uint16_t>(out, e.method);
    put<uint16_t>(out, 0);
    put<uint16_t>(out, 0x21);
    put<uint32_t>(out, e.crc);
    put<uint32_t>(out, zip64_ ? 0xFFFFFFFF : e.compressedSize);
    put<uint32_t>(out, zip64_ ? 0xFFFFFFFF : e.size);
    put<uint16_t>(out, static_cast<uint16_t>(e.name.size()));
    put<uint16_t>(out, zip64_ ? 28 : 0);
    put<uint16_t>(out, 0);
    put<uint16_t>(out, 0);
    put<uint16_t>(out, 0);
    put<uint32_t>(out, 0);
    put<uint32_t>(out, zip64_ ? 0xFFFFFFFF : e.localOffset);
    out.insert(out.end(), e.name.begin(), e.name.end());
    if (zip64_) {
      put<uint16_t>(out, 0x0001);
      put<uint16_t>(out, 24);
      put<uint64_t>(out, e.size);
      put<uint64_t>(out, e.compressedSize);
      put<uint64_t>(out, e.localOffset);
    }
  }
  uint32_t cdSize = static_cast<uint32_t>(out.size()) - cdStart;
  if (zip64_) {
    uint64_t end64 = out.size();
    put<uint32_t>(out, 0x06064b50);
    put<uint64_t>(out, 44); // the record's size after this field
    put<uint16_t>(out, 45);
    put<uint16_t>(out, 45);
    put<uint32_t>(out, 0);
    put<uint32_t>(out, 0);
    put<uint64_t>(out, entries_.size());
    put<uint64_t>(out, entries_.size());
    put<uint64_t>(out, cdSize);
    put<uint64_t>(out, cdStart);
    put<uint32_t>(out, 0x07064b50); // locator
    put<uint32_t>(out, 0);
    put<uint64_t>(out, end64);
    put<uint32_t>(out, 1);
    put<uint32_t>(out, 0x06054b50);
    put<uint16_t>(out, 0);
    put<uint16_t>(out, 0);
    put<uint16_t>(out, 0xFFFF);
    put<uint16_t>(out, 0xFFFF);
    put<uint32_t>(out, 0xFFFFFFFF);
    put<uint32_t>(out, 0xFFFFFFFF);
    put<uint16_t>(out, 0);
    return out;
  }
  put<uint32_t>(out, 0x06054b50);
  put<uint16_t>(out, 0);
  put<uint16_t>(out, 0);
  put<uint16_t>(out, static_cast<uint16_t>(entries_.size()));
  put<uint16_t>(out, static_cast<uint16_t>(entries_.size()));
  put<uint32_t>(out, cdSize);
  put<uint32_t>(out, cdStart);
  put<uint16_t>(out, 0);
  return out;
}

llvm::Error ZipWriter::writeTo(llvm::StringRef path) const {
  return writeFileBytes(path, finish());
}
