//===- Crypto.cpp - SHA-256, HMAC, HKDF and Ed25519 through OpenSSL -------===//

#include "support/Crypto.h"
#include "support/BinaryReader.h"

#include "llvm/ADT/StringExtras.h"
#include "llvm/Support/ErrorHandling.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "llvm/Support/FileSystem.h"

#include <cstdlib>
#include <cstring>

using namespace gemmac::support;

// OpenSSL fails these calls only on allocation failure or misuse (a wrong
// key length), which are programming errors here, not input errors.
[[noreturn]] static void fatal(const char *what) {
  llvm::report_fatal_error(llvm::Twine("OpenSSL: ") + what + " failed");
}

Digest gemmac::support::sha256(llvm::ArrayRef<uint8_t> data) {
  Digest d;
  unsigned len = 0;
  if (!EVP_Digest(data.data(), data.size(), d.data(), &len, EVP_sha256(),
                  nullptr) ||
      len != d.size())
    fatal("SHA-256");
  return d;
}

struct Sha256::State {
  EVP_MD_CTX *ctx = nullptr;
};

Sha256::Sha256() : state_(std::make_unique<State>()) {
  state_->ctx = EVP_MD_CTX_new();
  if (!state_->ctx || !EVP_DigestInit_ex(state_->ctx, EVP_sha256(), nullptr))
    fatal("SHA-256 init");
}

Sha256::~Sha256() { EVP_MD_CTX_free(state_->ctx); }

void Sha256::update(llvm::ArrayRef<uint8_t> data) {
  if (!EVP_DigestUpdate(state_->ctx, data.data(), data.size()))
    fatal("SHA-256 update");
}

Digest Sha256::final() {
  Digest d;
  unsigned len = 0;
  if (!EVP_DigestFinal_ex(state_->ctx, d.data(), &len) || len != d.size())
    fatal("SHA-256 final");
  return d;
}

Digest gemmac::support::hmacSha256(llvm::ArrayRef<uint8_t> key,
                                   llvm::ArrayRef<uint8_t> message) {
  Digest d;
  unsigned len = 0;
  // HMAC() takes a non-null key pointer even for an empty key.
  static const uint8_t empty = 0;
  if (!HMAC(EVP_sha256(), key.empty() ? &empty : key.data(),
            static_cast<int>(key.size()), message.data(), message.size(),
            d.data(), &len) ||
      len != d.size())
    fatal("HMAC-SHA256");
  return d;
}

Digest gemmac::support::hkdfSha256(llvm::ArrayRef<uint8_t> ikm,
                                   llvm::ArrayRef<uint8_t> salt,
                                   llvm::StringRef info) {
  // RFC 5869 with L = HashLen: one expand block.
  Digest prk = hmacSha256(salt, ikm);
  std::string t(info);
  t.push_back('\x01');
  return hmacSha256(prk, bytesOf(t));
}

std::string gemmac::support::toHex(llvm::ArrayRef<uint8_t> bytes) {
  return llvm::toHex(bytes, /*LowerCase=*/true);
}

template <size_t N>
static std::optional<std::array<uint8_t, N>> fromHex(llvm::StringRef hex) {
  std::string bytes;
  if (hex.size() != 2 * N || !llvm::tryGetFromHex(hex, bytes))
    return std::nullopt;
  std::array<uint8_t, N> out;
  std::memcpy(out.data(), bytes.data(), N);
  return out;
}

std::optional<Digest> gemmac::support::digestFromHex(llvm::StringRef hex) {
  return fromHex<32>(hex);
}

std::optional<std::array<uint8_t, 64>>
gemmac::support::bytes64FromHex(llvm::StringRef hex) {
  return fromHex<64>(hex);
}

bool gemmac::support::constantTimeEqual(llvm::ArrayRef<uint8_t> a,
                                        llvm::ArrayRef<uint8_t> b) {
  if (a.size() != b.size())
    return false;
  return CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

Ed25519PublicKey gemmac::support::ed25519PublicKey(const Ed25519Seed &seed) {
  EVP_PKEY *key = EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519, nullptr,
                                               seed.data(), seed.size());
  if (!key)
    fatal("Ed25519 key");
  Ed25519PublicKey pub;
  size_t len = pub.size();
  if (!EVP_PKEY_get_raw_public_key(key, pub.data(), &len) || len != pub.size())
    fatal("Ed25519 public key");
  EVP_PKEY_free(key);
  return pub;
}

Ed25519Signature gemmac::support::ed25519Sign(const Ed25519Seed &seed,
                                              llvm::ArrayRef<uint8_t> message) {
  EVP_PKEY *key = EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519, nullptr,
                                               seed.data(), seed.size());
  EVP_MD_CTX *ctx = EVP_MD_CTX_new();
  Ed25519Signature sig;
  size_t len = sig.size();
  if (!key || !ctx ||
      !EVP_DigestSignInit(ctx, nullptr, nullptr, nullptr, key) ||
      !EVP_DigestSign(ctx, sig.data(), &len, message.data(), message.size()) ||
      len != sig.size())
    fatal("Ed25519 sign");
  EVP_MD_CTX_free(ctx);
  EVP_PKEY_free(key);
  return sig;
}

bool gemmac::support::ed25519Verify(const Ed25519PublicKey &pub,
                                    llvm::ArrayRef<uint8_t> message,
                                    const Ed25519Signature &signature) {
  EVP_PKEY *key = EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, nullptr,
                                              pub.data(), pub.size());
  if (!key)
    return false; // not a valid curve point
  EVP_MD_CTX *ctx = EVP_MD_CTX_new();
  bool ok = ctx && EVP_DigestVerifyInit(ctx, nullptr, nullptr, nullptr, key) &&
            EVP_DigestVerify(ctx, signature.data(), signature.size(),
                             message.data(), message.size()) == 1;
  EVP_MD_CTX_free(ctx);
  EVP_PKEY_free(key);
  return ok;
}

llvm::Expected<Digest> gemmac::support::sha256File(llvm::StringRef path) {
  llvm::Expected<llvm::sys::fs::file_t> fd =
      llvm::sys::fs::openNativeFileForRead(path);
  if (!fd)
    return fileError(path, std::nullopt,
                     "cannot open: " + llvm::toString(fd.takeError()));
  Sha256 h;
  std::vector<char> buf(1 << 20);
  while (true) {
    llvm::Expected<size_t> n = llvm::sys::fs::readNativeFile(
        *fd, llvm::MutableArrayRef<char>(buf.data(), buf.size()));
    if (!n) {
      llvm::sys::fs::closeFile(*fd);
      return fileError(path, std::nullopt,
                       "read failed: " + llvm::toString(n.takeError()));
    }
    if (*n == 0)
      break;
    h.update(llvm::ArrayRef<uint8_t>(
        reinterpret_cast<const uint8_t *>(buf.data()), *n));
  }
  llvm::sys::fs::closeFile(*fd);
  return h.final();
}
