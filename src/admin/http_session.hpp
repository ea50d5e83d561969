#pragma once
// One admin HTTP connection, plain or TLS: reads requests with a size and
// time limit, checks the token, answers, keeps the connection alive when the
// client asks, and turns into an event stream for GET /v1/events.
// Coroutines on the admin thread.

#include <array>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

#include "event_stream.hpp"
#include "routes.hpp"

namespace lifeline::admin {

namespace asio = boost::asio;
namespace beast = boost::beast;
inline constexpr auto kTuple = asio::as_tuple(asio::use_awaitable);
inline constexpr std::size_t kHeaderLimit = 16 * 1024;

/// The HTTP response for `reply`, keeping the connection alive if `keep_alive`.
http::response<http::string_body> make_response(Reply reply, unsigned version, bool keep_alive);

/// The start of an event stream from the request, or the 400 reply.
std::variant<StreamStart, Reply> parse_stream_start(const Request& req, const Target& t);

template <class Stream>
asio::awaitable<void> write_reply(Stream& stream, Reply reply, unsigned version, bool keep_alive) {
  auto res = make_response(std::move(reply), version, keep_alive);
  co_await http::async_write(stream, res, kTuple);
}

/// Reads (and drops) whatever the event-stream reader sends, to learn at once
/// when it leaves: an idle stream would otherwise hold its connection until
/// the next keepalive. Wakes the writer and `joined` when it ends.
struct ReaderWatch {
  bool gone = false;
  bool done = false;
};
template <class Stream>
asio::awaitable<void> watch_reader(Stream& stream, std::shared_ptr<EventFeed> feed, std::shared_ptr<ReaderWatch> w,
                                   asio::steady_timer& joined) {
  std::array<char, 256> sink{};
  for (;;) {
    auto [ec, n] = co_await stream.async_read_some(asio::buffer(sink), kTuple);
    if (ec) {
      break;
    }
  }
  w->gone = true;
  w->done = true;
  feed->timer().cancel();
  joined.cancel();
}

/// Writes what the feed queues, and a comment when idle, until the reader leaves
/// or falls too far behind.
template <class Stream>
asio::awaitable<void> pump_events(Context& ctx, Stream& stream, EventFeed& feed_ref, const ReaderWatch& watch) {
  auto* feed = &feed_ref;
  auto& tcp = beast::get_lowest_layer(stream);
  std::string chunk = "retry: 1000\n\n" + feed->take();
  for (;;) {
    if (!chunk.empty()) {
      tcp.expires_after(ctx.options.request_timeout);  // a reader that stops reading is dropped
      if (auto [ec, n] = co_await asio::async_write(stream, asio::buffer(chunk), kTuple); ec) {
        co_return;
      }
      tcp.expires_never();
    }
    if (feed->overflowed() || watch.gone) {
      co_return;  // it left, or it resumes from its Last-Event-ID
    }
    feed->timer().expires_after(ctx.options.sse_keepalive);
    const auto [ec] = co_await feed->timer().async_wait(kTuple);
    chunk = feed->take();
    if (!ec && chunk.empty()) {
      chunk = ": keepalive\n\n";  // the timer ran out: nothing happened for a while
    }
  }
}

/// Streams events until the reader leaves, falls too far behind, or the server stops.
template <class Stream>
asio::awaitable<void> stream_events(Context& ctx, Stream& stream, const Request& req, const Target& t) {
  auto start = parse_stream_start(req, t);
  if (auto* bad = std::get_if<Reply>(&start)) {
    co_await write_reply(stream, std::move(*bad), req.version(), false);
    co_return;
  }
  auto& tcp = beast::get_lowest_layer(stream);
  tcp.expires_never();
  auto feed = std::make_shared<EventFeed>(co_await asio::this_coro::executor, ctx.options.sse_backlog);
  feed->start(ctx.server, std::get<StreamStart>(start));
  ++ctx.streams;
  struct Leave {  // also runs if the io_context is destroyed with this coroutine suspended
    Context& ctx;
    std::shared_ptr<EventFeed> feed;
    ~Leave() {
      feed->stop(ctx.server);
      --ctx.streams;
    }
  } leave{ctx, feed};
  http::response<http::empty_body> head{http::status::ok, req.version()};
  head.set(http::field::content_type, "text/event-stream");
  head.set(http::field::cache_control, "no-cache");
  head.set("X-Accel-Buffering", "no");  // proxies must not hold events back
  head.keep_alive(false);               // the body ends when the connection does
  http::response_serializer<http::empty_body> sr{head};
  if (auto [ec, n] = co_await http::async_write_header(stream, sr, kTuple); ec) {
    co_return;
  }
  auto watch = std::make_shared<ReaderWatch>();
  asio::steady_timer joined(co_await asio::this_coro::executor, asio::steady_timer::time_point::max());
  asio::co_spawn(co_await asio::this_coro::executor, watch_reader(stream, feed, watch, joined), asio::detached);
  co_await pump_events(ctx, stream, *feed, *watch);
  // The watcher reads from `stream`: it must end before the stream goes.
  boost::system::error_code ignored;
  tcp.socket().cancel(ignored);
  while (!watch->done) {
    co_await joined.async_wait(kTuple);
  }
}

/// The reply a failed read deserves before the close, if any: 413, 408 (only
/// for a request that had begun), 400 for what is not HTTP.
std::optional<Reply> read_error_reply(const Context& ctx, boost::system::error_code ec, bool got_some);

/// Answers one request. False once the connection is to close (not kept alive,
/// or it became an event stream that has ended).
template <class Stream>
asio::awaitable<bool> answer(Context& ctx, Stream& stream, const Request& req, bool over_limit) {
  const bool keep_alive = req.keep_alive() && !over_limit;
  if (over_limit) {
    co_await write_reply(
        stream,
        error_reply(http::status::service_unavailable, "too_many_connections",
                    "more than " + std::to_string(ctx.options.max_connections) + " admin connections are open"),
        req.version(), false);
    co_return false;
  }
  const auto target = parse_target(req.target());
  if (!target) {
    co_await write_reply(stream, error_reply(http::status::bad_request, "bad_request", "malformed request target"),
                         req.version(), false);
    co_return false;
  }
  if (auto denied = check_auth(ctx, req, *target)) {
    co_await write_reply(stream, std::move(*denied), req.version(), keep_alive);
  } else if (target->path == "/v1/events" && req.method() == http::verb::get) {
    co_await stream_events(ctx, stream, req, *target);
    co_return false;
  } else if (target->path == "/v1/events") {
    auto r = error_reply(http::status::method_not_allowed, "method_not_allowed",
                         std::string(req.method_string()) + " is not allowed on /v1/events (allowed: GET)");
    r.headers.emplace_back("Allow", "GET");
    co_await write_reply(stream, std::move(r), req.version(), keep_alive);
  } else {
    co_await write_reply(stream, route(ctx, req, *target), req.version(), keep_alive);
  }
  co_return keep_alive;
}

/// Serves requests on one connection until it closes. `over_limit`: answer
/// 503 too_many_connections to the first request and close.
template <class Stream>
asio::awaitable<void> serve_http(Context& ctx, Stream& stream, bool over_limit) {
  beast::flat_buffer buffer;
  auto& tcp = beast::get_lowest_layer(stream);
  asio::steady_timer deadline(co_await asio::this_coro::executor);
  // Our own request deadline, not the stream's: the stream's closes the socket
  // on expiry, and a slow request deserves a 408 before the close. The timer's
  // handler may run after this frame is gone (a late expiry): it only touches
  // the shared watchdog, which says whether the read it was armed for is still on.
  struct Watchdog {
    std::uint64_t armed = 0;  // the read it guards; 0 = none
    bool fired = false;
  };
  auto dog = std::make_shared<Watchdog>();
  auto* socket = &tcp.socket();
  struct Disarm {
    std::shared_ptr<Watchdog> dog;
    ~Disarm() { dog->armed = 0; }
  } disarm{dog};
  for (std::uint64_t read_no = 1;; ++read_no) {
    http::request_parser<http::string_body> parser;
    parser.header_limit(kHeaderLimit);
    parser.body_limit(ctx.options.max_request);
    tcp.expires_never();
    dog->armed = read_no;
    dog->fired = false;
    deadline.expires_after(ctx.options.request_timeout);
    deadline.async_wait([dog, read_no, socket](boost::system::error_code e) {
      if (!e && dog->armed == read_no) {
        dog->fired = true;
        boost::system::error_code ignored;
        socket->cancel(ignored);
      }
    });
    auto [ec, n] = co_await http::async_read(stream, buffer, parser, kTuple);
    dog->armed = 0;
    deadline.cancel();
    if (ec) {
      if (auto why = read_error_reply(ctx, dog->fired ? beast::error::timeout : ec, parser.got_some())) {
        tcp.expires_after(ctx.options.request_timeout);
        co_await write_reply(stream, std::move(*why), 11, false);
      }
      break;
    }
    ++ctx.requests;
    tcp.expires_after(ctx.options.request_timeout);
    if (!co_await answer(ctx, stream, parser.get(), over_limit)) {
      break;
    }
  }
}

}  // namespace lifeline::admin
