// Windows: HMAC-SHA256 for tokens and SHA-1 for the WebSocket handshake
// through CNG (bcrypt.dll), as OpenSSL is not part of the Windows build.
#include <windows.h>
// windows.h first: bcrypt.h needs its types.
#include <bcrypt.h>

#include <span>
#include <stdexcept>
#include <string>

#include "hmac.hpp"

namespace lifeline::auth::detail {

namespace {

// One provider per algorithm for the process: CNG allows hashes to be made
// from it on any thread at once.
BCRYPT_ALG_HANDLE open_provider(LPCWSTR algorithm, ULONG flags, const char* what) {
  BCRYPT_ALG_HANDLE h = nullptr;
  if (!BCRYPT_SUCCESS(::BCryptOpenAlgorithmProvider(&h, algorithm, nullptr, flags))) {
    throw std::runtime_error(std::string("BCryptOpenAlgorithmProvider(") + what + ") failed");
  }
  return h;
}

PUCHAR bytes(std::string_view s) { return reinterpret_cast<PUCHAR>(const_cast<char*>(s.data())); }

// Hashes `data` (keyed with `key` for an HMAC provider) into `out`.
void hash(BCRYPT_ALG_HANDLE provider, std::string_view key, std::string_view data, std::span<std::uint8_t> out,
          const char* what) {
  BCRYPT_HASH_HANDLE h = nullptr;
  bool ok = BCRYPT_SUCCESS(::BCryptCreateHash(provider, &h, nullptr, 0, key.empty() ? nullptr : bytes(key),
                                              static_cast<ULONG>(key.size()), 0));
  ok = ok && BCRYPT_SUCCESS(::BCryptHashData(h, bytes(data), static_cast<ULONG>(data.size()), 0));
  ok = ok && BCRYPT_SUCCESS(::BCryptFinishHash(h, out.data(), static_cast<ULONG>(out.size()), 0));
  if (h != nullptr) {
    ::BCryptDestroyHash(h);
  }
  if (!ok) {
    throw std::runtime_error(std::string(what) + " through CNG failed");
  }
}

}  // namespace

Mac hmac_sha256(std::string_view key, std::string_view data) {
  static const BCRYPT_ALG_HANDLE provider =
      open_provider(BCRYPT_SHA256_ALGORITHM, BCRYPT_ALG_HANDLE_HMAC_FLAG, "SHA256, HMAC");
  Mac mac{};
  hash(provider, key, data, mac, "HMAC-SHA256");
  return mac;
}

std::array<std::uint8_t, 20> sha1(std::string_view data) {
  static const BCRYPT_ALG_HANDLE provider = open_provider(BCRYPT_SHA1_ALGORITHM, 0, "SHA1");
  std::array<std::uint8_t, 20> digest{};
  hash(provider, {}, data, digest, "SHA-1");
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
