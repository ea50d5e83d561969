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
    co_return why;
  }
  co_return "";
}

}  // namespace lifeline
