#include "tls.hpp"

#include <openssl/err.h>
#include <openssl/x509.h>

#include <cerrno>
#include <cstring>
#include <stdexcept>

#include "lifeline/files.hpp"

namespace lifeline::detail {
namespace {

// OpenSSL's queued reasons, oldest first, and the queue emptied.
std::string ssl_errors() {
  std::string out;
  while (const unsigned long e = ERR_get_error()) {
    char buf[256];
    ERR_error_string_n(e, buf, sizeof buf);
    out += out.empty() ? "" : "; ";
    out += buf;
  }
  return out;
}

[[noreturn]] void fail(const std::string& what) {
  const auto why = ssl_errors();
  throw std::invalid_argument(what + (why.empty() ? "" : ": " + why));
}

}  // namespace

TlsContext::TlsContext(const ServerTlsOptions& opts) : ctx_(SSL_CTX_new(TLS_server_method())) {
  if (!ctx_) {
    fail("cannot create a TLS context");
  }
  SSL_CTX_set_min_proto_version(ctx_.get(), TLS1_2_VERSION);
  // Idle sessions give their read and write buffers back: a heartbeat
  // connection spends nearly all its life idle.
  SSL_CTX_set_mode(ctx_.get(),
                   SSL_MODE_RELEASE_BUFFERS | SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
  // No server-side session cache: it would keep sessions (certificates
  // included) for the cache's lifetime. Resumption still works through
  // stateless tickets, which cost the server no memory.
  SSL_CTX_set_session_cache_mode(ctx_.get(), SSL_SESS_CACHE_OFF);
  // A peer that closes TCP without close_notify is an ordinary EOF here, as
  // on a plain connection: the heartbeat, not TLS, judges liveness.
  SSL_CTX_set_options(ctx_.get(), SSL_OP_IGNORE_UNEXPECTED_EOF);
  // The operating system's reason first (a directory, a missing file, no
  // permission), which OpenSSL would report as a PEM parsing error.
  read_text_file(opts.cert_file, "TLS certificate");
  read_text_file(opts.key_file, "TLS key");
  if (!opts.client_ca_file.empty()) {
    read_text_file(opts.client_ca_file, "TLS client CA");
  }
  if (SSL_CTX_use_certificate_chain_file(ctx_.get(), opts.cert_file.c_str()) != 1) {
    fail("cannot load TLS certificate '" + opts.cert_file + "'");
  }
  if (SSL_CTX_use_PrivateKey_file(ctx_.get(), opts.key_file.c_str(), SSL_FILETYPE_PEM) != 1) {
    fail("cannot load TLS key '" + opts.key_file + "'");
  }
  if (SSL_CTX_check_private_key(ctx_.get()) != 1) {
    fail("TLS key '" + opts.key_file + "' does not match certificate '" + opts.cert_file + "'");
  }
  if (!opts.client_ca_file.empty()) {
    if (SSL_CTX_load_verify_locations(ctx_.get(), opts.client_ca_file.c_str(), nullptr) != 1) {
      fail("cannot load TLS client CA '" + opts.client_ca_file + "'");
    }
    STACK_OF(X509_NAME)* names = SSL_load_client_CA_file(opts.client_ca_file.c_str());
    if (names == nullptr) {
      fail("TLS client CA '" + opts.client_ca_file + "' holds no certificate");
    }
    SSL_CTX_set_client_CA_list(ctx_.get(), names);  // takes ownership
    SSL_CTX_set_verify(ctx_.get(), SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, nullptr);
    require_client_cert_ = true;
  }
}

TlsConn::TlsConn(const TlsContext& ctx, int fd) : ssl_(SSL_new(ctx.get())) {
  if (!ssl_ || SSL_set_fd(ssl_.get(), fd) != 1) {
    throw std::runtime_error("cannot create a TLS connection: " + ssl_errors());
  }
  SSL_set_accept_state(ssl_.get());
}

TlsConn::Io TlsConn::result(int ret) {
  switch (SSL_get_error(ssl_.get(), ret)) {
    case SSL_ERROR_WANT_READ:
    case SSL_ERROR_WANT_WRITE: return Io::want_io;
    case SSL_ERROR_ZERO_RETURN: return Io::eof;  // close_notify, or a plain TCP close
    case SSL_ERROR_SYSCALL: {
      const int err = errno;
      error_ = ssl_errors();
      if (error_.empty()) {
        error_ = err != 0 ? std::strerror(err) : "connection failed";
      }
      return Io::error;
    }
    default:
      error_ = ssl_errors();
      if (error_.empty()) {
        error_ = "TLS failure";
      }
      return Io::error;
  }
}

TlsConn::Io TlsConn::handshake() {
  ERR_clear_error();
  const int ret = SSL_do_handshake(ssl_.get());
  if (ret == 1) {
    established_ = true;
    return Io::done;
  }
  return result(ret);
}

TlsConn::Io TlsConn::read(std::span<std::uint8_t> buf, std::size_t& n) {
  ERR_clear_error();
  if (SSL_read_ex(ssl_.get(), buf.data(), buf.size(), &n) == 1) {
    return Io::done;
  }
  return result(0);
}

TlsConn::Io TlsConn::write(std::string_view data, std::size_t& n) {
  ERR_clear_error();
  if (SSL_write_ex(ssl_.get(), data.data(), data.size(), &n) == 1) {
    return Io::done;
  }
  return result(0);
}

void TlsConn::shutdown() {
  if (established_) {
    ERR_clear_error();
    SSL_shutdown(ssl_.get());
    ERR_clear_error();
  }
}

std::string TlsConn::peer_common_name() const {
  X509* cert = SSL_get0_peer_certificate(ssl_.get());
  if (cert == nullptr) {
    return {};
  }
  char cn[256] = {};
  const int n = X509_NAME_get_text_by_NID(X509_get_subject_name(cert), NID_commonName, cn, sizeof cn);
  return n > 0 ? std::string(cn, static_cast<std::size_t>(n)) : std::string();
}

}  // namespace lifeline::detail
