#include "recent_offline.hpp"

#include <algorithm>

namespace lifeline::admin {

void RecentOffline::apply(const PresenceEvent& e) {
  if (e.id.empty()) {
    return;  // a gap
  }
  if (auto it = by_id_.find(e.id); it != by_id_.end()) {
    order_.erase(it->second);
    by_id_.erase(it);
  }
  if (e.kind != EventKind::offline || capacity_ == 0) {
    return;  // online again (or a takeover): not offline any more
  }
  order_.push_back(KnownClient{e.id, e.remote, e.last_seen, e.at, e.reason, {}});
  by_id_.emplace(e.id, std::prev(order_.end()));
  if (by_id_.size() > capacity_) {
    by_id_.erase(order_.front().id);
    order_.pop_front();
  }
}

std::optional<KnownClient> RecentOffline::find(std::string_view id) const {
  const auto it = by_id_.find(std::string(id));
  if (it == by_id_.end()) {
    return std::nullopt;
  }
  return *it->second;
}

std::vector<KnownClient> RecentOffline::all() const {
  std::vector<KnownClient> out(order_.begin(), order_.end());
  std::sort(out.begin(), out.end(), [](const auto& a, const auto& b) { return a.id < b.id; });
  return out;
}

}  // namespace lifeline::admin
