#include "admin_client.hpp"

#include <array>
#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <boost/json.hpp>
#include <optional>
#include <stdexcept>

#include "address.hpp"
#include "common.hpp"

namespace lifeline::app {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;

AdminUrl parse_admin_url(const std::string& url) {
  const auto parsed = detail::parse_http_url(url);
  if (!parsed) {
    throw UsageError("--admin: '" + url + "' is not an http:// or https:// URL with a host (and a numeric port)");
  }
  AdminUrl u{parsed->https, parsed->host, parsed->port, parsed->target};
  while (!u.base.empty() && u.base.back() == '/') {
    u.base.pop_back();  // the API's paths start with '/'
  }
  return u;
}

struct AdminClient::Impl {
  AdminUrl url;
  std::string token;
  ClientTlsOptions tls_options;
  std::chrono::milliseconds timeout;
  asio::io_context io;
  std::optional<asio::ssl::context> tls;
  std::optional<beast::tcp_stream> plain;
  std::optional<beast::ssl_stream<beast::tcp_stream>> secure;
  beast::flat_buffer buffer;

  // Runs the io_context until `done` or the deadline; throws on timeout.
  void run_until(const bool& done, const char* what) {
    io.restart();
    io.run_for(timeout);
    if (!done) {
      close();
      io.restart();
      io.run();
      throw std::runtime_error(std::string(what) + " timed out after " + std::to_string(timeout.count()) + " ms");
    }
  }
  void close() {
    beast::error_code ignored;
    if (secure) {
      beast::get_lowest_layer(*secure).socket().close(ignored);
    } else if (plain) {
      plain->socket().close(ignored);
    }
  }
  beast::tcp_stream& lowest() { return secure ? beast::get_lowest_layer(*secure) : *plain; }
  void connect();
  http::request<http::empty_body> request(const std::string& target, const std::string& last_event_id) const;
  template <class Fn>
  void with_stream(Fn&& fn) {
    if (secure) {
      fn(*secure);
    } else {
      fn(*plain);
    }
  }
};

void AdminClient::Impl::connect() {
  beast::error_code ec;
  bool done = false;
  tcp::resolver resolver(io);
  tcp::resolver::results_type endpoints;
  resolver.async_resolve(url.host, url.port, [&](beast::error_code e, tcp::resolver::results_type r) {
    ec = e;
    endpoints = std::move(r);
    done = true;
  });
  run_until(done, "resolving the admin host");
  if (ec) {
    throw std::runtime_error("cannot resolve '" + url.host + "': " + ec.message());
  }
  plain.emplace(io);
  done = false;
  plain->async_connect(endpoints, [&](beast::error_code e, const tcp::endpoint&) {
    ec = e;
    done = true;
  });
  run_until(done, "connecting to the admin API");
  if (ec) {
    throw std::runtime_error("cannot connect to " + url.host + ":" + url.port + ": " + ec.message());
  }
  if (!url.https) {
    return;
  }
  tls.emplace(asio::ssl::context::tls_client);
  tls->set_verify_mode(asio::ssl::verify_peer);
  if (tls_options.ca_file.empty()) {
    tls->set_default_verify_paths();
  } else {
    tls->load_verify_file(tls_options.ca_file);
  }
  secure.emplace(std::move(*plain), *tls);
  plain.reset();
  const auto name = tls_options.server_name.empty() ? url.host : tls_options.server_name;
  if (tls_options.verify_hostname) {
    secure->set_verify_callback(asio::ssl::host_name_verification(name));
  }
  SSL_set_tlsext_host_name(secure->native_handle(), name.c_str());
  done = false;
  secure->async_handshake(asio::ssl::stream_base::client, [&](beast::error_code e) {
    ec = e;
    done = true;
  });
  run_until(done, "the TLS handshake with the admin API");
  if (ec) {
    throw std::runtime_error("TLS handshake with " + url.host + ":" + url.port + " failed: " + ec.message());
  }
}

http::request<http::empty_body> AdminClient::Impl::request(const std::string& target,
                                                           const std::string& last_event_id) const {
  http::request<http::empty_body> req{http::verb::get, url.base + target, 11};
  req.set(http::field::host, url.host);
  req.set(http::field::user_agent, "lifeline");
  if (!token.empty()) {
    req.set(http::field::authorization, "Bearer " + token);
  }
  if (!last_event_id.empty()) {
    req.set("Last-Event-ID", last_event_id);
  }
  return req;
}

AdminClient::AdminClient(AdminUrl url, std::string token, ClientTlsOptions tls, std::chrono::milliseconds timeout)
    : impl_(std::make_unique<Impl>()) {
  impl_->url = std::move(url);
  impl_->token = std::move(token);
  impl_->tls_options = std::move(tls);
  impl_->timeout = timeout;
}

AdminClient::~AdminClient() = default;

namespace {
// The message of an error reply's JSON body, or the body itself.
std::string error_text(unsigned status, const std::string& body) {
  try {
    const auto v = boost::json::parse(body);
    return "HTTP " + std::to_string(status) + ": " + std::string(v.at("error").at("message").as_string());
  } catch (const std::exception&) {
    return "HTTP " + std::to_string(status) + (body.empty() ? "" : ": " + body.substr(0, 200));
  }
}
}  // namespace

std::string AdminClient::get(const std::string& target) {
  auto& im = *impl_;
  im.connect();
  http::response<http::string_body> res;
  beast::error_code ec;
  bool done = false;
  auto req = im.request(target, "");
  im.with_stream([&](auto& s) {
    http::async_write(s, req, [&](beast::error_code e, std::size_t) {
      if (e) {
        ec = e;
        done = true;
        return;
      }
      http::async_read(s, im.buffer, res, [&](beast::error_code e2, std::size_t) {
        ec = e2;
        done = true;
      });
    });
  });
  im.run_until(done, "the admin API's reply");
  im.close();
  if (ec) {
    throw std::runtime_error("reading the admin API's reply: " + ec.message());
  }
  if (res.result_int() != 200) {
    throw std::runtime_error(error_text(res.result_int(), res.body()));
  }
  return res.body();
}

namespace {
// Splits complete messages ("...\n\n") off the front of `text`.
void take_messages(std::string& text, const std::function<void(SseMessage)>& each) {
  for (auto end = text.find("\n\n"); end != std::string::npos; end = text.find("\n\n")) {
    SseMessage m;
    std::string_view block(text.data(), end);
    while (!block.empty()) {
      const auto nl = block.find('\n');
      const auto line = block.substr(0, nl);
      block = nl == std::string_view::npos ? std::string_view{} : block.substr(nl + 1);
      const auto colon = line.find(':');
      if (colon == 0) {
        continue;  // a comment (keepalive)
      }
      const auto field = line.substr(0, colon);
      auto value = colon == std::string_view::npos ? std::string_view{} : line.substr(colon + 1);
      if (value.starts_with(' ')) {
        value.remove_prefix(1);
      }
      if (field == "event") {
        m.event = value;
      } else if (field == "id") {
        m.id = value;
      } else if (field == "data") {
        m.data += m.data.empty() ? std::string(value) : "\n" + std::string(value);
      }
    }
    text.erase(0, end + 2);
    if (!m.data.empty()) {
      each(std::move(m));
    }
  }
}
}  // namespace

std::string AdminClient::stream(const std::string& target, const std::string& last_event_id,
                                const std::function<void()>& on_open,
                                const std::function<bool(const SseMessage&)>& on_message) {
  auto& im = *impl_;
  im.connect();
  auto req = im.request(target, last_event_id);
  http::response_parser<http::string_body> head;
  beast::error_code ec;
  bool done = false;
  im.with_stream([&](auto& s) {
    http::async_write(s, req, [&](beast::error_code e, std::size_t) {
      if (e) {
        ec = e;
        done = true;
        return;
      }
      http::async_read_header(s, im.buffer, head, [&](beast::error_code e2, std::size_t) {
        ec = e2;
        done = true;
      });
    });
  });
  im.run_until(done, "the event stream's reply");
  if (ec) {
    im.close();
    throw std::runtime_error("opening the event stream: " + ec.message());
  }
  if (head.get().result_int() != 200) {
    std::string body(static_cast<const char*>(im.buffer.data().data()), im.buffer.size());
    im.close();
    throw std::runtime_error(error_text(head.get().result_int(), body));
  }
  on_open();
  // The body runs until the connection closes: read it raw, message by message.
  std::string text(static_cast<const char*>(im.buffer.data().data()), im.buffer.size());
  im.buffer.consume(im.buffer.size());
  bool wanted = true;
  std::string why = "the server closed the stream";
  std::array<char, 4096> chunk{};
  std::function<void()> read_more;
  auto deliver = [&] { take_messages(text, [&](SseMessage m) { wanted = wanted && on_message(m); }); };
  im.with_stream([&](auto& s) {
    read_more = [&] {
      deliver();
      if (!wanted) {
        why = "done";
        im.close();
        return;
      }
      s.async_read_some(asio::buffer(chunk), [&](beast::error_code e, std::size_t n) {
        if (e) {
          why = e == asio::error::operation_aborted ? "stopped" : (e == asio::error::eof ? why : e.message());
          return;
        }
        text.append(chunk.data(), n);
        read_more();
      });
    };
  });
  im.lowest().expires_never();
  read_more();
  im.io.restart();
  im.io.run();
  im.close();
  return why;
}

void AdminClient::stop() {
  asio::post(impl_->io, [this] { impl_->close(); });
}

}  // namespace lifeline::app
