#pragma once
// One I/O thread of the server: an event loop, the sessions it owns (a slab
// indexed by session number), and one timing wheel for all their deadlines.
// Shard 0 also owns the listening sockets and hands accepted connections out
// round-robin. Everything here runs on the shard's thread unless stated otherwise.

#include <cassert>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <thread>
#include <vector>

#include "event_loop.hpp"
#include "metrics.hpp"
#include "session.hpp"
#include "timing_wheel.hpp"

namespace lifeline::detail {

struct ServerContext;

class Shard {
 public:
  using Clock = std::chrono::steady_clock;

  Shard(ServerContext& ctx, std::uint32_t index);
  Shard(const Shard&) = delete;
  Shard& operator=(const Shard&) = delete;
  ~Shard();

  ServerContext& ctx() { return ctx_; }
  std::uint32_t index() const { return index_; }
  TimingWheel<Clock>& wheel() { return wheel_; }
  /// Scratch buffer every session of this shard reads into: idle sessions own no read buffer.
  std::span<std::uint8_t> rx_buffer() { return rx_; }

  EventLoop& loop() { return loop_; }
  /// Written on this shard's thread only; read from any thread.
  ShardMetrics& metrics() { return metrics_; }
  const ShardMetrics& metrics() const { return metrics_; }

  /// Before start(): the listening sockets this shard accepts on; those from
  /// index `ws_first` on are WebSocket listeners.
  void listen_on(std::vector<Fd> listeners, std::size_t ws_first) {
    listeners_ = std::move(listeners);
    ws_first_ = ws_first;
  }
  /// Starts the thread (any thread).
  void start();
  /// Ends the loop and joins its thread (unless called on that thread).
  void join();
  /// True on this shard's own thread.
  bool on_this_thread() const;
  /// Any thread: runs `fn` on this shard's thread, in posting order.
  void post(std::function<void()> fn) { loop_.post(std::move(fn)); }
  /// Any shard's thread: a TLS handshake counted at accept is over (done or
  /// abandoned). Wakes the accepting shard once few enough are under way.
  static void tls_handshake_done(ServerContext& ctx);

  /// Takes ownership of an accepted, non-blocking connection from `peer` and
  /// starts its session (a WebSocket one if `websocket`); with a `refusal` (a
  /// connection limit), the session only sends ERROR `too_many_connections` and closes.
  void adopt(Fd socket, std::string peer, const std::string& refusal, bool websocket = false);
  /// The live session with this number, or nullptr.
  Session* find(std::uint64_t session_no) const;
  /// On HELLO with an id taken over: ends the displaced session as `replaced`
  /// on whichever shard owns it (posted there; it may be this shard). Sessions
  /// never reach into another shard themselves.
  void close_displaced(const SessionAddress& displaced);
  /// Any thread: runs `fn(Session&)` on this shard's thread if that session is still live then.
  template <class Fn>
  void with_session(std::uint64_t session_no, Fn fn) {
    post([this, session_no, fn = std::move(fn)]() mutable {
      if (auto* s = find(session_no)) {
        fn(*s);
      }
    });
  }
  /// Frees the slab slot of a closed session (its number becomes stale). The
  /// object itself lives until the loop's current work is done, so a session
  /// may call this from inside its own member functions.
  void forget(std::uint64_t session_no);
  /// Stops accepting (server shutdown).
  void close_listeners();
  /// Server shutdown, first step: BYE `reason` to every session that holds an
  /// id (their offline events go into the log).
  void close_clients(Reason reason, std::string_view text = "server is shutting down");
  /// Server shutdown, once every shard has done close_clients(): sends each
  /// subscriber every event left in the log, then closes every session.
  void close_all(Reason reason);
  std::size_t session_count() const { return slots_.size() - free_.size(); }

 private:
  struct Slot {
    std::unique_ptr<Session> session;
    std::uint32_t gen = 1;  // never 0 (see forget()): no session is number 0, which lists use for "unknown"
  };
  void on_ready(std::uint64_t tag, std::uint32_t events);
  std::vector<Session*> live_sessions() const;
  void accept_from(std::size_t listener);
  /// Why the listeners are out of the loop: too many TLS handshakes under way
  /// (over when half are done), or an accept error such as EMFILE (over when
  /// its pause has passed).
  enum class AcceptPause : std::uint8_t { none, handshakes, error };
  /// Takes the listeners out of the loop for at most `pause` (the wheel's kResumeAcceptTag puts them back).
  void pause_accepting(AcceptPause why, std::chrono::milliseconds pause);
  /// Puts the listeners back if they are out for `why`.
  void resume_accepting(AcceptPause why);
  std::optional<Clock::time_point> visit(std::uint64_t session_no, Clock::time_point now);

  ServerContext& ctx_;
  std::uint32_t index_;
  EventLoop loop_;
  std::thread thread_;
  AcceptPause accept_paused_ = AcceptPause::none;
  Clock::time_point accept_resume_at_;  // when the current pause ends at the latest
  TimingWheel<Clock> wheel_;
  std::vector<Slot> slots_;
  std::vector<std::uint32_t> free_;
  std::vector<std::unique_ptr<Session>> graveyard_;  // closed sessions, destroyed by the next posted task
  std::vector<std::uint8_t> rx_;
  std::vector<Fd> listeners_;
  std::size_t ws_first_ = 0;    // listeners_ from here on take WebSocket clients
  std::size_t next_shard_ = 0;  // round-robin target of the next accepted connection
  ShardMetrics metrics_;
};

/// Debug builds: aborts unless called on `shard`'s own thread (muduo's
/// assertInLoopThread). Every member that must run on its shard's thread
/// starts with it; with NDEBUG (release builds) it costs nothing.
inline void assert_in_loop_thread([[maybe_unused]] const Shard& shard) { assert(shard.on_this_thread()); }

/// Session numbers carry their location: shard (8 bits), slot generation (24
/// bits), slot index (32 bits). A stale number never matches a reused slot.
constexpr std::uint64_t make_session_no(std::uint32_t shard, std::uint32_t gen, std::uint32_t index) {
  return (std::uint64_t{shard} << 56U) | (std::uint64_t{gen & 0xFFFFFFU} << 32U) | index;
}
constexpr std::uint32_t shard_of(std::uint64_t no) { return static_cast<std::uint32_t>(no >> 56U); }
constexpr std::uint32_t gen_of(std::uint64_t no) { return static_cast<std::uint32_t>((no >> 32U) & 0xFFFFFFU); }
constexpr std::uint32_t index_of(std::uint64_t no) { return static_cast<std::uint32_t>(no & 0xFFFFFFFFU); }
/// Shard field 0xFF (there are at most 255 shards, 0..254) marks loop and
/// wheel tags that are not sessions: listening sockets and the accept pause.
constexpr std::uint32_t kNotASession = 0xFF;
constexpr std::uint64_t listener_tag(std::size_t i) {
  return make_session_no(kNotASession, 0, static_cast<std::uint32_t>(i));
}
constexpr std::uint64_t kResumeAcceptTag = make_session_no(kNotASession, 1, 0);
// A connection's epoll tag: its address. User-space addresses never have the
// top byte set, so they cannot be taken for a listener's tag.
inline std::uint64_t io_tag(const Connection* c) { return reinterpret_cast<std::uintptr_t>(c); }
inline Connection* connection_of(std::uint64_t tag) { return reinterpret_cast<Connection*>(tag); }

}  // namespace lifeline::detail
