#pragma once
// One client connection on the server. Owned by its shard's slab; referenced
// elsewhere only by session number. Runs entirely on its shard's thread.
//
// The socket sits in the shard's epoll set from accept to close,
// edge-triggered for input and output. A heartbeat costs one recv() into the
// shard's scratch buffer, one timestamp store and one send() of a 13-byte
// PONG: no timer, no allocation, no epoll_ctl, no read buffer per session.

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "event_loop.hpp"
#include "lifeline/frame_decoder.hpp"
#include "lifeline/heartbeat.hpp"
#include "ping_policy.hpp"
#include "registry.hpp"
#include "tls.hpp"

namespace lifeline::detail {

class Shard;

class Session {
 public:
  using Clock = std::chrono::steady_clock;

  /// `counted`: admitted by the connection limits, to be released on close.
  Session(Shard& shard, Fd socket, std::uint64_t number, std::string peer, bool counted);
  Session(const Session&) = delete;
  Session& operator=(const Session&) = delete;
  /// Releases a registration and a connection count still held (the registry points at stats_).
  ~Session() {
    leave_registry(Reason::shutdown);
    uncount();
  }

  /// Adds the socket to the shard's loop.
  void start();
  /// Called by the shard's loop with the epoll events of this socket.
  void on_io(std::uint32_t events);

  /// Called by the shard's wheel: checks deadlines, sends a server-driven PING
  /// when due; returns the next deadline, or nullopt once closed.
  std::optional<Clock::time_point> on_wheel(Clock::time_point now);

  /// Closes with `reason`. `final_frame` (ERROR or BYE, encoded) is sent first,
  /// best effort. With `drain`, the write side is shut and input is discarded
  /// for a moment so that the final frame is not destroyed by a reset.
  void close(Reason reason, const std::string& final_frame, bool drain, std::string_view cause);
  void close_with_error(proto::ErrorCode code, const std::string& message, Reason reason);
  void close_with_bye(Reason reason, std::string_view text);
  /// Closes the socket at once (after close(): ends a drain early).
  void terminate() { finish(); }

  void send_data(std::string_view payload);
  void send_event(const PresenceEvent& ev);
  void send(std::string_view frame);

  std::uint64_t number() const { return number_; }
  const std::string& peer() const { return peer_; }
  bool closed() const { return state_ == State::closed || state_ == State::draining; }

 private:
  enum class State : std::uint8_t { handshaking, online, draining, closed };

  // Frame handling (session_frames.cpp). Return false to stop reading.
  bool consume(proto::Bytes bytes);  // false once the session is closed
  void read_all(bool until_eagain);  // reads what the socket holds
  /// Refuses, from its header alone, a frame this session must not receive now,
  /// so before HELLO a peer can make the server buffer at most one HELLO.
  std::optional<proto::ParseError> check_header(proto::FrameType type) const;
  bool on_frame(const proto::Frame& f);
  bool on_hello(proto::Bytes payload);
  bool peer_has_closed();  // EOF already queued behind what was read
  void on_list(std::uint32_t request_id);
  void on_subscribe();
  void on_eof(int err);          // 0: orderly close by the peer, else the errno
  bool advance_tls_handshake();  // false while it is not done (or it failed and closed the session)
  /// Bytes the socket (or TLS) took or gave now, or -1 with errno (EAGAIN: try
  /// again on the next edge; EPROTO: TLS failed, see tls_->error()); 0 at EOF.
  long send_some(std::string_view data);
  long recv_some(std::span<std::uint8_t> buf);
  void shut_write();  // TLS close_notify (if any), then FIN
  std::string io_error_text(int err) const;
  /// At HELLO: binds the id to the client certificate and the token; false
  /// once answered ERROR unauthorized.
  bool bind_identity(std::string& id, const std::string& token, std::vector<proto::Label>& labels);

  proto::TimestampFrame ping_frame(Clock::time_point now);  // a PING stamped `now`; records it as the last PING
  void send_ping(Clock::time_point now);
  void leave_registry(Reason reason);  // releases the id and the event subscription, once
  /// Writes now or queues for flush(); returns a hard socket error (the caller decides what it means).
  int write(std::string_view frame);
  void flush();    // the socket became writable: sends what is queued
  void finish();   // hard close: socket closed, slab slot freed
  void uncount();  // gives the connection back to the limits, once
  static std::int64_t now_ns() { return Clock::now().time_since_epoch().count(); }

  Shard& shard_;
  Fd socket_;
  std::unique_ptr<TlsConn> tls_;  // null on a plain TCP server
  std::uint64_t number_;
  State state_ = State::handshaking;
  bool registered_ = false;        // holds an id in the registry
  bool shutdown_pending_ = false;  // draining: shut the write side once out_ is sent
  bool counted_;                   // holds a place in the connection limits
  std::uint8_t flags_ = 0;
  Heartbeat hb_{};
  PingBudget ping_budget_;
  Clock::time_point deadline_;  // handshake or drain deadline
  Clock::time_point last_tx_;
  Clock::time_point last_ping_;
  SessionStats stats_;  // the heartbeat's one store lands here, inside the session
  std::uint64_t subscription_ = 0;
  proto::FrameDecoder decoder_;
  std::string id_;
  std::string peer_;
  std::string out_;  // unsent output; empty (and unallocated) when the socket keeps up
};

}  // namespace lifeline::detail
