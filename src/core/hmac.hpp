#pragma once
// HMAC-SHA256 for tokens and SHA-1 for the WebSocket handshake, from the platform's crypto library: OpenSSL on
// Linux (hmac_openssl.cpp), Windows CNG on Windows (hmac_bcrypt.cpp).
#include <array>
#include <cstddef>
#include <cstdint>
#include <string_view>

namespace lifeline::auth::detail {

using Mac = std::array<std::uint8_t, 32>;

Mac hmac_sha256(std::string_view key, std::string_view data);

/// SHA-1, for Sec-WebSocket-Accept only (RFC 6455 fixes the hash; it protects nothing).
std::array<std::uint8_t, 20> sha1(std::string_view data);

/// Compares in time that does not depend on where the bytes differ.
bool equal_in_constant_time(const std::uint8_t* a, const std::uint8_t* b, std::size_t n);

}  // namespace lifeline::auth::detail
