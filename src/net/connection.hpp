#pragma once
// The byte-level half of a server session: one accepted socket, its TLS, its
// unsent output, reading and writing, draining and closing. It knows nothing
// of frames' meaning, HELLO or the registry: what it reads goes up, unparsed,
// to its ConnectionHandler (the protocol session, docs/architecture.md), which
// calls back down to send and to close. On a WebSocket listener it also
// speaks RFC 6455 (connection_ws.cpp): the upgrade, then each frame the
// session sends goes out as one binary message, and what the client's
// messages carry goes up. TLS below, WebSocket above it, the same session on
// top: the session cannot tell. The Windows shard backend uses this same class.
//
// The socket sits in the shard's epoll set from accept to close,
// edge-triggered for input and output. Runs entirely on its shard's thread.

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "event_loop.hpp"
#include "lifeline/heartbeat.hpp"
#include "lifeline/presence.hpp"
#include "lifeline/protocol.hpp"
#include "tls.hpp"

namespace lifeline::ws {
struct Stream;
enum class Opcode : std::uint8_t;
}  // namespace lifeline::ws

namespace lifeline::detail {

class Shard;

/// What a connection reports upward. Each call runs on the shard's thread,
/// once per read (never per byte or per frame).
class ConnectionHandler {
 public:
  /// Bytes just read (decrypted under TLS), valid during the call only. Not
  /// called once the connection drains: a session declared dead stays dead.
  virtual void on_bytes(proto::Bytes bytes) = 0;
  /// The read side ended while open: `err` 0 is an orderly close by the peer,
  /// else the errno (see Connection::error_text). The handler must close.
  virtual void on_eof(int err) = 0;
  /// The connection failed otherwise (TLS handshake, write, epoll), said as a
  /// `reason` and a `cause` for the log. The handler must close.
  virtual void on_failed(Reason reason, std::string cause) = 0;
  /// More than `limit` bytes were queued for a peer that does not read; the
  /// queue has been dropped. The handler must close.
  virtual void on_overflow(std::size_t limit) = 0;
  /// Everything queued has been sent (after send() had to queue some).
  virtual void on_drained() = 0;
  /// WebSocket only: a binary message ended; what it carried was handed to
  /// on_bytes before. Each message must hold whole frames.
  virtual void on_message_end() {}

 protected:
  ~ConnectionHandler() = default;
};

/// How close() ends a connection.
enum class Drain : std::uint8_t {
  no,   // close the socket now
  yes,  // shut the write side once the final frame is out, discard input until
        // the peer's EOF or the drain deadline, then close
};

class Connection {
 public:
  using Clock = std::chrono::steady_clock;
  enum class State : std::uint8_t { open, draining, closed };

  /// `number`: the session number, also the epoll tag. `counted`: admitted by
  /// the connection limits, to be given back on close. `websocket`: accepted
  /// on a WebSocket listener.
  Connection(Shard& shard, ConnectionHandler& handler, Fd socket, std::uint64_t number, std::string peer, bool counted,
             bool websocket = false);
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;
  ~Connection();

  /// Applies the default socket options and adds the socket to the shard's loop.
  void start();
  /// Called by the shard's loop with the epoll events of this socket.
  void on_io(std::uint32_t events);

  /// Writes `frame` now, or queues it for the next EPOLLOUT edge. Failures
  /// reach the handler (on_failed, on_overflow). A no-op unless open.
  void send(std::string_view frame);
  // The closing verbs, no-ops once closed (the protocol session's are in session.hpp):
  /// Sends `final_frame` (ERROR or BYE) best effort, then drains or closes as
  /// `drain` says. A WebSocket connection then sends a close frame with
  /// `ws_code` (RFC 6455 section 7.4); one whose upgrade is still unanswered
  /// is answered HTTP `ws_status` with `why` instead.
  void close(Drain drain, std::string_view final_frame = {}, std::uint16_t ws_code = 1000, int ws_status = 400,
             std::string_view why = {});
  /// Closes the socket now (ends a drain early) and frees the session's slot.
  void abort();

  /// Draining: closes once the drain deadline has passed. Returns the drain
  /// deadline while it is still ahead, nullopt once closed (or if not draining).
  std::optional<Clock::time_point> check_drain(Clock::time_point now);

  /// Socket options for the negotiated heartbeat (TCP_USER_TIMEOUT, keepalive).
  void set_heartbeat(const Heartbeat& hb);
  /// True if the peer's EOF is already queued behind what was read.
  bool peer_has_closed() const;
  /// True while a TLS handshake is still under way (nothing can be sent yet).
  bool tls_pending() const { return tls_ && !tls_->established(); }
  bool is_tls() const { return tls_ != nullptr; }
  /// True once a TLS handshake resumed an earlier session (a ticket).
  bool tls_resumed() const { return tls_ && tls_->resumed(); }
  /// True while a WebSocket upgrade request is still unanswered.
  bool ws_pending() const;
  /// tcp, tls, ws or wss.
  Transport transport() const;
  /// The client certificate's common name, nullopt without TLS ("" without a certificate).
  std::optional<std::string> tls_peer_name() const;
  /// An errno from on_eof() as text (EPROTO: OpenSSL's reason).
  std::string error_text(int err) const;

  /// Bytes queued, not yet taken by the kernel.
  std::size_t unsent() const { return out_.size(); }
  State state() const { return state_; }
  bool open() const { return state_ == State::open; }
  std::uint64_t number() const { return number_; }
  Shard& shard() const { return shard_; }
  const std::string& peer() const { return peer_; }

 private:
  void read_all(bool until_eagain);  // reads what the socket holds
  bool advance_tls_handshake();      // false while it is not done (or it failed)
  /// Bytes the socket (or TLS) took or gave now, or -1 with errno (EAGAIN: try
  /// again on the next edge; EPROTO: TLS failed, see tls_->error()); 0 at EOF.
  long send_some(std::string_view data);
  long recv_some(std::span<std::uint8_t> buf);
  void end_of_input(int err);  // EOF or a read error
  void fail(Reason reason, std::string cause);
  /// Writes now or queues for flush(); returns a hard socket error (the caller decides what it means).
  int write(std::string_view frame);
  void flush();           // the socket became writable: sends what is queued
  void shut_write();      // TLS close_notify (if any), then FIN
  void uncount();         // gives the connection back to the limits, once
  void handshake_over();  // gives back its place among the TLS handshakes under way, once

  // WebSocket (connection_ws.cpp).
  void ws_input(std::span<std::uint8_t> bytes);  // the upgrade request, then frames
  bool ws_control(ws::Opcode op, std::span<const std::uint8_t> payload);
  /// A frame from the session: one binary message (dropped before the upgrade).
  int ws_write(ws::Opcode op, std::string_view payload);
  void ws_close(std::uint16_t code, std::string_view reason);      // the close frame, once
  void ws_refuse(std::uint16_t code, const std::string& message);  // a bad frame: close frame, then fail

  // What every read and write touches first (Session's layout note).
  Shard& shard_;
  ConnectionHandler& handler_;
  Fd socket_;
  State state_ = State::open;
  bool shutdown_pending_ = false;   // draining: shut the write side once out_ is sent
  bool counted_;                    // holds a place in the connection limits
  bool handshaking_;                // TLS: counted in ServerContext::tls_handshakes until done
  std::unique_ptr<TlsConn> tls_;    // null on a plain TCP server
  std::unique_ptr<ws::Stream> ws_;  // null unless accepted on a WebSocket listener
  std::string out_;                 // unsent output; empty (and unallocated) when the socket keeps up
  std::uint64_t number_;
  Clock::time_point drain_deadline_;
  std::string peer_;
};

}  // namespace lifeline::detail
