//===- Crypto.h - SHA-256, HMAC, HKDF and Ed25519 through OpenSSL ---------===//
//
// The few primitives the residual containers need, as plain functions over
// bytes. Digests are fixed-size arrays so a wrong length cannot slip through;
// MACs are compared in constant time.
//
//===----------------------------------------------------------------------===//
#pragma once

#include "llvm/ADT/ArrayRef.h"
#include "llvm/ADT/StringRef.h"
#include "llvm/Support/Error.h"

#include <array>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>

namespace gemmac::support {

using Digest = std::array<uint8_t, 32>;
using Ed25519PublicKey = std::array<uint8_t, 32>;
using Ed25519Seed = std::array<uint8_t, 32>;
using Ed25519Signature = std::array<uint8_t, 64>;

inline llvm::ArrayRef<uint8_t> bytesOf(llvm::StringRef s) {
  return {reinterpret_cast<const uint8_t *>(s.data()), s.size()};
}

Digest sha256(llvm::ArrayRef<uint8_t> data);

/// Incremental SHA-256 for data that arrives in pieces.
class Sha256 {
public:
  Sha256();
  ~Sha256();
  Sha256(const Sha256 &) = delete;
  Sha256 &operator=(const Sha256 &) = delete;
  void update(llvm::ArrayRef<uint8_t> data);
  Digest final();

private:
  struct State;
  std::unique_ptr<State> state_;
};

Digest hmacSha256(llvm::ArrayRef<uint8_t> key, llvm::ArrayRef<uint8_t> message);

/// HKDF-SHA256 (RFC 5869) with a 32-byte output.
Digest hkdfSha256(llvm::ArrayRef<uint8_t> ikm, llvm::ArrayRef<uint8_t> salt,
                  llvm::StringRef info);

/// Lower-case hex, as Python's hexdigest() writes it.
std::string toHex(llvm::ArrayRef<uint8_t> bytes);
/// Parses exactly 2*N hex digits (either case); nullopt otherwise.
std::optional<Digest> digestFromHex(llvm::StringRef hex);
std::optional<std::array<uint8_t, 64>> bytes64FromHex(llvm::StringRef hex);

/// Constant-time equality of two equally long byte strings (false when the
/// lengths differ; the length itself is not secret).
bool constantTimeEqual(llvm::ArrayRef<uint8_t> a, llvm::ArrayRef<uint8_t> b);

Ed25519PublicKey ed25519PublicKey(const Ed25519Seed &seed);
Ed25519Signature ed25519Sign(const Ed25519Seed &seed,
                             llvm::ArrayRef<uint8_t> message);
bool ed25519Verify(const Ed25519PublicKey &key, llvm::ArrayRef<uint8_t> message,
                   const Ed25519Signature &signature);

/// SHA-256 of a file, read in pieces; the error names the file.
llvm::Expected<Digest> sha256File(llvm::StringRef path);

} // namespace gemmac::support
