#pragma once
/// Heartbeat policy: negotiation of interval/timeout, when to ping, and the
/// PING rate limit. Pure functions of their arguments (time is passed in), so
/// they are unit-tested with a fake clock. Thread-safe.

#include <chrono>
#include <cstdint>
#include <string>

namespace lifeline {

using std::chrono::milliseconds;

/// What a server allows; proposals are clamped into these ranges.
struct HeartbeatLimits {
  milliseconds default_interval{10'000};
  milliseconds default_timeout{30'000};
  milliseconds min_interval{100};
  milliseconds max_interval{300'000};
  milliseconds min_timeout{300};
  milliseconds max_timeout{900'000};

  /// Empty if consistent, else a message naming the offending setting.
  std::string validate() const;
};

struct Heartbeat {
  milliseconds interval;
  milliseconds timeout;
  bool operator==(const Heartbeat&) const = default;
};

/// Server side of the handshake. A zero proposal means "server default"; a
/// missing timeout is 3 x interval, a missing interval is timeout / 3. Both are
/// then clamped, and timeout is raised to at least 2 x interval so that one
/// lost PING never kills a session.
Heartbeat negotiate(const HeartbeatLimits& limits, milliseconds proposed_interval, milliseconds proposed_timeout);

/// A PING's timestamp: the sender's monotonic clock in microseconds, echoed in
/// the PONG so the sender gets the round-trip time as `now - t_us`.
inline std::uint64_t timestamp_us(std::chrono::steady_clock::time_point t) {
  return static_cast<std::uint64_t>(
      std::chrono::duration_cast<std::chrono::microseconds>(t.time_since_epoch()).count());
}

/// When the next PING is due: after `interval` with nothing sent or nothing
/// received, but never sooner than `interval` after the previous PING (so a
/// silent peer is pinged once per interval, not once per check).
template <class TimePoint>
TimePoint next_ping_due(TimePoint last_tx, TimePoint last_rx, TimePoint last_ping, milliseconds interval) {
  const TimePoint quiet = (last_tx < last_rx ? last_tx : last_rx) + interval;
  const TimePoint spaced = last_ping + interval;
  return quiet > spaced ? quiet : spaced;
}

/// PING flood guard: a peer may send max(20, 4000 / interval_ms) PINGs per
/// second on average, with bursts of twice that (a token bucket in GCRA form:
/// one timestamp, no allocation). A client heartbeating at its interval uses a
/// tenth of the budget at most.
class PingBudget {
 public:
  explicit PingBudget(milliseconds interval = milliseconds{1000});
  /// Counts one PING at `now_ns` (any monotonic nanosecond count); false if over the budget.
  bool allow(std::int64_t now_ns);
  std::uint32_t per_second() const { return rate_; }
  std::uint32_t burst() const { return 2 * rate_; }

 private:
  std::int64_t tat_ns_ = 0;  // "theoretical arrival time" of the next conforming PING
  std::int64_t spacing_ns_;  // 1 s / rate
  std::uint32_t rate_;
};

}  // namespace lifeline
