//===- BinaryReader.h - bounds-checked reading, offset-tagged errors ------===//
//
// Every binary reader (GGUF, .srd4, the sealed container, ZIP) maps its file
// whole, validates it on open and reports a violation as "FILE: offset N:
// MESSAGE". BinaryReader is the bounds-checked little-endian cursor they
// read with (on llvm::DataExtractor); MappedFile is the open/parse/error
// scaffolding they share.
//
//===----------------------------------------------------------------------===//
#pragma once

#include "llvm/ADT/ArrayRef.h"
#include "llvm/ADT/StringRef.h"
#include "llvm/ADT/Twine.h"
#include "llvm/Support/DataExtractor.h"
#include "llvm/Support/Error.h"
#include "llvm/Support/MemoryBuffer.h"

#include <bit>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <type_traits>

namespace gemmac::support {

/// "FILE: offset N: MESSAGE" (without the offset when there is none): the
/// one shape of every input error.
llvm::Error fileError(const llvm::Twine &file, std::optional<uint64_t> offset,
                      const llvm::Twine &message);

/// Maps `path` read-only, whole; "FILE: cannot open: REASON" when it cannot.
llvm::Expected<std::unique_ptr<llvm::MemoryBuffer>>
mapFile(llvm::StringRef path);

/// A little-endian cursor over a file's bytes. A read past the end fails
/// with an error naming the file, what was being read and the offset.
class BinaryReader {
public:
  BinaryReader(llvm::StringRef fileName, llvm::ArrayRef<uint8_t> bytes)
      : fileName_(fileName),
        data_(llvm::StringRef(reinterpret_cast<const char *>(bytes.data()),
                              bytes.size()),
              /*IsLittleEndian=*/true, /*AddressSize=*/8) {}

  uint64_t size() const { return data_.size(); }
  uint64_t tell() const { return pos_; }
  void seek(uint64_t offset) { pos_ = offset; }
  uint64_t remaining() const { return pos_ < size() ? size() - pos_ : 0; }
  /// Whether [offset, offset + n) lies inside the file.
  bool contains(uint64_t offset, uint64_t n) const {
    return offset <= size() && n <= size() - offset;
  }

  /// Succeeds when `n` more bytes lie inside the file.
  llvm::Error need(uint64_t n, const llvm::Twine &what) const;

  /// The next value of type T (an integer or a float), advancing past it.
  template <typename T> llvm::Expected<T> read(const llvm::Twine &what) {
    if (llvm::Error e = need(sizeof(T), what))
      return std::move(e);
    T v = at<T>(pos_);
    pos_ += sizeof(T);
    return v;
  }
  /// The next `n` bytes, as a view into the file.
  llvm::Expected<llvm::StringRef> readBytes(uint64_t n,
                                            const llvm::Twine &what);

  /// The value of type T at `offset`, which the caller has bounds-checked
  /// (a fixed-size record whose extent was checked as a whole).
  template <typename T> T at(uint64_t offset) const {
    static_assert(std::is_arithmetic_v<T> && sizeof(T) <= 8);
    using Bits = std::conditional_t<
        sizeof(T) == 1, uint8_t,
        std::conditional_t<
            sizeof(T) == 2, uint16_t,
            std::conditional_t<sizeof(T) == 4, uint32_t, uint64_t>>>;
    uint64_t cursor = offset;
    return std::bit_cast<T>(
        static_cast<Bits>(data_.getUnsigned(&cursor, sizeof(T))));
  }

  /// An error in this file at `offset`.
  llvm::Error error(const llvm::Twine &message,
                    std::optional<uint64_t> offset = std::nullopt) const {
    return fileError(fileName_, offset, message);
  }

private:
  llvm::StringRef fileName_;
  llvm::DataExtractor data_;
  uint64_t pos_ = 0;
};

/// A file mapped whole and validated on open. A reader derives from it,
/// befriends it, and has a default constructor and a `parseAll(Args...)`;
/// openAs/parseAs do the rest.
class MappedFile {
public:
  /// The name errors use: the path, or what stands for an in-memory image.
  llvm::StringRef fileName() const { return fileName_; }
  uint64_t fileSize() const { return buffer_->getBufferSize(); }
  const uint8_t *base() const {
    return reinterpret_cast<const uint8_t *>(buffer_->getBufferStart());
  }
  llvm::ArrayRef<uint8_t> bytes() const { return {base(), fileSize()}; }
  const llvm::MemoryBuffer &buffer() const { return *buffer_; }
  /// A cursor over the whole file, at offset 0.
  BinaryReader reader() const { return BinaryReader(fileName_, bytes()); }
  /// An error in this file ("FILE: offset N: MESSAGE").
  llvm::Error error(const llvm::Twine &message,
                    std::optional<uint64_t> offset = std::nullopt) const {
    return fileError(fileName_, offset, message);
  }

protected:
  MappedFile() = default;
  ~MappedFile() = default;

  /// A T over `buffer`, validated by its parseAll(args...).
  template <typename T, typename... Args>
  static llvm::Expected<std::unique_ptr<T>>
  parseAs(std::unique_ptr<llvm::MemoryBuffer> buffer, llvm::StringRef name,
          Args &&...args) {
    std::unique_ptr<T> file(new T());
    file->fileName_ = name.str();
    file->buffer_ = std::move(buffer);
    if (llvm::Error e = file->parseAll(std::forward<Args>(args)...))
      return std::move(e);
    return std::move(file);
  }
  /// parseAs over the mapped file at `path`.
  template <typename T, typename... Args>
  static llvm::Expected<std::unique_ptr<T>> openAs(llvm::StringRef path,
                                                   Args &&...args) {
    auto buffer = mapFile(path);
    if (!buffer)
      return buffer.takeError();
    return parseAs<T>(std::move(*buffer), path, std::forward<Args>(args)...);
  }

private:
  std::string fileName_;
  std::unique_ptr<llvm::MemoryBuffer> buffer_;
};

} // namespace gemmac::support
