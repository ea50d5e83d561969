#pragma once
/// Heartbeat negotiation: what a server allows and what a session gets. Pure
/// functions and value types: thread-safe to call concurrently.
///
/// When to ping and the PING rate limit are the library's own business
/// (src/core/ping_policy.hpp).

#include <chrono>
#include <string>

namespace lifeline {

/// What a server allows; proposals are clamped into these ranges.
struct HeartbeatLimits {
  std::chrono::milliseconds default_interval{10'000};
  std::chrono::milliseconds default_timeout{30'000};
  std::chrono::milliseconds min_interval{100};
  std::chrono::milliseconds max_interval{300'000};
  std::chrono::milliseconds min_timeout{300};
  std::chrono::milliseconds max_timeout{900'000};

  /// Empty if consistent, else a message naming the offending setting.
  std::string validate() const;
};

/// A session's negotiated heartbeat.
struct Heartbeat {
  std::chrono::milliseconds interval;
  std::chrono::milliseconds timeout;
  bool operator==(const Heartbeat&) const = default;
};

/// Server side of the handshake. A zero proposal means "server default"; a
/// missing timeout is 3 x interval, a missing interval is timeout / 3. Both are
/// then clamped, and timeout is raised to at least 2 x interval so that one
/// lost PING never kills a session.
Heartbeat negotiate(const HeartbeatLimits& limits, std::chrono::milliseconds proposed_interval,
                    std::chrono::milliseconds proposed_timeout);

}  // namespace lifeline
