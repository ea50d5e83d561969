#pragma once
/// Reconnect backoff: exponential with full jitter ("AWS full jitter"): the
/// n-th delay is uniform in [0, min(cap, base * factor^n)]. Full jitter spreads
/// a crowd of clients that lost the same server over the whole window, so a
/// restarted server sees a ramp, not a wall. Not thread-safe (one per client).

#include <chrono>
#include <cstdint>
#include <random>
#include <string>

namespace lifeline {

struct BackoffPolicy {
  std::chrono::milliseconds base{500};
  std::chrono::milliseconds cap{30'000};
  double factor = 2.0;

  /// Empty if usable, else a message naming the offending setting.
  std::string validate() const;
};

class Backoff {
 public:
  explicit Backoff(BackoffPolicy policy, std::uint64_t seed = std::random_device{}());

  /// The next delay to wait before an attempt; grows the window.
  std::chrono::milliseconds next();
  /// Upper bound of the window the next call draws from.
  std::chrono::milliseconds ceiling() const;
  /// Back to the first window (after a successful handshake).
  void reset() { attempt_ = 0; }
  unsigned attempt() const { return attempt_; }

 private:
  BackoffPolicy policy_;
  unsigned attempt_ = 0;
  std::mt19937_64 rng_;
};

}  // namespace lifeline
