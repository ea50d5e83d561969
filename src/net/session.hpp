#pragma once
// One client connection on the server. Owned by its shard's slab (and kept
// alive by its own coroutine while that runs); referenced elsewhere only by
// session number. Runs entirely on its shard's thread.
//
// Read path: a pending read into a 16-byte buffer in the session (more is
// drained through the shard's scratch buffer). A heartbeat therefore costs one
// wakeup, one read, one timestamp store and one write of a 13-byte PONG: no
// timer, no allocation, no epoll_ctl.

#include <array>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "lifeline/frame_decoder.hpp"
#include "lifeline/heartbeat.hpp"
#include "registry.hpp"

namespace lifeline::detail {

class Shard;

class Session : public std::enable_shared_from_this<Session> {
 public:
  using Clock = std::chrono::steady_clock;
  using Socket = boost::asio::basic_stream_socket<boost::asio::ip::tcp, boost::asio::io_context::executor_type>;

  Session(Shard& shard, Socket socket, std::uint64_t number);

  /// Starts reading; the session keeps itself alive until the connection closes.
  void start();

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
  void wait_readable();
  bool consume(proto::Bytes bytes);  // false once the session is closed
  bool drain();                      // reads until the socket is empty; false once closed
  bool on_frame(const proto::Frame& f);
  bool on_hello(proto::Bytes payload);
  bool peer_has_closed();  // EOF already queued behind what was read
  void on_list(std::uint32_t request_id);
  void on_subscribe();
  void on_eof(const boost::system::error_code& ec);

  proto::TimestampFrame ping_frame(Clock::time_point now);  // a PING stamped `now`; records it as the last PING
  void send_ping(Clock::time_point now);
  void leave_registry(Reason reason);  // releases the id and the event subscription, once
  /// Writes now or queues for flush(); returns a hard socket error (the caller decides what it means).
  boost::system::error_code write(std::string_view frame);
  boost::asio::awaitable<void> flush();
  void finish();  // hard close: socket closed, slab slot freed
  static std::int64_t now_ns() { return Clock::now().time_since_epoch().count(); }

  Shard& shard_;
  Socket socket_;
  std::uint64_t number_;
  State state_ = State::handshaking;
  bool registered_ = false;  // holds an id in the registry
  bool flushing_ = false;
  std::uint8_t flags_ = 0;
  Heartbeat hb_{};
  PingBudget ping_budget_;
  Clock::time_point deadline_;  // handshake or drain deadline
  Clock::time_point last_tx_;
  Clock::time_point last_ping_;
  std::shared_ptr<SessionStats> stats_;
  std::uint64_t subscription_ = 0;
  proto::FrameDecoder decoder_;
  std::string id_;
  std::string peer_;
  std::string out_;                      // unsent output; empty (and unallocated) when the socket keeps up
  std::array<std::uint8_t, 16> head_{};  // target of the pending read: a whole PING fits
};

}  // namespace lifeline::detail
