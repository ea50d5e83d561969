#include "session.hpp"

#include <spdlog/spdlog.h>
#include <sys/epoll.h>
#include <sys/socket.h>

#include <cerrno>
#include <cstring>

#include "lifeline/log.hpp"
#include "server_context.hpp"
#include "shard.hpp"
#include "socket_options.hpp"

namespace lifeline::detail {
namespace {
// How long a closing session keeps discarding input so its final frame
// (ERROR, BYE) reaches the peer instead of being destroyed by a reset.
constexpr std::chrono::milliseconds kDrainTime{1000};
// In the default mode the client pings and only the client learns the RTT; the
// server probes once after the handshake and then this rarely, so the online
// list shows an RTT at a negligible cost per heartbeat.
constexpr std::chrono::seconds kRttProbeEvery{30};

std::string errno_text(int err) { return std::strerror(err); }
}  // namespace

Session::Session(Shard& shard, Fd socket, std::uint64_t number, std::string peer, bool counted)
    : shard_(shard),
      socket_(std::move(socket)),
      tls_(shard.ctx().tls ? std::make_unique<TlsConn>(*shard.ctx().tls, socket_.get()) : nullptr),
      number_(number),
      counted_(counted),
      decoder_(shard.ctx().frame_limits),
      peer_(std::move(peer)) {
  const auto now = Clock::now();
  deadline_ = now + shard.ctx().options.handshake_timeout;
  last_tx_ = last_ping_ = now;
  stats_.last_rx_ns.store(now.time_since_epoch().count(), std::memory_order_relaxed);
}

void Session::start() {
  const auto& opts = shard_.ctx().options;
  // Until the handshake dictates the heartbeat, use the server's defaults.
  apply_socket_options(socket_.get(), Heartbeat{opts.heartbeat.default_interval, opts.heartbeat.default_timeout},
                       opts.tcp_keepalive);
  // Added once, edge-triggered: the kernel reports new input and newly freed
  // send space, and a socket that stays idle costs nothing. Input that
  // arrived before this call is reported at once.
  if (const auto ec = shard_.loop().add(socket_.get(), EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET, number_)) {
    close(Reason::reset, {}, false, "cannot watch the socket: " + ec.message());
  }
}

void Session::on_io(std::uint32_t events) {
  if (state_ == State::closed) {
    return;
  }
  if ((events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)) != 0) {
    // After a hang-up or an error the socket must be read to its end (EOF or
    // the error): no further edge would report what is left.
    read_all((events & (EPOLLRDHUP | EPOLLHUP | EPOLLERR)) != 0);
  }
  if ((events & EPOLLOUT) != 0 && tls_ && !tls_->established() && state_ == State::handshaking) {
    read_all(true);  // the handshake may have waited for send space
  }
  if ((events & EPOLLOUT) != 0 && !out_.empty() && state_ != State::closed) {
    flush();
  }
}

bool Session::advance_tls_handshake() {
  switch (tls_->handshake()) {
    case TlsConn::Io::done: return true;
    case TlsConn::Io::want_io: return false;
    case TlsConn::Io::eof: close(Reason::closed, {}, false, "connection closed during the TLS handshake"); return false;
    case TlsConn::Io::error: close(Reason::protocol, {}, false, "TLS handshake failed: " + tls_->error()); return false;
  }
  return false;
}

long Session::recv_some(std::span<std::uint8_t> buf) {
  if (!tls_) {
    return ::recv(socket_.get(), buf.data(), buf.size(), 0);
  }
  std::size_t n = 0;
  switch (tls_->read(buf, n)) {
    case TlsConn::Io::done: return static_cast<long>(n);
    case TlsConn::Io::eof: return 0;
    case TlsConn::Io::want_io: errno = EAGAIN; return -1;
    case TlsConn::Io::error: break;
  }
  errno = EPROTO;
  return -1;
}

long Session::send_some(std::string_view data) {
  if (!tls_) {
    return ::send(socket_.get(), data.data(), data.size(), MSG_NOSIGNAL);
  }
  std::size_t n = 0;
  switch (tls_->write(data, n)) {
    case TlsConn::Io::done: return static_cast<long>(n);
    case TlsConn::Io::want_io: errno = EAGAIN; return -1;
    case TlsConn::Io::eof:
    case TlsConn::Io::error: break;
  }
  errno = EPROTO;
  return -1;
}

void Session::shut_write() {
  if (tls_) {
    tls_->shutdown();
  }
  ::shutdown(socket_.get(), SHUT_WR);
}

std::string Session::io_error_text(int err) const {
  return err == EPROTO && tls_ ? "TLS: " + tls_->error() : errno_text(err);
}

// Reads into the shard's scratch buffer, which every session of the shard
// shares: an idle session owns no read buffer. A read shorter than the buffer
// has emptied the socket, and with edge-triggering any byte arriving after it
// raises a new event, so a heartbeat costs one recv() and no EAGAIN probe.
//
// TLS may hold decrypted records the socket no longer shows, so a TLS session
// always reads until OpenSSL wants more from the socket.
void Session::read_all(bool until_eagain) {
  if (tls_ && !tls_->established() && !advance_tls_handshake()) {
    return;
  }
  const auto buf = shard_.rx_buffer();
  for (;;) {
    const auto n = recv_some(buf);
    if (n > 0) {
      if (!consume(proto::Bytes(buf.data(), static_cast<std::size_t>(n)))) {
        return;
      }
      if (static_cast<std::size_t>(n) < buf.size() && !until_eagain && !tls_) {
        return;
      }
      continue;
    }
    if (n == 0) {
      on_eof(0);
      return;
    }
    if (errno == EINTR) {
      continue;
    }
    if (errno != EAGAIN && errno != EWOULDBLOCK) {
      on_eof(errno);
    }
    return;
  }
}

bool Session::consume(proto::Bytes bytes) {
  if (state_ == State::draining) {
    return true;  // declared dead or closing: late bytes are discarded, never revive it
  }
  // Any byte counts as liveness: this store is the whole cost of a heartbeat's bookkeeping.
  stats_.last_rx_ns.store(now_ns(), std::memory_order_relaxed);
  auto err = decoder_.feed(
      bytes, [this](const proto::Frame& f) { return on_frame(f); },
      [this](proto::FrameType type, std::uint32_t) { return check_header(type); });
  if (err) {
    close_with_error(err->code, err->message, Reason::protocol);
  }
  return state_ != State::closed;
}

void Session::on_eof(int err) {
  if (state_ == State::draining) {
    finish();
    return;
  }
  std::string cause = err == 0 ? "connection closed by peer" : "connection failed: " + io_error_text(err);
  if (decoder_.buffered() > 0) {
    cause += " in the middle of a frame (" + std::to_string(decoder_.missing()) + " bytes missing)";
  }
  close(err == 0 ? Reason::closed : Reason::reset, {}, false, cause);
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
        const auto limit = std::to_string(shard_.ctx().options.handshake_timeout.count()) + " ms";
        close_with_error(
            proto::ErrorCode::handshake_timeout,
            tls_ && !tls_->established() ? "TLS handshake not done within " + limit : "no HELLO within " + limit,
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
  const auto last_rx = Clock::time_point(Clock::duration(stats_.last_rx_ns.load(std::memory_order_relaxed)));
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
  if (closed()) {
    return;
  }
  if (const int err = write(frame); err != 0) {
    close(Reason::reset, {}, false, "write failed: " + io_error_text(err));
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

int Session::write(std::string_view frame) {
  last_tx_ = Clock::now();
  if (tls_ && !tls_->established()) {
    return 0;  // before the TLS handshake nothing can be said (a refusal just closes)
  }
  if (out_.empty()) {
    const auto n = send_some(frame);
    if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK) {
      return errno;
    }
    frame.remove_prefix(n < 0 ? 0 : static_cast<std::size_t>(n));
    if (frame.empty()) {
      return 0;
    }
  }
  // The socket is full: the kernel raises EPOLLOUT once it has room (flush()).
  out_.append(frame);
  return 0;
}

void Session::flush() {
  while (!out_.empty()) {
    const auto n = send_some(out_);
    if (n < 0) {
      if (errno == EAGAIN || errno == EWOULDBLOCK) {
        return;  // the next EPOLLOUT continues
      }
      const int err = errno;
      std::string().swap(out_);
      if (state_ == State::draining) {
        finish();  // the final frame cannot go out: nothing left to wait for
      } else {
        close(Reason::reset, {}, false, "write failed: " + io_error_text(err));
      }
      return;
    }
    out_.erase(0, static_cast<std::size_t>(n));
  }
  std::string().swap(out_);  // an idle session keeps no output buffer
  if (shutdown_pending_) {
    shutdown_pending_ = false;
    shut_write();
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
  close(reason, frame, true, std::string(proto::to_string(code)) + ": " + message);
}

void Session::close_with_bye(Reason reason, std::string_view text) {
  std::string frame;
  proto::encode(proto::Bye{reason, std::string(text)}, frame);
  close(reason, frame, reason != Reason::shutdown, text);
}

void Session::close(Reason reason, const std::string& final_frame, bool drain, std::string_view cause) {
  if (closed()) {
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
  if (drain && socket_) {
    state_ = State::draining;
    deadline_ = Clock::now() + kDrainTime;
    // The final frame must leave before the FIN: if part of it is still
    // queued, flush() shuts the write side once it is sent.
    if (out_.empty()) {
      shut_write();
    } else {
      shutdown_pending_ = true;
    }
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
  uncount();
  socket_.reset();  // closing also takes it out of the epoll set
  shard_.forget(number_);
}

void Session::uncount() {
  if (counted_) {
    counted_ = false;
    shard_.ctx().limits.release(host_of(peer_));
  }
}

}  // namespace lifeline::detail
