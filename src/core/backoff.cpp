#include "lifeline/backoff.hpp"

#include <algorithm>
#include <cmath>

namespace lifeline {

std::string BackoffPolicy::validate() const {
  if (base.count() <= 0) {
    return "backoff base must be positive";
  }
  if (cap < base) {
    return "backoff cap (" + std::to_string(cap.count()) + " ms) is below its base (" + std::to_string(base.count()) +
           " ms)";
  }
  if (!(factor >= 1.0) || factor > 100.0) {
    return "backoff factor must be in [1, 100]";
  }
  return {};
}

Backoff::Backoff(BackoffPolicy policy, std::uint64_t seed) : policy_(policy), rng_(seed) {}

std::chrono::milliseconds Backoff::ceiling() const {
  const double grown = static_cast<double>(policy_.base.count()) * std::pow(policy_.factor, attempt_);
  const double capped = std::min(grown, static_cast<double>(policy_.cap.count()));
  return std::chrono::milliseconds(static_cast<std::int64_t>(capped));
}

std::chrono::milliseconds Backoff::next() {
  const auto hi = ceiling().count();
  // Stop growing once at the cap: keeps pow() finite however long an outage lasts.
  if (hi < policy_.cap.count()) {
    ++attempt_;
  }
  std::uniform_int_distribution<std::int64_t> pick(0, hi);
  return std::chrono::milliseconds(pick(rng_));
}

}  // namespace lifeline
