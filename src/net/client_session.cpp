// The client's connection loop: connect, handshake, heartbeat, and on any loss
// wait a jittered backoff and try the next endpoint. Runs on the client's executor.

#include <spdlog/spdlog.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/ssl/error.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>

#include "bytes.hpp"
#include "client_impl.hpp"
#include "lifeline/duration.hpp"
#include "lifeline/log.hpp"
#include "lifeline/token.hpp"
#include "ping_policy.hpp"
#include "socket_options.hpp"

namespace lifeline {
namespace asio = boost::asio;
using namespace boost::asio::experimental::awaitable_operators;

namespace {
std::string ms_text(std::chrono::steady_clock::duration d) {
  return format_duration(std::chrono::duration_cast<std::chrono::milliseconds>(d));
}
}  // namespace

void Client::Impl::set_state(ClientState to, StateChange change) {
  {
    const std::lock_guard lock(mu);
    change.from = state;
    change.to = to;
    state = to;
    if (!change.reason.empty()) {
      last_error = change.reason;
    }
  }
  if (state_handler && !silenced) {
    state_handler(change);
  }
}

void Client::Impl::set_error(std::string why) {
  const std::lock_guard lock(mu);
  last_error = std::move(why);
}

asio::awaitable<void> Client::Impl::main_loop() {
  const auto self = shared_from_this();
  set_state(ClientState::connecting, {});
  std::size_t next_endpoint = 0;
  std::string stopped_because;
  bool wait_first = false;
  while (!stopping) {
    if (wait_first) {
      timer.expires_after(backoff.next());
      co_await timer.async_wait(asio::as_tuple(asio::use_awaitable));
      if (stopping) {
        break;
      }
    }
    wait_first = true;  // every retry waits a jittered delay, the first one after a loss too
    const auto i = next_endpoint++ % endpoints.size();
    ++attempts;
    const auto result = co_await attempt(endpoints[i], endpoint_names[i]);
    if (stopping) {
      break;
    }
    if (result.reached_online && replaced) {
      // Another live connection now holds our id. Reconnecting would take it
      // back, and the two would take it from each other forever: last one wins.
      stopped_because = result.why + "; not reconnecting: another connection with this id is live";
      break;
    }
    if (result.reached_online) {
      attempts = 0;  // the next outage counts from zero
      StateChange c;
      c.server = endpoint_names[i];
      c.reason = result.why;
      set_state(ClientState::reconnecting, c);
    } else {
      set_error(endpoint_names[i] + ": " + result.why);
      // An unreachable server is routine during an outage; a refusal (a bad
      // token, a certificate for another id) needs someone to act.
      logger()->log(refused ? spdlog::level::warn : spdlog::level::debug, "attempt {} to {} failed: {}", attempts,
                    endpoint_names[i], result.why);
    }
  }
  StateChange last;
  last.reason = stopped_because;
  set_state(ClientState::stopped, last);
  run_when_stopped();
}

void Client::Impl::run_when_stopped() {
  auto callbacks = std::move(when_stopped);
  when_stopped.clear();
  for (auto& f : callbacks) {
    f();
  }
}

asio::awaitable<Client::Impl::AttemptResult> Client::Impl::attempt(const tcp::endpoint& ep, const std::string& name) {
  AttemptResult result;
  ++gen;
  tls.reset();  // refers to the old socket
  socket.emplace(ex);
  decoder = proto::FrameDecoder(proto::FrameLimits{opts.max_data});
  out.clear();
  flushing = false;  // a writer of the previous attempt sees the new gen and stops
  close_after_flush = false;
  handshaking = true;
  replaced = false;
  refused = false;
  end_reason.clear();
  write_error.clear();
  current_server = name;
  handshake_deadline = Clock::now() + opts.connect_timeout;
  std::string token = opts.token;
  if (!opts.token_file.empty()) {
    try {
      token = auth::read_token_file(opts.token_file);  // every attempt: a renewed token needs no restart
    } catch (const std::invalid_argument& e) {
      refused = true;  // no server can fix this: worth a warning
      result.why = e.what();
      co_return result;
    }
  }

  timer.expires_at(handshake_deadline);
  auto connected = co_await (socket->async_connect(ep, asio::as_tuple(asio::use_awaitable)) ||
                             timer.async_wait(asio::as_tuple(asio::use_awaitable)));
  if (connected.index() == 1) {
    result.why = "connect timed out after " + ms_text(opts.connect_timeout);
  } else if (auto [ec] = std::get<0>(connected); ec) {
    result.why = "connect failed: " + ec.message();
  }
  if (result.why.empty() && !stopping && tls_ctx) {
    result.why = co_await tls_handshake(name);
  }
  if (!result.why.empty() || stopping) {
    boost::system::error_code ignored;
    socket->close(ignored);
    co_return result;
  }
  const Heartbeat proposed{opts.interval.count() != 0 ? opts.interval : std::chrono::milliseconds(10'000),
                           opts.timeout.count() != 0 ? opts.timeout : std::chrono::milliseconds(30'000)};
  detail::apply_socket_options(socket->native_handle(), proposed, opts.tcp_keepalive);
  proto::Hello hello;
  hello.flags = static_cast<std::uint8_t>((opts.server_pings ? proto::kFlagServerPings : 0) |
                                          (opts.observer ? proto::kFlagObserver : 0));
  hello.interval = opts.interval;
  hello.timeout = opts.timeout;
  hello.id = opts.id;
  hello.labels = opts.labels;
  hello.token = std::move(token);
  std::string frame;
  proto::encode(hello, frame);
  last_rx = last_tx = last_ping = Clock::now();
  send_frame(frame);

  auto ended = co_await (reader() || watchdog());
  result.why = ended.index() == 0 ? std::get<0>(ended) : std::get<1>(ended);
  result.reached_online = !handshaking;
  boost::system::error_code ignored;
  socket->close(ignored);
  co_return result;
}

asio::awaitable<std::string> Client::Impl::reader() {
  for (;;) {
    if (!write_error.empty()) {
      co_return write_error;  // the writer failed while this was not waiting
    }
    auto [ec, n] = tls ? co_await tls->async_read_some(asio::buffer(rx), asio::as_tuple(asio::use_awaitable))
                       : co_await socket->async_read_some(asio::buffer(rx), asio::as_tuple(asio::use_awaitable));
    if (ec) {
      if (stopping) {
        co_return "stopped";
      }
      if (!write_error.empty()) {
        co_return write_error;
      }
      // A TLS peer that closes without close_notify reads as a truncated stream.
      const bool eof = ec == asio::error::eof || ec == asio::ssl::error::stream_truncated;
      co_return eof ? "connection closed by the server" : "connection failed: " + ec.message();
    }
    last_rx = Clock::now();
    auto err = decoder.feed(proto::Bytes(rx.data(), n), [this](const proto::Frame& f) { return on_frame(f); });
    if (err) {
      co_return "protocol error from the server: " + err->message;
    }
    if (!end_reason.empty()) {
      co_return end_reason;
    }
  }
}

asio::awaitable<std::string> Client::Impl::watchdog() {
  for (;;) {
    const auto now = Clock::now();
    if (handshaking) {
      if (now >= handshake_deadline) {
        co_return "no WELCOME within " + ms_text(opts.connect_timeout);
      }
      timer.expires_at(handshake_deadline);
    } else {
      // Counted from the last byte received, never from the last PING sent.
      const auto expiry = last_rx + hb.timeout;
      if (now >= expiry) {
        co_return "server silent for " + ms_text(now - last_rx) + " (timeout " + ms_text(hb.timeout) + ")";
      }
      auto wake = expiry;
      if (!opts.server_pings) {
        auto due = next_ping_due(last_tx, last_rx, last_ping, hb.interval);
        if (now >= due) {
          const auto ping = proto::encode_timestamp(proto::FrameType::ping, timestamp_us(now));
          send_frame(std::string_view(reinterpret_cast<const char*>(ping.data()), ping.size()));
          last_ping = now;
          due = next_ping_due(last_tx, last_rx, last_ping, hb.interval);
        }
        wake = std::min(wake, due);
      }
      timer.expires_at(wake);
    }
    co_await timer.async_wait(asio::as_tuple(asio::use_awaitable));
    if (stopping) {
      co_return "stopped";
    }
  }
}

bool Client::Impl::on_frame(const proto::Frame& f) {
  using proto::FrameType;
  proto::ParseError err;
  if (handshaking && f.type != FrameType::welcome && f.type != FrameType::error && f.type != FrameType::bye) {
    end_reason = "server sent " + std::string(proto::to_string(f.type)) + " before WELCOME";
    return false;
  }
  switch (f.type) {
    case FrameType::welcome:
      if (!handshaking) {
        end_reason = "server sent a second WELCOME";
        return false;
      }
      on_welcome(f.payload);
      return end_reason.empty();
    case FrameType::ping: {
      const auto pong = proto::encode_timestamp(FrameType::pong, proto::read_u64(f.payload));
      send_frame(std::string_view(reinterpret_cast<const char*>(pong.data()), pong.size()));
      return true;
    }
    case FrameType::pong: {
      const auto sent = proto::read_u64(f.payload);
      const auto now = timestamp_us(Clock::now());
      if (sent <= now) {
        const std::lock_guard lock(mu);
        rtt = std::chrono::microseconds(now - sent);
      }
      return true;
    }
    case FrameType::data:
      if (data_handler && !silenced) {
        data_handler(std::string_view(reinterpret_cast<const char*>(f.payload.data()), f.payload.size()));
      }
      return true;
    case FrameType::bye:
      if (auto bye = proto::parse_bye(f.payload, err)) {
        end_reason = "server said BYE (" + std::string(proto::to_string(bye->reason)) +
                     (bye->text.empty() ? "" : ": " + bye->text) + ")";
        replaced = bye->reason == proto::Reason::replaced;
      } else {
        end_reason = "malformed BYE from the server: " + err.message;
      }
      return false;
    case FrameType::error:
      refused = true;
      if (auto e = proto::parse_error(f.payload, err)) {
        end_reason = "server error " + std::string(proto::to_string(e->code)) + ": " + e->message;
      } else {
        end_reason = "malformed ERROR from the server: " + err.message;
      }
      return false;
    case FrameType::list_reply:
      if (auto r = proto::parse_list_reply(f.payload, err)) {
        if (list_handler && !silenced) {
          list_handler(*r);
        }
        return true;
      }
      end_reason = "malformed LIST_REPLY: " + err.message;
      return false;
    case FrameType::event:
      if (auto e = proto::parse_event(f.payload, err)) {
        if (event_handler && !silenced) {
          event_handler(*e);
        }
        return true;
      }
      end_reason = "malformed EVENT: " + err.message;
      return false;
    default:
      end_reason = "server sent a " + std::string(proto::to_string(f.type)) + " frame, which only clients send";
      return false;
  }
}

void Client::Impl::on_welcome(proto::Bytes payload) {
  proto::ParseError err;
  const auto w = proto::parse_welcome(payload, err);
  if (!w || w->interval.count() <= 0 || w->timeout.count() <= 0) {
    end_reason = "malformed WELCOME: " + (w ? std::string("zero heartbeat") : err.message);
    return;
  }
  hb = Heartbeat{w->interval, w->timeout};
  handshaking = false;
  last_ping = Clock::now();
  backoff.reset();
  detail::apply_socket_options(socket->native_handle(), hb, opts.tcp_keepalive);
  {
    const std::lock_guard lock(mu);
    id = w->id;
  }
  if (want_subscribe) {
    std::string frame;
    proto::encode_subscribe(frame);
    send_frame(frame);
  }
  StateChange c;
  c.server = current_server;
  c.interval = hb.interval;
  c.timeout = hb.timeout;
  c.attempts = attempts;
  set_state(ClientState::online, c);
  // The state handler may have stopped us or sent data; both are fine here.
  timer.cancel();  // let the watchdog re-plan with the heartbeat deadlines
}

void Client::Impl::send_frame(std::string_view frame) {
  if (!socket || !socket->is_open()) {
    return;
  }
  last_tx = Clock::now();
  out.append(frame);
  if (!flushing) {
    flushing = true;
    asio::co_spawn(ex, writer(gen), asio::detached);
  }
}

asio::awaitable<void> Client::Impl::writer(std::uint64_t my_gen) {
  const auto self = shared_from_this();
  while (!out.empty() && my_gen == gen && socket && socket->is_open()) {
    std::string chunk;
    chunk.swap(out);
    auto [ec, n] = tls ? co_await asio::async_write(*tls, asio::buffer(chunk), asio::as_tuple(asio::use_awaitable))
                       : co_await asio::async_write(*socket, asio::buffer(chunk), asio::as_tuple(asio::use_awaitable));
    if (ec) {
      if (my_gen == gen && !stopping && socket && socket->is_open()) {
        // The kernel hands a connection's error (ETIMEDOUT, ECONNRESET) to one
        // operation only; the reader would then see a plain EOF. Keep the cause
        // and wake the reader, which ends the connection with it.
        write_error = "write failed: " + ec.message();
        boost::system::error_code ignored;
        socket->cancel(ignored);
      }
      break;
    }
  }
  if (my_gen == gen) {
    flushing = false;
    if (close_after_flush && socket) {
      // stop() queued its BYE behind this write: it is out now, so end the connection.
      close_after_flush = false;
      boost::system::error_code ec;
      socket->shutdown(tcp::socket::shutdown_send, ec);
      socket->close(ec);
      timer.cancel();
    }
  }
}

bool Client::Impl::send_bye() {
  if (!socket || !socket->is_open() || handshaking) {
    return false;
  }
  std::string frame;
  proto::encode(proto::Bye{proto::Reason::bye, ""}, frame);
  if (flushing || tls) {
    // A write is in flight: queue behind it rather than interleave. Over TLS
    // always: a blocking write would share the TLS engine with the pending read.
    send_frame(frame);
    close_after_flush = true;
    return true;
  }
  // Blocking on purpose: a few bytes into an idle socket buffer, right before close.
  boost::system::error_code ec;
  asio::write(*socket, asio::buffer(frame), ec);
  socket->shutdown(tcp::socket::shutdown_send, ec);
  return false;
}

}  // namespace lifeline
