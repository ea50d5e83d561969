// One connection attempt: connect, handshake, read, heartbeat, write, close.
// Frames are handled in client_frames.cpp, the TLS handshake in client_tls.cpp.

#include "client_connection.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#if LIFELINE_TLS
#include <boost/asio/ssl/error.hpp>
#endif
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <cstring>

#include "address.hpp"
#include "lifeline/duration.hpp"
#include "lifeline/token.hpp"
#include "ping_policy.hpp"
#include "socket_options.hpp"

namespace lifeline {
namespace asio = boost::asio;
using namespace boost::asio::experimental::awaitable_operators;

namespace {
constexpr auto kAsTuple = asio::as_tuple(asio::use_awaitable);

std::string ms_text(std::chrono::steady_clock::duration d) {
  return format_duration(std::chrono::duration_cast<std::chrono::milliseconds>(d));
}

// "127.0.0.1:7000" / "[::1]:7000", as address.hpp spells addresses.
std::string endpoint_text(const boost::asio::ip::tcp::endpoint& ep) {
  detail::SocketAddress a;
  std::memcpy(&a.storage, ep.data(), ep.size());
  a.size = static_cast<socklen_t>(ep.size());
  return detail::to_string(a);
}
}  // namespace

Client::Impl::Connection::Connection(Impl& client, std::string name)
    : client_(client),
      opts_(client.opts),
      name_(std::move(name)),
      resolver_(client.ex),
      socket_(client.ex),
      decoder_(proto::FrameLimits{client.opts.max_data}),
      handshake_deadline_(Clock::now() + client.opts.connect_timeout),
      connect_timer_(client.ex),
      watchdog_timer_(client.ex),
      writer_wake_(client.ex, Clock::time_point::max()) {}

asio::awaitable<void> Client::Impl::Connection::run() {
  std::string token = opts_.token;
  if (!opts_.token_file.empty()) {
    try {
      token = auth::read_token_file(opts_.token_file);  // every attempt: a renewed token needs no restart
    } catch (const std::invalid_argument& e) {
      refused_ = true;  // no server can fix this: worth a warning
      close(e.what());
      co_return;
    }
  }
  if (!co_await connect()) {
    co_return;
  }
  send_hello(std::move(token));
  // The writer lives as long as the attempt; reader and watchdog race to end it.
  co_await ((reader() || watchdog()) && writer());
}

// The endpoint's addresses, resolved now; nullopt (and closed) if the name
// does not resolve within the connect timeout or the attempt was stopped.
auto Client::Impl::Connection::resolve() -> asio::awaitable<std::optional<tcp::resolver::results_type>> {
  const auto hp = detail::split_host_port(name_);  // checked when the client was made: cannot throw
  const auto flags =
      hp.numeric ? tcp::resolver::numeric_host | tcp::resolver::numeric_service : tcp::resolver::numeric_service;
  connect_timer_.expires_after(opts_.connect_timeout);
  auto resolved = co_await (resolver_.async_resolve(hp.host, std::to_string(hp.port), flags, kAsTuple) ||
                            connect_timer_.async_wait(kAsTuple));
  if (resolved.index() == 1) {
    close("cannot resolve '" + hp.host + "': no answer within " + ms_text(opts_.connect_timeout));
  } else if (auto [ec, results] = std::get<0>(resolved); ec) {
    close("cannot resolve '" + hp.host + "': " + ec.message());
  } else if (!closed_) {
    co_return std::move(results);
  }
  co_return std::nullopt;
}

asio::awaitable<bool> Client::Impl::Connection::connect() {
  const auto addresses = co_await resolve();
  if (!addresses) {
    co_return false;
  }
  // Each address in turn, each with the whole connect timeout; the failures
  // are reported together if none connects.
  std::string failures;
  for (const auto& entry : *addresses) {
    handshake_deadline_ = Clock::now() + opts_.connect_timeout;
    connect_timer_.expires_at(handshake_deadline_);
    boost::system::error_code ignored;
    socket_.close(ignored);  // a failed attempt's socket cannot connect again
    auto connected =
        co_await (socket_.async_connect(entry.endpoint(), kAsTuple) || connect_timer_.async_wait(kAsTuple));
    if (closed_) {
      co_return false;  // stop() came meanwhile
    }
    std::string why;
    if (connected.index() == 1) {
      why = "timed out after " + ms_text(opts_.connect_timeout);
    } else if (auto [ec] = std::get<0>(connected); ec) {
      why = ec.message();
    } else {
      failures.clear();
      break;
    }
    const bool several = addresses->size() > 1;
    failures += (failures.empty() ? "" : "; ") + (several ? endpoint_text(entry.endpoint()) + ": " : "") + why;
  }
  if (!failures.empty()) {
    close("connect failed: " + failures);
  }
  if (!closed_ && client_.tls_ctx) {
    if (auto why = co_await tls_handshake(); !why.empty()) {
      close(std::move(why));
    }
  }
  co_return !closed_;  // closed also when stop() came during the handshake
}

void Client::Impl::Connection::send_hello(std::string token) {
  const Heartbeat proposed{opts_.interval.count() != 0 ? opts_.interval : std::chrono::milliseconds(10'000),
                           opts_.timeout.count() != 0 ? opts_.timeout : std::chrono::milliseconds(30'000)};
  detail::apply_socket_options(socket_.native_handle(), proposed, opts_.tcp_keepalive);
  proto::Hello hello;
  hello.version = client_.hello_version;
  hello.flags = static_cast<std::uint8_t>((opts_.server_pings ? proto::kFlagServerPings : 0) |
                                          (opts_.observer ? proto::kFlagObserver : 0));
  hello.interval = opts_.interval;
  hello.timeout = opts_.timeout;
  hello.id = opts_.id;
  hello.labels = opts_.labels;
  hello.token = std::move(token);
  std::string frame;
  proto::encode(hello, frame);
  last_rx_ = last_tx_ = last_ping_ = Clock::now();
  send(frame);
}

asio::awaitable<void> Client::Impl::Connection::reader() {
  while (!closed_) {
    auto [ec, n] = tls_ ? co_await tls_->async_read_some(asio::buffer(rx_), kAsTuple)
                        : co_await socket_.async_read_some(asio::buffer(rx_), kAsTuple);
    if (ec) {
      // A TLS peer that closes without close_notify reads as a truncated stream.
#if LIFELINE_TLS
      const bool eof = ec == asio::error::eof || ec == asio::ssl::error::stream_truncated;
#else
      const bool eof = ec == asio::error::eof;
#endif
      // After a failed write or a stop() this is a no-op: the first reason stays.
      close(eof ? "connection closed by the server" : "connection failed: " + ec.message());
      co_return;
    }
    last_rx_ = Clock::now();
    auto err = decoder_.feed(proto::Bytes(rx_.data(), n), [this](const proto::Frame& f) { return on_frame(f); });
    if (err) {
      close("protocol error from the server: " + err->message);
    }
  }
}

asio::awaitable<void> Client::Impl::Connection::watchdog() {
  while (!closed_) {
    const auto now = Clock::now();
    if (!welcomed_) {
      if (now >= handshake_deadline_) {
        close("no WELCOME within " + ms_text(opts_.connect_timeout));
        co_return;
      }
      watchdog_timer_.expires_at(handshake_deadline_);
    } else {
      // Counted from the last byte received, never from the last PING sent.
      const auto expiry = last_rx_ + hb_.timeout;
      if (now >= expiry) {
        close("server silent for " + ms_text(now - last_rx_) + " (timeout " + ms_text(hb_.timeout) + ")");
        co_return;
      }
      watchdog_timer_.expires_at(std::min(expiry, plan_heartbeat(now)));
    }
    // Cancelled by WELCOME (re-plan with the heartbeat's deadlines) and by close().
    co_await watchdog_timer_.async_wait(kAsTuple);
  }
}

auto Client::Impl::Connection::plan_heartbeat(Clock::time_point now) -> Clock::time_point {
  if (opts_.server_pings) {
    return Clock::time_point::max();  // the server pings; we only answer
  }
  auto due = next_ping_due(last_tx_, last_rx_, last_ping_, hb_.interval);
  if (now >= due) {
    const auto ping = proto::encode_timestamp(proto::FrameType::ping, timestamp_us(now));
    send(std::string_view(reinterpret_cast<const char*>(ping.data()), ping.size()));
    last_ping_ = now;
    if (now - due < hb_.interval) {
      last_ping_ = last_tx_ = due;  // as the server does: a late timer's lateness does not add up
    }
    due = next_ping_due(last_tx_, last_rx_, last_ping_, hb_.interval);
  }
  return due;
}

void Client::Impl::Connection::send(std::string_view frame) {
  if (closed_ || bye_queued_) {
    return;  // nothing is buffered across attempts, nothing goes out after BYE
  }
  last_tx_ = Clock::now();
  out_.append(frame);
  writer_wake_.cancel_one();
}

asio::awaitable<void> Client::Impl::Connection::writer() {
  while (!closed_) {
    if (out_.empty()) {
      if (bye_queued_) {
        // stop()'s BYE is out: end the connection.
        boost::system::error_code ec;
        socket_.shutdown(tcp::socket::shutdown_send, ec);
        close("stopped");
        co_return;
      }
      co_await writer_wake_.async_wait(kAsTuple);  // operation_aborted is the wake-up
      continue;
    }
    std::string chunk;
    chunk.swap(out_);
    auto [ec, n] = tls_ ? co_await asio::async_write(*tls_, asio::buffer(chunk), kAsTuple)
                        : co_await asio::async_write(socket_, asio::buffer(chunk), kAsTuple);
    if (ec) {
      // The kernel hands a connection's error (ETIMEDOUT, ECONNRESET) to one
      // operation only; the reader would then see a plain EOF. Closing here
      // keeps this cause as the reason; the reader's EOF comes second.
      close("write failed: " + ec.message());
    }
  }
}

void Client::Impl::Connection::stop() {
  if (closed_) {
    return;
  }
  if (!welcomed_) {
    close("stopped");  // nothing to say goodbye to yet
    return;
  }
  // Queued behind any write in flight rather than interleaved, and written by
  // the writer over TLS too (a blocking write would share the TLS engine with
  // the pending read). Plain TCP takes the same path: no blocking write on the
  // I/O thread, which a full socket buffer would stall. The writer closes the
  // connection once the BYE is out.
  proto::Bye bye;
  bye.reason = proto::Reason::bye;
  std::string frame;
  proto::encode(bye, frame);
  send(frame);
  bye_queued_ = true;
}

void Client::Impl::Connection::close(std::string reason) {
  if (closed_) {
    return;
  }
  closed_ = true;
  reason_ = std::move(reason);
  boost::system::error_code ignored;
  socket_.close(ignored);
  resolver_.cancel();
  connect_timer_.cancel();
  watchdog_timer_.cancel();
  writer_wake_.cancel();
}

}  // namespace lifeline

#if !LIFELINE_TLS
namespace lifeline {

// A build without TLS (the Windows build) refuses the option when the client
// is made, so neither of these runs; they keep the code above the same.
std::unique_ptr<detail::ClientTlsContext> detail::make_client_tls_context(const ClientTlsOptions& /*opts*/) {
  throw std::invalid_argument("this build of lifeline has no TLS (built without OpenSSL): drop the tls options");
}

asio::awaitable<std::string> Client::Impl::Connection::tls_handshake() { co_return "no TLS in this build"; }

}  // namespace lifeline
#endif
