#include "webhook.hpp"

#include <openssl/hmac.h>

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <boost/json.hpp>
#include <optional>

#include "address.hpp"
#include "lifeline/duration.hpp"
#include "lifeline/hooks.hpp"
#include "lifeline/presence_json.hpp"

namespace lifeline {

std::string webhook_signature(const std::string& secret, const std::string& body) {
  unsigned char mac[EVP_MAX_MD_SIZE];
  unsigned len = 0;
  HMAC(EVP_sha256(), secret.data(), static_cast<int>(secret.size()),
       reinterpret_cast<const unsigned char*>(body.data()), body.size(), mac, &len);
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out = "sha256=";
  for (unsigned i = 0; i < len; ++i) {
    out.push_back(kHex[mac[i] >> 4U]);
    out.push_back(kHex[mac[i] & 15U]);
  }
  return out;
}

std::string webhook_body(const PresenceEvent& e) { return boost::json::serialize(event_json(e)); }

namespace hooks {
namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;

namespace {
using detail::HttpUrl;
std::optional<HttpUrl> parse(const std::string& url) { return detail::parse_http_url(url); }

template <class Stream>
void exchange(Stream& s, http::request<http::string_body>& req, http::response<http::string_body>& res,
              beast::flat_buffer& buffer, beast::error_code& ec, bool& done) {
  http::async_write(s, req, [&](beast::error_code e, std::size_t) {
    if (e) {
      ec = e;
      done = true;
      return;
    }
    http::async_read(s, buffer, res, [&](beast::error_code e2, std::size_t) {
      ec = e2;
      done = true;
    });
  });
}
}  // namespace

std::string check_url(const std::string& url) {
  return parse(url) ? "" : "'" + url + "' is not an http:// or https:// URL with a host";
}

std::string post(const std::string& url, const std::string& body, const std::string& signature,
                 const std::string& event_kind, const std::string& delivery_id, std::chrono::milliseconds timeout) {
  const auto u = parse(url);
  if (!u) {
    return check_url(url);
  }
  asio::io_context io;
  beast::error_code ec;
  bool done = false;
  http::request<http::string_body> req{http::verb::post, u->target, 11};
  req.set(http::field::host, u->host);
  req.set(http::field::user_agent, "lifeline");
  req.set(http::field::content_type, "application/json");
  req.set("X-Lifeline-Signature", signature);
  req.set("X-Lifeline-Event", event_kind);
  req.set("X-Lifeline-Delivery", delivery_id);
  req.body() = body;
  req.prepare_payload();
  http::response<http::string_body> res;
  beast::flat_buffer buffer;
  tcp::resolver resolver(io);
  beast::tcp_stream tcp_stream(io);
  asio::ssl::context tls(asio::ssl::context::tls_client);
  std::optional<beast::ssl_stream<beast::tcp_stream&>> secure;
  resolver.async_resolve(u->host, u->port, [&](beast::error_code e, const tcp::resolver::results_type& r) {
    if (e) {
      ec = e;
      done = true;
      return;
    }
    tcp_stream.async_connect(r, [&](beast::error_code e2, const tcp::endpoint&) {
      if (e2) {
        ec = e2;
        done = true;
        return;
      }
      if (!u->https) {
        exchange(tcp_stream, req, res, buffer, ec, done);
        return;
      }
      tls.set_default_verify_paths();
      tls.set_verify_mode(asio::ssl::verify_peer);
      secure.emplace(tcp_stream, tls);
      secure->set_verify_callback(asio::ssl::host_name_verification(u->host));
      SSL_set_tlsext_host_name(secure->native_handle(), u->host.c_str());
      secure->async_handshake(asio::ssl::stream_base::client, [&](beast::error_code e3) {
        if (e3) {
          ec = e3;
          done = true;
          return;
        }
        exchange(*secure, req, res, buffer, ec, done);
      });
    });
  });
  io.run_for(timeout);
  if (!done) {
    return "no answer within " + format_duration(timeout);
  }
  if (ec) {
    return ec.message();
  }
  if (res.result_int() / 100 != 2) {
    return "HTTP " + std::to_string(res.result_int());
  }
  return {};
}

}  // namespace hooks
}  // namespace lifeline
