#include "event_log.hpp"

#include <algorithm>
#include <chrono>

namespace lifeline::detail {

EventLog::EventLog(std::uint64_t instance, std::size_t capacity)
    : instance_(instance), capacity_(std::max<std::size_t>(capacity, 1)) {}

std::uint64_t EventLog::append(PresenceEvent ev) {
  const std::lock_guard lock(mu_);
  ev.seq = ++last_seq_;
  ev.instance = instance_;
  ring_.push_back(std::move(ev));
  if (ring_.size() > capacity_) {
    ring_.pop_front();
  }
  return last_seq_;
}

std::uint64_t EventLog::last_seq() const {
  const std::lock_guard lock(mu_);
  return last_seq_;
}

PresenceEvent EventLog::gap_marker(std::uint64_t seq) const {
  PresenceEvent gap;
  gap.seq = seq;
  gap.kind = EventKind::gap;
  gap.at = std::chrono::system_clock::now();
  gap.instance = instance_;
  return gap;
}

std::uint64_t EventLog::read_after(std::uint64_t after, std::size_t max, std::vector<PresenceEvent>& out) const {
  const std::lock_guard lock(mu_);
  if (ring_.empty() || max == 0) {
    return after;
  }
  const auto oldest = ring_.front().seq;
  if (after + 1 < oldest) {
    // The ring moved past this reader: say so, then go on from what is kept.
    out.push_back(gap_marker(oldest - 1));
    after = oldest - 1;
    --max;
  }
  // Seqs in the ring are consecutive, so the index of `after + 1` is arithmetic.
  for (auto i = static_cast<std::size_t>(after + 1 - oldest); i < ring_.size() && max > 0; ++i, --max) {
    out.push_back(ring_[i]);
    after = ring_[i].seq;
  }
  return after;
}

EventLog::Resume EventLog::resume_point(std::uint64_t instance, std::uint64_t after_seq) const {
  const std::lock_guard lock(mu_);
  if (instance != instance_ || after_seq > last_seq_) {
    return Resume{last_seq_, true};
  }
  const auto oldest = ring_.empty() ? last_seq_ + 1 : ring_.front().seq;
  if (after_seq + 1 < oldest) {
    return Resume{oldest - 1, true};
  }
  return Resume{after_seq, false};
}

std::uint64_t EventLog::watch(Wake wake) {
  const std::lock_guard lock(watch_mu_);
  const auto token = next_token_++;
  watchers_.emplace(token, std::move(wake));
  return token;
}

void EventLog::unwatch(std::uint64_t token) {
  const std::lock_guard lock(watch_mu_);
  watchers_.erase(token);
}

void EventLog::notify() {
  const std::lock_guard lock(watch_mu_);
  for (auto& [token, wake] : watchers_) {
    wake();
  }
}

}  // namespace lifeline::detail
