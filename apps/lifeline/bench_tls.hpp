#pragma once
// lifeline-bench --tls: OpenSSL straight over a worker's non-blocking sockets
// (no Asio stream, no extra buffers), the same for the lifeline protocol and
// MQTT. Each connection keeps the last session (ticket) its server gave it
// and offers it on its next connection, as the lifeline client does, unless
// resumption is turned off (--no-resume: every handshake is a full one).

#include <openssl/ssl.h>

#include <memory>
#include <string>

namespace lifeline::app::bench {

struct SslFree {
  void operator()(SSL* s) const { SSL_free(s); }
};
struct SslSessionFree {
  void operator()(SSL_SESSION* s) const { SSL_SESSION_free(s); }
};
using SslPtr = std::unique_ptr<SSL, SslFree>;
using SslSessionPtr = std::unique_ptr<SSL_SESSION, SslSessionFree>;

/// What an OpenSSL call on a non-blocking socket asks for next.
enum class TlsWant { done, read, write, closed, failed };
/// SSL_get_error() of `ret` as a TlsWant (`closed`: close_notify or EOF).
TlsWant tls_want(SSL* ssl, int ret);

class TlsClientContext {
 public:
  /// `ca_file` empty: the server's certificate is not verified (a bench's
  /// own server). Throws std::invalid_argument naming a file it cannot use.
  TlsClientContext(const std::string& ca_file, bool resume);
  TlsClientContext(const TlsClientContext&) = delete;
  TlsClientContext& operator=(const TlsClientContext&) = delete;
  ~TlsClientContext();

  /// A client SSL over `fd`, offering `*slot` when resuming; sessions the
  /// server gives on this connection replace `*slot`, which must outlive it.
  SslPtr make(int fd, SslSessionPtr* slot) const;

 private:
  SSL_CTX* ctx_;
  bool resume_;
};

}  // namespace lifeline::app::bench
