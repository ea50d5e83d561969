// The client's TLS setup (once per client) and handshake (once per attempt).

#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509_vfy.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <stdexcept>

#include "address.hpp"
#include "client_connection.hpp"
#include "lifeline/duration.hpp"
#include "lifeline/files.hpp"

namespace lifeline {
namespace asio = boost::asio;
namespace ssl = boost::asio::ssl;
using namespace boost::asio::experimental::awaitable_operators;

namespace detail {
namespace {
// Where an SSL object points at its endpoint's TlsSessionSlot. Not the "app
// data" slot: Asio's stream keeps (and deletes) its verify callback there.
int slot_index() {
  static const int index = SSL_get_ex_new_index(0, nullptr, nullptr, nullptr, nullptr);
  return index;
}

// OpenSSL hands the client each new session (a TLS 1.3 ticket arrives after
// the handshake, with the first reads): a copy replaces the endpoint's slot,
// to be offered on the next connection there. A copy, because OpenSSL marks
// the connection's own session unusable when the connection ends without a
// close_notify, and the connections worth resuming are exactly those whose
// server died.
int on_new_session(SSL* ssl, SSL_SESSION* session) {
  if (auto* slot = static_cast<TlsSessionSlot*>(SSL_get_ex_data(ssl, slot_index()))) {
    slot->session.reset(SSL_SESSION_dup(session));
  }
  return 0;  // OpenSSL keeps (and frees) its own reference
}

template <class F>
void load(const std::string& what, const std::string& file, F&& f) {
  boost::system::error_code ec;
  f(ec);
  if (ec) {
    throw std::invalid_argument("cannot load TLS " + what + " '" + file + "': " + ec.message());
  }
}
}  // namespace

std::unique_ptr<ssl::context> make_client_tls_context(const ClientTlsOptions& opts) {
  auto ctx = std::make_unique<ssl::context>(ssl::context::tls_client);
  SSL_CTX_set_min_proto_version(ctx->native_handle(), TLS1_2_VERSION);
  SSL_CTX_set_mode(ctx->native_handle(), SSL_MODE_RELEASE_BUFFERS);
  // Sessions are kept per endpoint by the client (Impl::tls_sessions), not
  // in OpenSSL's cache, which is keyed by nothing a client can look up.
  SSL_CTX_set_session_cache_mode(ctx->native_handle(), SSL_SESS_CACHE_CLIENT | SSL_SESS_CACHE_NO_INTERNAL_STORE);
  SSL_CTX_sess_set_new_cb(ctx->native_handle(), &on_new_session);
  ctx->set_verify_mode(ssl::verify_peer);
  if (opts.ca_file.empty()) {
    load("system CA store", "default", [&](auto& ec) { ctx->set_default_verify_paths(ec); });
  } else {
    read_text_file(opts.ca_file, "TLS CA");  // the OS's reason for a file it cannot use, not a PEM error
    load("CA", opts.ca_file, [&](auto& ec) { ctx->load_verify_file(opts.ca_file, ec); });
  }
  if (!opts.cert_file.empty()) {
    read_text_file(opts.cert_file, "TLS certificate");
    read_text_file(opts.key_file, "TLS key");
    load("certificate", opts.cert_file, [&](auto& ec) { ctx->use_certificate_chain_file(opts.cert_file, ec); });
    load("key", opts.key_file, [&](auto& ec) { ctx->use_private_key_file(opts.key_file, ssl::context::pem, ec); });
  }
  return ctx;
}
}  // namespace detail

asio::awaitable<std::string> Client::Impl::Connection::tls_handshake() {
  tls_.emplace(socket_, *client_.tls_ctx);
  const std::string host = opts_.tls.server_name.empty() ? detail::endpoint_host(name_) : opts_.tls.server_name;
  boost::system::error_code ec;
  asio::ip::make_address(host, ec);
  const bool is_address = !ec;
  SSL* ssl = tls_->native_handle();
  if (!is_address) {
    SSL_set_tlsext_host_name(ssl, host.c_str());  // SNI takes names, not addresses
  }
  // OpenSSL's own check, so a mismatch is reported as one ("hostname mismatch").
  if (opts_.tls.verify_hostname && (is_address ? X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), host.c_str())
                                               : SSL_set1_host(ssl, host.c_str())) != 1) {
    co_return "TLS: cannot verify the server as '" + host + "'";
  }
  // Resumption: the last session this endpoint gave, if any. A server that
  // cannot open its ticket (new keys) simply does a full handshake.
  auto& slot = client_.tls_sessions[name_];
  SSL_set_ex_data(ssl, detail::slot_index(), &slot);
  if (slot.session && SSL_SESSION_is_resumable(slot.session.get()) == 1) {
    // A copy again: the one kept stays usable however this connection ends.
    const std::unique_ptr<SSL_SESSION, detail::TlsSessionSlot::Free> offer(SSL_SESSION_dup(slot.session.get()));
    SSL_set_session(ssl, offer.get());  // takes its own reference
  }
  // The same deadline as the TCP connect: connect_timeout covers both (and WELCOME).
  connect_timer_.expires_at(handshake_deadline_);
  auto done = co_await (tls_->async_handshake(ssl::stream_base::client, asio::as_tuple(asio::use_awaitable)) ||
                        connect_timer_.async_wait(asio::as_tuple(asio::use_awaitable)));
  if (done.index() == 1) {
    co_return "TLS handshake timed out after " +
        format_duration(std::chrono::duration_cast<std::chrono::milliseconds>(opts_.connect_timeout));
  }
  if (auto [hec] = std::get<0>(done); hec) {
    refused_ = true;  // a certificate or TLS configuration problem, not an outage: worth a warning
    const long verify = SSL_get_verify_result(tls_->native_handle());
    std::string why = "TLS handshake failed: " + hec.message();
    if (verify != X509_V_OK) {
      why += " (certificate: " + std::string(X509_verify_cert_error_string(verify)) + ")";
    }
    slot.session.reset();  // whatever went wrong, the next attempt starts clean
    co_return why;
  }
  tls_resumed_ = SSL_session_reused(ssl) == 1;
  co_return "";
}

}  // namespace lifeline
