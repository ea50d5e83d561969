// The admin server's thread, listener and connections. The routes are in
// routes.cpp, one connection's request loop in http_session.hpp.

#include <spdlog/spdlog.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ip/v6_only.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/ssl.hpp>
#include <thread>

#include "address.hpp"
#include "context.hpp"
#include "http_session.hpp"
#include "lifeline/admin.hpp"
#include "lifeline/files.hpp"
#include "lifeline/log.hpp"

namespace lifeline {

namespace asio = boost::asio;
namespace beast = boost::beast;
using asio::ip::tcp;

std::string AdminOptions::validate() const {
  if (token.empty() && !insecure) {
    return "admin: a token is required (--admin-token-file), or --insecure-admin to serve without one";
  }
  if (tls_cert_file.empty() != tls_key_file.empty()) {
    return "admin: TLS needs both a certificate and a key";
  }
  if (max_connections == 0 || max_request < 1024 || request_timeout.count() <= 0 || sse_keepalive.count() <= 0 ||
      sse_backlog == 0) {
    return "admin: max_connections, sse_backlog and the timeouts must be positive, max_request at least 1024";
  }
  try {
    detail::split_host_port(listen);
  } catch (const std::exception& e) {
    return std::string("admin: ") + e.what();
  }
  return {};
}

struct AdminServer::Impl {
  Impl(Server& server, AdminOptions options) : ctx(server, std::move(options)) {}

  admin::Context ctx;
  std::unique_ptr<asio::io_context> io = std::make_unique<asio::io_context>(1);
  std::unique_ptr<asio::ssl::context> tls;
  std::vector<tcp::acceptor> acceptors;
  std::thread thread;
  std::uint64_t events_token = 0;
  std::atomic<std::uint16_t> port{0};
  bool started = false;

  void load_tls();
  asio::awaitable<void> accept_loop(tcp::acceptor& acceptor);
  asio::awaitable<void> serve(tcp::socket socket);
};

void AdminServer::Impl::load_tls() {
  const auto& o = ctx.options;
  if (o.tls_cert_file.empty()) {
    return;
  }
  tls = std::make_unique<asio::ssl::context>(asio::ssl::context::tls_server);
  tls->set_options(asio::ssl::context::default_workarounds | asio::ssl::context::no_sslv2 |
                   asio::ssl::context::no_sslv3 | asio::ssl::context::no_tlsv1 | asio::ssl::context::no_tlsv1_1);
  try {
    const auto chain = read_text_file(o.tls_cert_file, "admin TLS certificate");
    const auto key = read_text_file(o.tls_key_file, "admin TLS key");
    tls->use_certificate_chain(asio::buffer(chain));
    tls->use_private_key(asio::buffer(key), asio::ssl::context::pem);
  } catch (const std::exception& e) {
    throw std::invalid_argument("admin TLS: " + std::string(e.what()));
  }
}

asio::awaitable<void> AdminServer::Impl::accept_loop(tcp::acceptor& acceptor) {
  for (;;) {
    auto [ec, socket] = co_await acceptor.async_accept(admin::kTuple);
    if (ec == asio::error::operation_aborted) {
      co_return;
    }
    if (ec) {
      logger()->warn("admin: accept failed: {}", ec.message());
      asio::steady_timer pause(*io, std::chrono::milliseconds(100));  // EMFILE and the like: do not spin
      co_await pause.async_wait(admin::kTuple);
      continue;
    }
    asio::co_spawn(*io, serve(std::move(socket)), asio::detached);
  }
}

asio::awaitable<void> AdminServer::Impl::serve(tcp::socket socket) {
  const bool over_limit = ctx.connections.fetch_add(1) >= ctx.options.max_connections;
  struct Count {
    std::atomic<std::size_t>& n;
    ~Count() { --n; }
  } count{ctx.connections};
  beast::tcp_stream stream(std::move(socket));
  if (!tls) {
    co_await admin::serve_http(ctx, stream, over_limit);
    beast::error_code ignored;
    stream.socket().shutdown(tcp::socket::shutdown_send, ignored);
    co_return;
  }
  beast::ssl_stream<beast::tcp_stream> secure(std::move(stream), *tls);
  beast::get_lowest_layer(secure).expires_after(ctx.options.request_timeout);
  if (auto [ec] = co_await secure.async_handshake(asio::ssl::stream_base::server, admin::kTuple); ec) {
    logger()->debug("admin: TLS handshake failed: {}", ec.message());
    co_return;
  }
  co_await admin::serve_http(ctx, secure, over_limit);
  beast::get_lowest_layer(secure).expires_after(std::chrono::seconds(1));
  co_await secure.async_shutdown(admin::kTuple);
}

AdminServer::AdminServer(Server& server, AdminOptions options) {
  if (auto err = options.validate(); !err.empty()) {
    throw std::invalid_argument(err);
  }
  impl_ = std::make_unique<Impl>(server, std::move(options));
  impl_->load_tls();
}

AdminServer::~AdminServer() { stop(); }

void AdminServer::set_history(HistoryFn fn) { impl_->ctx.history = std::move(fn); }
void AdminServer::set_known(KnownFn one, KnownListFn all) {
  impl_->ctx.known_one = std::move(one);
  impl_->ctx.known_all = std::move(all);
}
void AdminServer::add_metrics(MetricsFn fn) { impl_->ctx.metrics.push_back(std::move(fn)); }
void AdminServer::set_token(std::string token) { impl_->ctx.set_token(std::move(token)); }
std::uint16_t AdminServer::port() const { return impl_->port.load(); }

void AdminServer::start() {
  auto& im = *impl_;
  if (im.started || !im.io) {
    return;
  }
  const auto& text = im.ctx.options.listen;
  for (auto addr : detail::resolve_address(text)) {
    if (im.port != 0) {
      addr.set_port(im.port);  // a name's addresses share the port port 0 picked first
    }
    tcp::endpoint ep;
    std::memcpy(ep.data(), addr.data(), addr.size);
    ep.resize(addr.size);
    tcp::acceptor acceptor(*im.io);
    boost::system::error_code ec;
    acceptor.open(ep.protocol(), ec);
    if (!ec && ep.protocol() == tcp::v6()) {
      acceptor.set_option(asio::ip::v6_only(true), ec);
    }
    if (!ec) {
      acceptor.set_option(tcp::acceptor::reuse_address(true), ec);
    }
    if (!ec) {
      acceptor.bind(ep, ec);
    }
    if (!ec) {
      acceptor.listen(asio::socket_base::max_listen_connections, ec);
    }
    if (ec) {
      throw std::system_error(ec, "admin: cannot listen on " + text + " (" + detail::to_string(addr) + ")");
    }
    im.port = acceptor.local_endpoint().port();
    addr.set_port(im.port);
    logger()->info("admin API on {}://{} ({})", im.tls ? "https" : "http", detail::to_string(addr),
                   im.ctx.options.token.empty() ? "no token: --insecure-admin" : "bearer token required");
    im.acceptors.push_back(std::move(acceptor));
  }
  // The server's events feed the memory of offline clients, on this thread.
  im.events_token = im.ctx.server.subscribe_view(
      [this](const PresenceEvent& e) { asio::post(*impl_->io, [this, e] { impl_->ctx.offline.apply(e); }); });
  for (auto& a : im.acceptors) {
    asio::co_spawn(*im.io, im.accept_loop(a), asio::detached);
  }
  im.thread = std::thread([this] {
    try {
      impl_->io->run();
    } catch (const std::exception& e) {
      logger()->critical("admin thread stopped by an exception: {}", e.what());
    }
  });
  im.started = true;
}

void AdminServer::stop() {
  auto& im = *impl_;
  if (!im.started || !im.io) {
    return;
  }
  im.ctx.server.unsubscribe(im.events_token);
  im.io->stop();
  if (im.thread.joinable()) {
    im.thread.join();
  }
  // Destroying the io_context's pending work ends every connection (the
  // acceptors go first: they must not outlive it); event streams unsubscribe
  // on the way (http_session.hpp, Leave).
  im.acceptors.clear();
  im.io.reset();
}

}  // namespace lifeline
