#include "connection.hpp"

#include <cerrno>
#include <cstring>

#include "server_context.hpp"
#include "shard.hpp"
#include "socket_options.hpp"
#include "sys.hpp"
#include "ws/stream.hpp"

namespace lifeline::detail {
namespace {
// How long a closing connection keeps discarding input so its final frame
// (ERROR, BYE) reaches the peer instead of being destroyed by a reset.
constexpr std::chrono::milliseconds kDrainTime{1000};
}  // namespace

Connection::Connection(Shard& shard, ConnectionHandler& handler, Fd socket, std::uint64_t number, std::string peer,
                       bool counted, bool websocket)
    : shard_(shard),
      handler_(handler),
      socket_(std::move(socket)),
      counted_(counted),
      handshaking_(shard.ctx().tls != nullptr),  // Shard::accept_from counted it
      tls_(shard.ctx().tls ? std::make_unique<TlsConn>(*shard.ctx().tls, socket_.get()) : nullptr),
      ws_(websocket ? std::make_unique<ws::Stream>(shard.ctx().ws_rules, shard.ctx().ws_max_message) : nullptr),
      number_(number),
      peer_(std::move(peer)) {}

Connection::~Connection() {
  handshake_over();
  uncount();
}

void Connection::start() {
  assert_in_loop_thread(shard_);
  const auto& opts = shard_.ctx().options;
  // Until the handshake dictates the heartbeat, use the server's defaults.
  apply_socket_options(socket_.get(), Heartbeat{opts.heartbeat.default_interval, opts.heartbeat.default_timeout},
                       opts.tcp_keepalive);
  // Added once, edge-triggered: the kernel reports new input and newly freed
  // send space, and a socket that stays idle costs nothing. Input that
  // arrived before this call is reported at once. The tag is this object's
  // address (Shard::on_ready).
  if (const auto ec = shard_.loop().add(socket_.get(), EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET, io_tag(this))) {
    fail(Reason::reset, "cannot watch the socket: " + ec.message());
  }
}

void Connection::on_io(std::uint32_t events) {
  assert_in_loop_thread(shard_);
  if (state_ == State::closed) {
    return;
  }
  if ((events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)) != 0) {
    // After a hang-up or an error the socket must be read to its end (EOF or
    // the error): no further edge would report what is left.
    read_all((events & (EPOLLRDHUP | EPOLLHUP | EPOLLERR)) != 0);
  }
  if ((events & EPOLLOUT) != 0 && tls_pending() && state_ == State::open) {
    read_all(true);  // the handshake may have waited for send space
  }
  if ((events & EPOLLOUT) != 0 && !out_.empty() && state_ != State::closed) {
    flush();
  }
}

bool Connection::advance_tls_handshake() {
  switch (tls_->handshake()) {
    case TlsConn::Io::done:
      handshake_over();
      shard_.metrics().tls_handshakes.add();
      shard_.metrics().tls_resumed.add(tls_->resumed() ? 1 : 0);
      return true;
    case TlsConn::Io::want_io: return false;
    case TlsConn::Io::eof: fail(Reason::closed, "connection closed during the TLS handshake"); return false;
    case TlsConn::Io::error: fail(Reason::protocol, "TLS handshake failed: " + tls_->error()); return false;
  }
  return false;
}

long Connection::recv_some(std::span<std::uint8_t> buf) {
  if (!tls_) {
    const auto n = sys::recv(socket_.get(), buf.data(), buf.size());
    shard_.metrics().bytes_in.add(n > 0 ? static_cast<std::uint64_t>(n) : 0);
    return n;
  }
  std::size_t n = 0;
  switch (tls_->read(buf, n)) {
    case TlsConn::Io::done: shard_.metrics().bytes_in.add(n); return static_cast<long>(n);
    case TlsConn::Io::eof: return 0;
    case TlsConn::Io::want_io: errno = EAGAIN; return -1;
    case TlsConn::Io::error: break;
  }
  errno = EPROTO;
  return -1;
}

long Connection::send_some(std::string_view data) {
  if (!tls_) {
    const auto n = sys::send(socket_.get(), data.data(), data.size());
    shard_.metrics().bytes_out.add(n > 0 ? static_cast<std::uint64_t>(n) : 0);
    return n;
  }
  std::size_t n = 0;
  switch (tls_->write(data, n)) {
    case TlsConn::Io::done: shard_.metrics().bytes_out.add(n); return static_cast<long>(n);
    case TlsConn::Io::want_io: errno = EAGAIN; return -1;
    case TlsConn::Io::eof:
    case TlsConn::Io::error: break;
  }
  errno = EPROTO;
  return -1;
}

void Connection::shut_write() {
  if (tls_) {
    tls_->shutdown();
  }
  sys::shutdown_write(socket_.get());
}

std::string Connection::error_text(int err) const {
  return err == EPROTO && tls_ ? "TLS: " + tls_->error() : std::strerror(err);
}

// Reads into the shard's scratch buffer, which every connection of the shard
// shares: an idle session owns no read buffer. A read shorter than the buffer
// has emptied the socket, and with edge-triggering any byte arriving after it
// raises a new event, so a heartbeat costs one recv() and no EAGAIN probe.
//
// TLS may hold decrypted records the socket no longer shows, so a TLS session
// always reads until OpenSSL wants more from the socket.
void Connection::read_all(bool until_eagain) {
  if (tls_pending() && !advance_tls_handshake()) {
    return;
  }
  const auto buf = shard_.rx_buffer();
  for (;;) {
    const auto n = recv_some(buf);
    if (n > 0) {
      // Draining (declared dead or closing): late bytes are discarded, never revive it.
      if (state_ == State::open) {
        if (ws_) {
          ws_input(buf.first(static_cast<std::size_t>(n)));
        } else {
          handler_.on_bytes(proto::Bytes(buf.data(), static_cast<std::size_t>(n)));
        }
      }
      if (state_ == State::closed) {
        return;
      }
      if (static_cast<std::size_t>(n) < buf.size() && !until_eagain && !tls_) {
        return;
      }
      continue;
    }
    if (n == 0) {
      end_of_input(0);
      return;
    }
    if (errno == EINTR) {
      continue;
    }
    if (errno != EAGAIN && errno != EWOULDBLOCK) {
      end_of_input(errno);
    }
    return;
  }
}

void Connection::end_of_input(int err) {
  if (state_ == State::draining) {
    abort();  // the peer has seen the final frame (or never will): the drain is over
    return;
  }
  handler_.on_eof(err);
}

// Failures are the handler's to report and act on while the connection is
// open; once it drains, the drain deadline or the peer's EOF ends it.
void Connection::fail(Reason reason, std::string cause) {
  if (state_ == State::open) {
    handler_.on_failed(reason, std::move(cause));
  }
}

void Connection::send(std::string_view frame) {
  assert_in_loop_thread(shard_);
  if (state_ != State::open) {
    return;
  }
  if (const int err = ws_ ? ws_write(ws::Opcode::binary, frame) : write(frame); err != 0) {
    fail(Reason::reset, "write failed: " + error_text(err));
    return;
  }
  if (const auto limit = shard_.ctx().options.max_outbound; out_.size() > limit) {
    out_.clear();
    handler_.on_overflow(limit);
  }
}

int Connection::write(std::string_view frame) {
  if (tls_pending()) {
    return 0;  // before the TLS handshake nothing can be said (a refusal just closes)
  }
  shard_.metrics().frames_out.add();
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
  shard_.loop().want_write(socket_.get());
  return 0;
}

void Connection::flush() {
  while (!out_.empty()) {
    const auto n = send_some(out_);
    if (n < 0) {
      if (errno == EAGAIN || errno == EWOULDBLOCK) {
        shard_.loop().want_write(socket_.get());
        return;  // the next EPOLLOUT continues
      }
      const int err = errno;
      std::string().swap(out_);
      if (state_ == State::draining) {
        abort();  // the final frame cannot go out: nothing left to wait for
      } else {
        fail(Reason::reset, "write failed: " + error_text(err));
      }
      return;
    }
    out_.erase(0, static_cast<std::size_t>(n));
  }
  std::string().swap(out_);  // an idle connection keeps no output buffer
  if (shutdown_pending_) {
    shutdown_pending_ = false;
    shut_write();
  }
  if (state_ == State::open) {
    handler_.on_drained();
  }
}

void Connection::close(Drain drain, std::string_view final_frame, std::uint16_t ws_code, int ws_status,
                       std::string_view why) {
  assert_in_loop_thread(shard_);
  if (state_ != State::open) {
    return;
  }
  // Best effort: the connection closes either way.
  if (!ws_) {
    if (!final_frame.empty()) {
      write(final_frame);
    }
  } else if (!ws_->answered) {
    ws_->answered = true;
    write(ws::Upgrade::refusal(ws_status, why));
  } else {
    if (!final_frame.empty()) {
      ws_write(ws::Opcode::binary, final_frame);
    }
    ws_close(ws_code, {});
  }
  if (drain == Drain::no) {
    abort();
    return;
  }
  state_ = State::draining;
  drain_deadline_ = Clock::now() + kDrainTime;
  // The final frame must leave before the FIN: if part of it is still
  // queued, flush() shuts the write side once it is sent.
  if (out_.empty()) {
    shut_write();
  } else {
    shutdown_pending_ = true;
  }
  // The session's existing wheel entry comes back by the drain deadline or by
  // its heartbeat deadline; the peer's EOF usually ends the drain first.
}

void Connection::abort() {
  assert_in_loop_thread(shard_);
  if (state_ == State::closed) {
    return;
  }
  state_ = State::closed;
  handshake_over();
  uncount();
  shard_.loop().closing(socket_.get());
  socket_.reset();  // closing also takes it out of the epoll set
  shard_.forget(number_);
}

std::optional<Connection::Clock::time_point> Connection::check_drain(Clock::time_point now) {
  assert_in_loop_thread(shard_);
  if (state_ != State::draining) {
    return std::nullopt;
  }
  if (now >= drain_deadline_) {
    abort();
    return std::nullopt;
  }
  return drain_deadline_;
}

void Connection::set_heartbeat(const Heartbeat& hb) {
  apply_socket_options(socket_.get(), hb, shard_.ctx().options.tcp_keepalive);
}

bool Connection::peer_has_closed() const {
  char byte = 0;
  const auto n = sys::recv(socket_.get(), &byte, 1, sys::kPeekNow);
  return n == 0;
}

std::optional<std::string> Connection::tls_peer_name() const {
  if (!tls_) {
    return std::nullopt;
  }
  return tls_->peer_common_name();
}

void Connection::handshake_over() {
  if (handshaking_) {
    handshaking_ = false;
    Shard::tls_handshake_done(shard_.ctx());
  }
}

void Connection::uncount() {
  if (counted_) {
    counted_ = false;
    shard_.ctx().limits.release(host_of(peer_));
  }
}

}  // namespace lifeline::detail
