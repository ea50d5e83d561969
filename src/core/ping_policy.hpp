#pragma once
// When to send a PING, its timestamp, and the PING rate limit: the policy the
// server's sessions and the client share. Private to the library (no user of
// the public API ever sees a PING). Pure functions of their arguments (time is
// passed in), so they are unit-tested with a fake clock; a PingBudget is a
// plain value owned by one session.

#include <chrono>
#include <cstdint>

namespace lifeline {

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
TimePoint next_ping_due(TimePoint last_tx, TimePoint last_rx, TimePoint last_ping, std::chrono::milliseconds interval) {
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
  explicit PingBudget(std::chrono::milliseconds interval = std::chrono::milliseconds{1000});
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
