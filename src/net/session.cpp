#include "session.hpp"

#include <spdlog/spdlog.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "lifeline/log.hpp"
#include "server_context.hpp"
#include "shard.hpp"
#include "socket_options.hpp"

namespace lifeline::detail {
namespace asio = boost::asio;
namespace {
// How long a closing session keeps discarding input so its final frame
// (ERROR, BYE) reaches the peer instead of being destroyed by a reset.
constexpr std::chrono::milliseconds kDrainTime{1000};
// In the default mode the client pings and only the client learns the RTT; the
// server probes once after the handshake and then this rarely, so the online
// list shows an RTT at a negligible cost per heartbeat.
constexpr std::chrono::seconds kRttProbeEvery{30};
}  // namespace

Session::Session(Shard& shard, Socket socket, std::uint64_t number)
    : shard_(shard),
      socket_(std::move(socket)),
      number_(number),
      stats_(std::make_shared<SessionStats>()),
      decoder_(shard.ctx().options.max_data) {
  boost::system::error_code ec;
  const auto ep = socket_.remote_endpoint(ec);
  peer_ = ec ? std::string("?") : to_string(ep);
  const auto now = Clock::now();
  deadline_ = now + shard.ctx().options.handshake_timeout;
  last_tx_ = last_ping_ = now;
  stats_->last_rx_ns.store(now.time_since_epoch().count(), std::memory_order_relaxed);
}

void Session::start() {
  boost::system::error_code ec;
  socket_.non_blocking(true, ec);
  const auto& opts = shard_.ctx().options;
  // Until the handshake dictates the heartbeat, use the server's defaults.
  apply_socket_options(socket_.native_handle(),
                       Heartbeat{opts.heartbeat.default_interval, opts.heartbeat.default_timeout}, opts.tcp_keepalive);
  wait_readable();
}

// The one place this file steps outside coroutines: an idle session's pending
// read is a completion handler holding one shared_ptr (about 100 bytes in
// Asio's op), where a suspended coroutine would hold three frames (about 1 KB).
// Idle memory per connection is the scaling limit of a presence server.
//
// The read targets a 16-byte buffer inside the session, which a whole PING
// (13 bytes) fits. async_read_some is "speculative" in Asio's reactor: once a
// short read has drained the socket, re-arming only queues the op, with no
// syscall, whereas async_wait re-arms with epoll_ctl(MOD) every time. So a
// heartbeat costs exactly one recv and one send.
void Session::wait_readable() {
  socket_.async_read_some(asio::buffer(head_),
                          [self = shared_from_this()](const boost::system::error_code& ec, std::size_t n) {
                            if (ec == asio::error::operation_aborted || !self->socket_.is_open()) {
                              self->finish();
                              return;
                            }
                            if (ec) {
                              self->on_eof(ec);
                              return;
                            }
                            if (!self->consume(proto::Bytes(self->head_.data(), n))) {
                              return;
                            }
                            // A full head buffer means more may be waiting: drain it through the shard's buffer.
                            if (n == self->head_.size() && !self->drain()) {
                              return;
                            }
                            self->wait_readable();
                          });
}

bool Session::consume(proto::Bytes bytes) {
  if (state_ == State::draining) {
    return true;  // declared dead or closing: late bytes are discarded, never revive it
  }
  // Any byte counts as liveness: this store is the whole cost of a heartbeat's bookkeeping.
  stats_->last_rx_ns.store(now_ns(), std::memory_order_relaxed);
  auto err = decoder_.feed(bytes, [this](const proto::Frame& f) { return on_frame(f); });
  if (err) {
    close_with_error(err->code, err->message, Reason::protocol);
  }
  return state_ != State::closed;
}

bool Session::drain() {
  const auto buf = shard_.rx_buffer();
  boost::system::error_code ec;
  for (;;) {
    const std::size_t n = socket_.read_some(asio::buffer(buf.data(), buf.size()), ec);
    if (ec == asio::error::would_block) {
      return true;
    }
    if (ec) {
      on_eof(ec);
      return false;
    }
    if (!consume(proto::Bytes(buf.data(), n))) {
      return false;
    }
    if (n < buf.size()) {
      return true;  // a short read drained the socket
    }
  }
}

void Session::on_eof(const boost::system::error_code& ec) {
  if (state_ == State::draining) {
    finish();
    return;
  }
  const bool eof = ec == asio::error::eof;
  std::string cause = eof ? "connection closed by peer" : "connection failed: " + ec.message();
  if (decoder_.buffered() > 0) {
    cause += " in the middle of a frame (" + std::to_string(decoder_.missing()) + " bytes missing)";
  }
  close(eof ? Reason::closed : Reason::reset, {}, false, cause);
}

std::optional<Session::Clock::time_point> Session::on_wheel(Clock::time_point now) {
  switch (state_) {
    case State::closed: return std::nullopt;
    case State::draining:
      if (now >= deadline_) {
        finish();
        return std::nullopt;
      }
      return deadline_;
    case State::handshaking: {
      if (now >= deadline_) {
        close_with_error(proto::ErrorCode::handshake_timeout,
                         "no HELLO within " + std::to_string(shard_.ctx().options.handshake_timeout.count()) + " ms",
                         Reason::protocol);
        return state_ == State::draining ? std::optional(deadline_) : std::nullopt;
      }
      // Re-check at least every half min-timeout, so that once the handshake
      // completes the first heartbeat deadline is picked up in time.
      const auto soon = now + shard_.ctx().options.heartbeat.min_timeout / 2;
      return std::min(deadline_, soon);
    }
    case State::online: break;
  }
  const auto last_rx = Clock::time_point(Clock::duration(stats_->last_rx_ns.load(std::memory_order_relaxed)));
  const auto expiry = last_rx + hb_.timeout;
  if (now >= expiry) {
    const auto silent = std::chrono::duration_cast<std::chrono::milliseconds>(now - last_rx);
    close_with_bye(Reason::timeout, "nothing received for " + std::to_string(silent.count()) + " ms (timeout " +
                                        std::to_string(hb_.timeout.count()) + " ms)");
    return state_ == State::draining ? std::optional(deadline_) : std::nullopt;
  }
  if ((flags_ & proto::kFlagServerPings) == 0) {
    if (now >= last_ping_ + kRttProbeEvery) {
      send_ping(now);
    }
    return std::min(expiry, last_ping_ + kRttProbeEvery);
  }
  auto due = next_ping_due(last_tx_, last_rx, last_ping_, hb_.interval);
  if (now >= due) {
    send_ping(now);
    due = next_ping_due(last_tx_, last_rx, last_ping_, hb_.interval);
  }
  return std::min(expiry, due);
}

proto::TimestampFrame Session::ping_frame(Clock::time_point now) {
  last_ping_ = now;
  return proto::encode_timestamp(proto::FrameType::ping, timestamp_us(now));
}

void Session::send_ping(Clock::time_point now) {
  const auto frame = ping_frame(now);
  send(std::string_view(reinterpret_cast<const char*>(frame.data()), frame.size()));
}

void Session::send(std::string_view frame) {
  if (state_ == State::closed || state_ == State::draining) {
    return;
  }
  if (const auto ec = write(frame)) {
    close(Reason::reset, {}, false, "write failed: " + ec.message());
    return;
  }
  if (out_.size() > shard_.ctx().options.max_outbound) {
    out_.clear();
    close_with_error(
        proto::ErrorCode::slow_consumer,
        "peer does not read: more than " + std::to_string(shard_.ctx().options.max_outbound) + " bytes unsent",
        Reason::reset);
  }
}

boost::system::error_code Session::write(std::string_view frame) {
  last_tx_ = Clock::now();
  if (out_.empty() && !flushing_) {
    boost::system::error_code ec;
    const std::size_t n = socket_.write_some(asio::buffer(frame.data(), frame.size()), ec);
    if (ec && ec != asio::error::would_block) {
      return ec;
    }
    frame.remove_prefix(ec ? 0 : n);
    if (frame.empty()) {
      return {};
    }
  }
  out_.append(frame);
  if (!flushing_) {
    flushing_ = true;
    asio::co_spawn(socket_.get_executor(), flush(), asio::detached);
  }
  return {};
}

asio::awaitable<void> Session::flush() {
  const auto self = shared_from_this();
  boost::system::error_code ec;
  while (!out_.empty() && socket_.is_open()) {
    auto [wait_ec] = co_await socket_.async_wait(Socket::wait_write, asio::as_tuple(asio::use_awaitable));
    if (wait_ec || !socket_.is_open()) {
      break;
    }
    const std::size_t n = socket_.write_some(asio::buffer(out_), ec);
    if (ec && ec != asio::error::would_block) {
      break;
    }
    out_.erase(0, ec ? 0 : n);
  }
  std::string().swap(out_);  // an idle session keeps no output buffer
  flushing_ = false;
  if (ec && ec != asio::error::would_block && state_ == State::online) {
    close(Reason::reset, {}, false, "write failed: " + ec.message());
  }
}

void Session::send_data(std::string_view payload) {
  std::string frame;
  proto::encode_data(payload, frame);
  send(frame);
}

void Session::send_event(const PresenceEvent& ev) {
  proto::Event e;
  e.seq = ev.seq;
  e.kind = ev.kind;
  e.reason = ev.reason;
  e.at_ms = std::chrono::duration_cast<std::chrono::milliseconds>(ev.at.time_since_epoch()).count();
  e.id = ev.id;
  e.remote = ev.remote;
  std::string frame;
  proto::encode(e, frame);
  send(frame);
}

void Session::close_with_error(proto::ErrorCode code, const std::string& message, Reason reason) {
  std::string frame;
  proto::encode(proto::Error{code, message}, frame);
  close(reason, std::move(frame), true, std::string(proto::to_string(code)) + ": " + message);
}

void Session::close_with_bye(Reason reason, std::string_view text) {
  std::string frame;
  proto::encode(proto::Bye{reason, std::string(text)}, frame);
  close(reason, std::move(frame), reason != Reason::shutdown, text);
}

void Session::close(Reason reason, const std::string& final_frame, bool drain, std::string_view cause) {
  if (state_ == State::closed || state_ == State::draining) {
    return;
  }
  const bool was_online = state_ == State::online;
  if (!final_frame.empty()) {
    write(final_frame);  // best effort: the session closes either way
  }
  const bool observer = (flags_ & proto::kFlagObserver) != 0;
  const auto level = reason == Reason::protocol ? spdlog::level::warn
                     : observer                 ? spdlog::level::debug
                                                : spdlog::level::info;
  if (was_online && observer) {
    logger()->log(level, "observer closed peer={} reason={} ({})", peer_, proto::to_string(reason), cause);
  } else if (was_online && !id_.empty()) {
    logger()->log(level, "offline id={} peer={} reason={} ({})", id_, peer_, proto::to_string(reason), cause);
  } else {
    logger()->log(level, "closed peer={} reason={} ({})", peer_, proto::to_string(reason), cause);
  }
  leave_registry(reason);
  if (drain && socket_.is_open()) {
    state_ = State::draining;
    deadline_ = Clock::now() + kDrainTime;
    boost::system::error_code ec;
    socket_.shutdown(Socket::shutdown_send, ec);
    // The session's existing wheel entry comes back by the drain deadline or by
    // its heartbeat deadline; the peer's EOF usually ends the drain first.
    return;
  }
  finish();
}

void Session::leave_registry(Reason reason) {
  auto& registry = shard_.ctx().registry;
  if (subscription_ != 0) {
    registry.unsubscribe(subscription_);
    subscription_ = 0;
  }
  if (registered_) {
    registered_ = false;
    registry.release(id_, number_, reason);
  }
}

void Session::finish() {
  if (state_ == State::closed) {
    return;
  }
  leave_registry(Reason::closed);  // a no-op after close(), which already left
  state_ = State::closed;
  boost::system::error_code ec;
  socket_.close(ec);
  shard_.forget(number_);
}

}  // namespace lifeline::detail
