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
};

class TlsConn {
 public:
  enum class Io : std::uint8_t { done, want_io, eof, error };
  TlsConn(const TlsContext& /*ctx*/, int /*fd*/) {}
  bool established() const { return false; }
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

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>

#include "lifeline/server.hpp"

namespace lifeline::detail {

struct SslCtxFree {
  void operator()(SSL_CTX* c) const { SSL_CTX_free(c); }
};
struct SslFree {
  void operator()(SSL* s) const { SSL_free(s); }
};

/// The server's certificate, key and (for mutual TLS) client CA, loaded once.
/// Immutable after construction: shared by every shard.
class TlsContext {
 public:
  /// Throws std::invalid_argument naming the file and OpenSSL's reason.
  explicit TlsContext(const ServerTlsOptions& opts);
  SSL_CTX* get() const { return ctx_.get(); }
  bool requires_client_cert() const { return require_client_cert_; }

 private:
  std::unique_ptr<SSL_CTX, SslCtxFree> ctx_;
  bool require_client_cert_ = false;
};

/// One connection's TLS state.
class TlsConn {
 public:
  enum class Io : std::uint8_t { done, want_io, eof, error };

  TlsConn(const TlsContext& ctx, int fd);
  bool established() const { return established_; }
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
