#include "bench_tls.hpp"

#include <openssl/err.h>

#include <stdexcept>

namespace lifeline::app::bench {
namespace {

// A new session (TLS 1.3: a ticket after the handshake) replaces the
// connection's slot, as a copy: OpenSSL marks the connection's own session
// unusable when the connection ends without close_notify, as every
// connection of a killed server does (the lifeline client does the same).
int keep_session(SSL* ssl, SSL_SESSION* session) {
  if (auto* slot = static_cast<SslSessionPtr*>(SSL_get_app_data(ssl))) {
    slot->reset(SSL_SESSION_dup(session));
  }
  return 0;  // OpenSSL keeps (and frees) its own reference
}

}  // namespace

TlsWant tls_want(SSL* ssl, int ret) {
  switch (SSL_get_error(ssl, ret)) {
    case SSL_ERROR_NONE: return TlsWant::done;
    case SSL_ERROR_WANT_READ: return TlsWant::read;
    case SSL_ERROR_WANT_WRITE: return TlsWant::write;
    case SSL_ERROR_ZERO_RETURN: return TlsWant::closed;
    default: ERR_clear_error(); return TlsWant::failed;
  }
}

TlsClientContext::TlsClientContext(const std::string& ca_file, bool resume)
    : ctx_(SSL_CTX_new(TLS_client_method())), resume_(resume) {
  if (ctx_ == nullptr) {
    throw std::runtime_error("cannot create a TLS context");
  }
  SSL_CTX_set_min_proto_version(ctx_, TLS1_2_VERSION);
  SSL_CTX_set_mode(ctx_, SSL_MODE_RELEASE_BUFFERS);
  SSL_CTX_set_options(ctx_, SSL_OP_IGNORE_UNEXPECTED_EOF);
  if (!ca_file.empty()) {
    if (SSL_CTX_load_verify_locations(ctx_, ca_file.c_str(), nullptr) != 1) {
      SSL_CTX_free(ctx_);
      throw std::invalid_argument("--tls-ca: cannot load '" + ca_file + "'");
    }
    SSL_CTX_set_verify(ctx_, SSL_VERIFY_PEER, nullptr);
  }
  SSL_CTX_set_session_cache_mode(ctx_, SSL_SESS_CACHE_CLIENT | SSL_SESS_CACHE_NO_INTERNAL_STORE);
  SSL_CTX_sess_set_new_cb(ctx_, &keep_session);
}

TlsClientContext::~TlsClientContext() { SSL_CTX_free(ctx_); }

SslPtr TlsClientContext::make(int fd, SslSessionPtr* slot) const {
  SslPtr ssl(SSL_new(ctx_));
  if (!ssl || SSL_set_fd(ssl.get(), fd) != 1) {
    ERR_clear_error();
    return nullptr;
  }
  SSL_set_connect_state(ssl.get());
  SSL_set_app_data(ssl.get(), slot);
  if (resume_ && *slot && SSL_SESSION_is_resumable(slot->get()) == 1) {
    // A copy again: the one kept stays usable however this connection ends.
    const SslSessionPtr offer(SSL_SESSION_dup(slot->get()));
    SSL_set_session(ssl.get(), offer.get());  // takes its own reference
  }
  return ssl;
}

}  // namespace lifeline::app::bench
