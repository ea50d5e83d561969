// Windows: HMAC-SHA256 through CNG (bcrypt.dll), as OpenSSL is not part of
// the Windows build.
#include <windows.h>
// windows.h first: bcrypt.h needs its types.
#include <bcrypt.h>

#include <stdexcept>

#include "hmac.hpp"

namespace lifeline::auth::detail {

namespace {

// One HMAC-SHA256 provider for the process: CNG allows hashes to be made
// from it on any thread at once.
BCRYPT_ALG_HANDLE provider() {
  static const BCRYPT_ALG_HANDLE handle = [] {
    BCRYPT_ALG_HANDLE h = nullptr;
    if (!BCRYPT_SUCCESS(
            ::BCryptOpenAlgorithmProvider(&h, BCRYPT_SHA256_ALGORITHM, nullptr, BCRYPT_ALG_HANDLE_HMAC_FLAG))) {
      throw std::runtime_error("BCryptOpenAlgorithmProvider(SHA256, HMAC) failed");
    }
    return h;
  }();
  return handle;
}

PUCHAR bytes(std::string_view s) { return reinterpret_cast<PUCHAR>(const_cast<char*>(s.data())); }

}  // namespace

Mac hmac_sha256(std::string_view key, std::string_view data) {
  Mac mac{};
  BCRYPT_HASH_HANDLE hash = nullptr;
  bool ok =
      BCRYPT_SUCCESS(::BCryptCreateHash(provider(), &hash, nullptr, 0, bytes(key), static_cast<ULONG>(key.size()), 0));
  ok = ok && BCRYPT_SUCCESS(::BCryptHashData(hash, bytes(data), static_cast<ULONG>(data.size()), 0));
  ok = ok && BCRYPT_SUCCESS(::BCryptFinishHash(hash, mac.data(), static_cast<ULONG>(mac.size()), 0));
  if (hash != nullptr) {
    ::BCryptDestroyHash(hash);
  }
  if (!ok) {
    throw std::runtime_error("HMAC-SHA256 through CNG failed");
  }
  return mac;
}

std::array<std::uint8_t, 20> sha1(std::string_view data) {
  static const BCRYPT_ALG_HANDLE sha1_provider = [] {
    BCRYPT_ALG_HANDLE h = nullptr;
    if (!BCRYPT_SUCCESS(::BCryptOpenAlgorithmProvider(&h, BCRYPT_SHA1_ALGORITHM, nullptr, 0))) {
      throw std::runtime_error("BCryptOpenAlgorithmProvider(SHA1) failed");
    }
    return h;
  }();
  std::array<std::uint8_t, 20> digest{};
  BCRYPT_HASH_HANDLE hash = nullptr;
  bool ok = BCRYPT_SUCCESS(::BCryptCreateHash(sha1_provider, &hash, nullptr, 0, nullptr, 0, 0));
  ok = ok && BCRYPT_SUCCESS(::BCryptHashData(hash, bytes(data), static_cast<ULONG>(data.size()), 0));
  ok = ok && BCRYPT_SUCCESS(::BCryptFinishHash(hash, digest.data(), static_cast<ULONG>(digest.size()), 0));
  if (hash != nullptr) {
    ::BCryptDestroyHash(hash);
  }
  if (!ok) {
    throw std::runtime_error("SHA-1 through CNG failed");
  }
  return digest;
}

bool equal_in_constant_time(const std::uint8_t* a, const std::uint8_t* b, std::size_t n) {
  unsigned diff = 0;
  for (std::size_t i = 0; i < n; ++i) {
    diff |= static_cast<unsigned>(a[i] ^ b[i]);
  }
  return diff == 0;
}

}  // namespace lifeline::auth::detail
