#pragma once
// Server-side TLS over a non-blocking socket (OpenSSL). The session drives it
// from its epoll events: no thread, no timer of its own; the handshake counts
// against the session's handshake deadline like HELLO does.

#if !LIFELINE_TLS
#include <cstdint>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "lifeline/server.hpp"

namespace lifeline::detail {

// This build has no OpenSSL (the Windows build): a TLS option is refused at
// construction with this message, so no TlsConn is ever made.
class TlsContext {
 public:
  explicit TlsContext(const ServerTlsOptions& /*opts*/) {
    throw std::invalid_argument("this build of lifeline has no TLS (built without OpenSSL): drop the tls options");
  }
  bool requires_client_cert() const { return false; }
  void set_ticket_secrets(const std::vector<std::string>& /*secrets*/) {}
};

class TlsConn {
 public:
  enum class Io : std::uint8_t { done, want_io, eof, error };
  TlsConn(const TlsContext& /*ctx*/, int /*fd*/) {}
  bool established() const { return false; }
  bool resumed() const { return false; }
  Io handshake() { return Io::error; }
  Io read(std::span<std::uint8_t> /*buf*/, std::size_t& /*n*/) { return Io::error; }
  Io write(std::string_view /*data*/, std::size_t& /*n*/) { return Io::error; }
  void shutdown() {}
  const std::string& error() const { return error_; }
  std::string peer_common_name() const { return {}; }

 private:
  std::string error_ = "no TLS in this build";
};

}  // namespace lifeline::detail
#else
#include <openssl/ssl.h>

#include <array>
#include <atomic>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "lifeline/server.hpp"

namespace lifeline::detail {

struct SslCtxFree {
  void operator()(SSL_CTX* c) const { SSL_CTX_free(c); }
};
struct SslFree {
  void operator()(SSL* s) const { SSL_free(s); }
};

/// One session-ticket key (RFC 5077 layout): the name a ticket carries, then
/// the AES-256-CBC and HMAC-SHA256 keys that seal it.
struct TicketKey {
  std::array<unsigned char, 16> name{};
  std::array<unsigned char, 32> aes{};
  std::array<unsigned char, 32> hmac{};
};
/// The keys derived from ticket secrets (HMAC-SHA256 of the secret over a
/// fixed label per part), the encrypting key first.
std::vector<TicketKey> derive_ticket_keys(const std::vector<std::string>& secrets);

/// The server's certificate, key and (for mutual TLS) client CA, loaded once
/// and shared by every shard. Only the ticket keys change afterwards
/// (set_ticket_secrets, from any thread; handshakes on the shards read them).
class TlsContext {
 public:
  /// Throws std::invalid_argument naming the file and OpenSSL's reason.
  explicit TlsContext(const ServerTlsOptions& opts);
  SSL_CTX* get() const { return ctx_.get(); }
  bool requires_client_cert() const { return require_client_cert_; }
  /// Replaces the ticket keys (empty: back to the keys made at startup).
  void set_ticket_secrets(const std::vector<std::string>& secrets);

 private:
  /// OpenSSL's ticket callback: seals a new ticket with the first key, or
  /// finds the key a presented ticket names (2: decrypted with an older key,
  /// so the client gets a new ticket).
  static int ticket_callback(SSL* ssl, unsigned char* name, unsigned char* iv, EVP_CIPHER_CTX* cipher, EVP_MAC_CTX* mac,
                             int encrypt);

  std::unique_ptr<SSL_CTX, SslCtxFree> ctx_;
  bool require_client_cert_ = false;
  std::atomic<std::shared_ptr<const std::vector<TicketKey> > > ticket_keys_;  // null: OpenSSL's own random keys
};

/// One connection's TLS state.
class TlsConn {
 public:
  enum class Io : std::uint8_t { done, want_io, eof, error };

  TlsConn(const TlsContext& ctx, int fd);
  bool established() const { return established_; }
  /// True once established by resuming an earlier session (a ticket).
  bool resumed() const;
  /// Continues the handshake; `done` once established.
  Io handshake();
  /// Decrypts into `buf`; `n` is set when done.
  Io read(std::span<std::uint8_t> buf, std::size_t& n);
  /// Encrypts as much of `data` as the socket takes; `n` is set when done.
  Io write(std::string_view data, std::size_t& n);
  /// Sends close_notify, best effort, without waiting for the peer's.
  void shutdown();
  /// What went wrong on the last `error` (OpenSSL's reason, or errno's).
  const std::string& error() const { return error_; }
  /// The client certificate's subject common name ("" without a certificate).
  std::string peer_common_name() const;

 private:
  Io result(int ret);

  std::unique_ptr<SSL, SslFree> ssl_;
  bool established_ = false;
  std::string error_;
};

}  // namespace lifeline::detail
#endif  // LIFELINE_TLS
