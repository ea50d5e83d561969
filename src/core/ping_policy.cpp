#include "ping_policy.hpp"

#include <algorithm>

namespace lifeline {

PingBudget::PingBudget(std::chrono::milliseconds interval) {
  const auto ms = std::max<std::int64_t>(1, interval.count());
  rate_ = static_cast<std::uint32_t>(std::max<std::int64_t>(20, 4000 / ms));
  spacing_ns_ = 1'000'000'000 / rate_;
}

bool PingBudget::allow(std::int64_t now_ns) {
  // GCRA: each PING pushes the theoretical arrival time one spacing ahead; a
  // PING is refused when that time runs more than (burst - 1) spacings ahead of now.
  const std::int64_t tat = std::max(tat_ns_, now_ns);
  if (tat - now_ns > static_cast<std::int64_t>(burst() - 1) * spacing_ns_) {
    return false;
  }
  tat_ns_ = tat + spacing_ns_;
  return true;
}

}  // namespace lifeline
