#include "tls.hpp"

#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>
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

// One part of a ticket key: HMAC-SHA256(secret, label), so the three parts
// are independent and the secret never leaves this function.
template <std::size_t N>
void derive(const std::string& secret, const char* label, std::array<unsigned char, N>& out) {
  unsigned char mac[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  HMAC(EVP_sha256(), secret.data(), static_cast<int>(secret.size()), reinterpret_cast<const unsigned char*>(label),
       std::strlen(label), mac, &len);
  static_assert(N <= 32);
  std::memcpy(out.data(), mac, N);
}

// A random secret, for a server given no ticket key file: the same as
// OpenSSL's own default, random keys for the life of the process.
std::string random_secret() {
  std::string secret(32, '\0');
  if (RAND_bytes(reinterpret_cast<unsigned char*>(secret.data()), static_cast<int>(secret.size())) != 1) {
    fail("cannot make a random TLS ticket key");
  }
  return secret;
}

}  // namespace

std::vector<TicketKey> derive_ticket_keys(const std::vector<std::string>& secrets) {
  std::vector<TicketKey> keys(secrets.size());
  for (std::size_t i = 0; i < secrets.size(); ++i) {
    derive(secrets[i], "lifeline ticket key name", keys[i].name);
    derive(secrets[i], "lifeline ticket aes-256-cbc", keys[i].aes);
    derive(secrets[i], "lifeline ticket hmac-sha256", keys[i].hmac);
  }
  return keys;
}

void TlsContext::set_ticket_secrets(const std::vector<std::string>& secrets) {
  ticket_keys_.store(std::make_shared<const std::vector<TicketKey>>(
      derive_ticket_keys(secrets.empty() ? std::vector<std::string>{random_secret()} : secrets)));
}

int TlsContext::ticket_callback(SSL* ssl, unsigned char* name, unsigned char* iv, EVP_CIPHER_CTX* cipher,
                                EVP_MAC_CTX* mac, int encrypt) {
  const auto* self = static_cast<const TlsContext*>(SSL_CTX_get_app_data(SSL_get_SSL_CTX(ssl)));
  const auto keys = self->ticket_keys_.load();
  const auto seal = [&](const TicketKey& k) {
    char digest[] = "SHA256";
    const OSSL_PARAM params[] = {
        OSSL_PARAM_construct_octet_string(OSSL_MAC_PARAM_KEY, const_cast<unsigned char*>(k.hmac.data()), k.hmac.size()),
        OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, digest, 0), OSSL_PARAM_construct_end()};
    return EVP_MAC_CTX_set_params(mac, params) == 1;
  };
  if (encrypt == 1) {
    const auto& k = keys->front();
    std::memcpy(name, k.name.data(), k.name.size());
    if (RAND_bytes(iv, EVP_CIPHER_get_iv_length(EVP_aes_256_cbc())) != 1 ||
        EVP_EncryptInit_ex(cipher, EVP_aes_256_cbc(), nullptr, k.aes.data(), iv) != 1 || !seal(k)) {
      return -1;  // the handshake goes on without a ticket
    }
    return 1;
  }
  for (std::size_t i = 0; i < keys->size(); ++i) {
    const auto& k = (*keys)[i];
    if (std::memcmp(name, k.name.data(), k.name.size()) == 0) {
      if (EVP_DecryptInit_ex(cipher, EVP_aes_256_cbc(), nullptr, k.aes.data(), iv) != 1 || !seal(k)) {
        return -1;
      }
      return i == 0 ? 1 : 2;  // 2: an older key; the client gets a ticket under the current one
    }
  }
  return 0;  // a key this server does not have (rotated out, or another fleet's): a full handshake
}

TlsContext::TlsContext(const ServerTlsOptions& opts) : ctx_(SSL_CTX_new(TLS_server_method())) {
  if (!ctx_) {
    fail("cannot create a TLS context");
  }
  SSL_CTX_set_min_proto_version(ctx_.get(), TLS1_2_VERSION);
  // Idle sessions give their read and write buffers back: a heartbeat
  // connection spends nearly all its life idle.
  SSL_CTX_set_mode(ctx_.get(),
                   SSL_MODE_RELEASE_BUFFERS | SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
  // One read() per record, not two: without read-ahead OpenSSL reads a
  // record's 5-byte header, then its body, then (Connection::read_all reads
  // until OpenSSL wants more) finds the socket empty: 3 system calls per
  // heartbeat instead of TCP's 1. With it, 2.
  SSL_CTX_set_read_ahead(ctx_.get(), 1);
  // No server-side session cache: it would keep sessions (certificates
  // included) for the cache's lifetime. Resumption still works through
  // stateless tickets, which cost the server no memory.
  SSL_CTX_set_session_cache_mode(ctx_.get(), SSL_SESS_CACHE_OFF);
  // The ticket keys are ours (ticket_callback), so that tickets can outlive
  // the process; one ticket per TLS 1.3 handshake, as a client keeps one.
  SSL_CTX_set_app_data(ctx_.get(), this);
  // With client certificates OpenSSL refuses to resume a session without a
  // session id context ("session id context uninitialized"): name ours.
  static constexpr unsigned char kSessionContext[] = "lifeline";
  SSL_CTX_set_session_id_context(ctx_.get(), kSessionContext, sizeof kSessionContext - 1);
  set_ticket_secrets(opts.ticket_secrets);
  SSL_CTX_set_tlsext_ticket_key_evp_cb(ctx_.get(), &TlsContext::ticket_callback);
  SSL_CTX_set_num_tickets(ctx_.get(), 1);
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

bool TlsConn::resumed() const { return established_ && SSL_session_reused(ssl_.get()) == 1; }

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
