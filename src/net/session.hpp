#pragma once
// The protocol half of a server session (docs/protocol.md): the HELLO
// handshake, the negotiated heartbeat, the ping budget, PING/PONG and RTT,
// the registry binding, LIST, SUBSCRIBE, DATA and BYE. It sees bytes, frames
// and deadlines, never a socket: its Connection (connection.hpp) does the I/O
// and hands it what it reads; it asks the connection to send and to close.
// Owned by its shard's slab; referenced elsewhere only by session number.
// Runs entirely on its shard's thread.
//
// A heartbeat costs one recv() into the shard's scratch buffer, one timestamp
// store and one send() of a 13-byte PONG: no timer, no allocation, no
// epoll_ctl, no read buffer per session.
//
// Closing verbs (each a no-op once the session has ended):
//   end(reason, cause)                  the peer left or the connection broke: close at once
//   end_with_error(code, message, why)  ERROR, then drain (docs/architecture.md "Closing")
//   end_with_bye(reason, text)          BYE, then drain (close at once on shutdown)

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "connection.hpp"
#include "event_loop.hpp"
#include "lifeline/frame_decoder.hpp"
#include "lifeline/heartbeat.hpp"
#include "ping_policy.hpp"
#include "registry.hpp"

namespace lifeline::detail {

class Shard;

class Session final : public ConnectionHandler {
 public:
  using Clock = std::chrono::steady_clock;

  /// `counted`: admitted by the connection limits, to be released on close.
  /// `websocket`: accepted on a WebSocket listener.
  Session(Shard& shard, Fd socket, std::uint64_t number, std::string peer, bool counted, bool websocket = false);
  Session(const Session&) = delete;
  Session& operator=(const Session&) = delete;
  /// Releases a registration still held (the registry points at stats_); the
  /// connection then gives back its connection count.
  ~Session() { leave_registry(Reason::shutdown); }

  /// Starts the connection (adds the socket to the shard's loop).
  void start() { conn_.start(); }
  Connection& connection() { return conn_; }

  /// Called by the shard's wheel for this session's one entry: checks whichever
  /// deadline the session is under now (handshake, drain, or heartbeat expiry
  /// and ping due), acts on it, and returns the next one, or nullopt once closed.
  std::optional<Clock::time_point> on_wheel(Clock::time_point now);

  void end(Reason reason, std::string_view cause);
  void end_with_error(proto::ErrorCode code, const std::string& message, Reason reason);
  void end_with_bye(Reason reason, std::string_view text);

  void send_data(std::string_view payload);
  void send(std::string_view frame);
  /// send() at a time the caller has read already (a PONG: the PING's arrival).
  void send_at(std::string_view frame, Clock::time_point now);
  /// SUBSCRIBE sessions (session_events.cpp): sends the events waiting in the
  /// log, while less than the subscriber limit is unsent, or all of them with
  /// `everything` (at shutdown, before the BYE).
  void pump_events(bool everything = false);
  bool subscribed() const { return feed_ != nullptr; }
  /// Holds an id in the registry: an online client, not an observer.
  bool holds_id() const { return registered_; }

  std::uint64_t number() const { return conn_.number(); }
  /// The shard this session lives on (its connection's: one reference, not two).
  Shard& shard() const { return conn_.shard(); }
  const std::string& peer() const { return conn_.peer(); }
  bool ended() const { return state_ == State::ended; }

 private:
  enum class State : std::uint8_t { handshaking, online, ended };

  // ConnectionHandler: what the connection reports.
  void on_bytes(proto::Bytes bytes) override;
  void on_eof(int err) override;
  void on_failed(Reason reason, std::string cause) override;
  void on_overflow(std::size_t limit) override;
  void on_drained() override;
  void on_message_end() override;

  // The three deadlines of the session's wheel entry (session.cpp).
  std::optional<Clock::time_point> check_handshake_deadline(Clock::time_point now);
  std::optional<Clock::time_point> check_heartbeat(Clock::time_point now);

  // Frame handling (session_frames.cpp). Return false to stop decoding.
  /// Refuses, from its header alone, a frame type this session must not
  /// receive in its state, so before HELLO a peer can make the server buffer
  /// at most one HELLO. (The decoder's own FrameDecoder::parse_header checks
  /// type and length against the limits before this.)
  std::optional<proto::ParseError> screen_frame_type(proto::FrameType type) const;
  bool on_frame(const proto::Frame& f);
  bool on_hello(proto::Bytes payload);
  /// LIST_REPLY frames for `snapshot` (a LIST, or SUBSCRIBE with SNAPSHOT).
  void send_list(std::uint32_t request_id, const PresenceSnapshot& snapshot);
  /// At HELLO: binds the id to the client certificate and the token; false
  /// once answered ERROR unauthorized.
  bool bind_identity(std::string& id, const std::string& token, std::vector<proto::Label>& labels);

  // SUBSCRIBE (session_events.cpp): this session as a reader of the event log.
  void on_subscribe(proto::Bytes payload);
  void send_event(const PresenceEvent& ev);
  void unsubscribe_events();

  proto::TimestampFrame ping_frame(Clock::time_point now);  // a PING stamped `now`; records it as the last PING
  void send_ping(Clock::time_point now);
  /// The one exit: logs, releases the registry, asks the connection to close.
  void end_with(Reason reason, const std::string& final_frame, Drain drain, std::string_view cause);
  void leave_registry(Reason reason);  // releases the id and the event subscription, once
  static std::int64_t now_ns() { return Clock::now().time_since_epoch().count(); }

  // What a heartbeat touches comes first, beside the vtable pointer, then the
  // connection's own hot part: a PING and its PONG touch 3 of the session's
  // cache lines instead of all 5, and 19,000 sessions no longer push the
  // kernel's socket state out of the cache (docs/benchmarks.md, "The floor").
  State state_ = State::handshaking;
  bool registered_ = false;  // holds an id in the registry
  std::uint8_t flags_ = 0;
  std::uint8_t version_ = proto::kMinVersion;  // negotiated at HELLO
  PingBudget ping_budget_;
  Clock::time_point last_tx_;
  SessionStats stats_;  // the heartbeat's one store lands here, inside the session
  proto::FrameDecoder decoder_;
  Connection conn_;
  // Cold: the handshake, the wheel's checks (once per timeout), LIST and SUBSCRIBE.
  Heartbeat hb_{};
  Clock::time_point handshake_deadline_;
  Clock::time_point last_ping_;
  // A SUBSCRIBE session reads the event log from its own cursor. Only
  // subscribers have one: every other session pays a pointer for it.
  struct EventFeed {
    std::uint64_t watch = 0;  // the log's watch token
    std::uint64_t cursor = 0;
    std::atomic<bool> pump_posted{false};  // coalesces the log's wake-ups into one posted pump
  };
  std::unique_ptr<EventFeed> feed_;
  std::string id_;
};

}  // namespace lifeline::detail
