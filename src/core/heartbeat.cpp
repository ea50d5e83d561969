#include "lifeline/heartbeat.hpp"

#include <algorithm>

namespace lifeline {

using std::chrono::milliseconds;

std::string HeartbeatLimits::validate() const {
  const auto positive = [](milliseconds v) { return v.count() > 0; };
  if (!positive(min_interval) || !positive(min_timeout)) {
    return "min-interval and min-timeout must be positive";
  }
  if (min_interval > max_interval) {
    return "min-interval (" + std::to_string(min_interval.count()) + " ms) is above max-interval (" +
           std::to_string(max_interval.count()) + " ms)";
  }
  if (min_timeout > max_timeout) {
    return "min-timeout (" + std::to_string(min_timeout.count()) + " ms) is above max-timeout (" +
           std::to_string(max_timeout.count()) + " ms)";
  }
  if (default_interval < min_interval || default_interval > max_interval) {
    return "interval (" + std::to_string(default_interval.count()) + " ms) is outside [min-interval, max-interval]";
  }
  if (default_timeout < min_timeout || default_timeout > max_timeout) {
    return "timeout (" + std::to_string(default_timeout.count()) + " ms) is outside [min-timeout, max-timeout]";
  }
  if (default_timeout < 2 * default_interval) {
    return "timeout (" + std::to_string(default_timeout.count()) + " ms) must be at least twice the interval (" +
           std::to_string(default_interval.count()) + " ms)";
  }
  if (max_timeout < 2 * max_interval) {
    return "max-timeout must be at least twice max-interval";
  }
  if (max_timeout > milliseconds{std::int64_t{1} << 31}) {
    return "max-timeout is above 2^31 ms";
  }
  return {};
}

Heartbeat negotiate(const HeartbeatLimits& limits, milliseconds proposed_interval, milliseconds proposed_timeout) {
  milliseconds interval = proposed_interval;
  milliseconds timeout = proposed_timeout;
  if (interval.count() == 0 && timeout.count() == 0) {
    interval = limits.default_interval;
    timeout = limits.default_timeout;
  } else if (interval.count() == 0) {
    interval = timeout / 3;
  } else if (timeout.count() == 0) {
    timeout = interval * 3;
  }
  interval = std::clamp(interval, limits.min_interval, limits.max_interval);
  timeout = std::clamp(timeout, limits.min_timeout, limits.max_timeout);
  timeout = std::max(timeout, 2 * interval);
  return {interval, timeout};
}

}  // namespace lifeline
