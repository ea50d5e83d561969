#pragma once
// One I/O thread of the server: an io_context, the sessions it owns (a slab
// indexed by session number), and one timing wheel for all their deadlines.
// Everything here runs on the shard's thread unless stated otherwise.

#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <thread>
#include <vector>

#include "lifeline/timing_wheel.hpp"
#include "session.hpp"

namespace lifeline::detail {

struct ServerContext;

class Shard {
 public:
  using Clock = std::chrono::steady_clock;

  Shard(ServerContext& ctx, std::uint32_t index);
  Shard(const Shard&) = delete;
  Shard& operator=(const Shard&) = delete;
  ~Shard();

  boost::asio::io_context& io() { return io_; }
  ServerContext& ctx() { return ctx_; }
  std::uint32_t index() const { return index_; }
  TimingWheel<Clock>& wheel() { return wheel_; }
  /// Scratch buffer every session of this shard reads into: idle sessions own no read buffer.
  std::span<std::uint8_t> rx_buffer() { return rx_; }

  /// Starts the thread (any thread).
  void start();
  /// Releases the io_context and joins its thread (unless called on that thread).
  void join();
  /// True on this shard's own thread.
  bool on_this_thread() const;

  /// Takes ownership of an accepted connection and starts its session.
  void adopt(Session::Socket socket);
  /// The live session with this number, or nullptr.
  std::shared_ptr<Session> find(std::uint64_t session_no) const;
  /// Any thread: runs `fn(Session&)` on this shard's thread if that session is still live then.
  template <class Fn>
  void with_session(std::uint64_t session_no, Fn fn) {
    boost::asio::post(io_, [this, session_no, fn = std::move(fn)]() mutable {
      if (auto s = find(session_no)) {
        fn(*s);
      }
    });
  }
  /// Frees the slab slot of a closed session (its number becomes stale).
  void forget(std::uint64_t session_no);
  /// Closes every session (server shutdown).
  void close_all(Reason reason);
  std::size_t session_count() const { return slots_.size() - free_.size(); }

 private:
  struct Slot {
    std::shared_ptr<Session> session;
    std::uint32_t gen = 0;
  };
  void start_ticking();
  std::optional<Clock::time_point> visit(std::uint64_t session_no, Clock::time_point now) const;

  ServerContext& ctx_;
  std::uint32_t index_;
  boost::asio::io_context io_{1};
  std::optional<boost::asio::executor_work_guard<boost::asio::io_context::executor_type>> work_;
  std::thread thread_;
  TimingWheel<Clock> wheel_;
  boost::asio::steady_timer timer_;
  std::vector<Slot> slots_;
  std::vector<std::uint32_t> free_;
  std::vector<std::uint8_t> rx_;
};

/// Session numbers carry their location: shard (8 bits), slot generation (24
/// bits), slot index (32 bits). A stale number never matches a reused slot.
constexpr std::uint64_t make_session_no(std::uint32_t shard, std::uint32_t gen, std::uint32_t index) {
  return (std::uint64_t{shard} << 56U) | (std::uint64_t{gen & 0xFFFFFFU} << 32U) | index;
}
constexpr std::uint32_t shard_of(std::uint64_t no) { return static_cast<std::uint32_t>(no >> 56U); }
constexpr std::uint32_t gen_of(std::uint64_t no) { return static_cast<std::uint32_t>((no >> 32U) & 0xFFFFFFU); }
constexpr std::uint32_t index_of(std::uint64_t no) { return static_cast<std::uint32_t>(no & 0xFFFFFFFFU); }

}  // namespace lifeline::detail
