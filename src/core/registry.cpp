#include "registry.hpp"

#include <algorithm>

namespace lifeline::detail {

Registry::ClaimResult Registry::claim(Registration r, DuplicatePolicy policy) {
  ClaimResult result;
  {
    const std::lock_guard lock(mu_);
    auto it = online_.find(r.id);
    if (it != online_.end()) {
      if (policy == DuplicatePolicy::reject) {
        return result;
      }
      result.displaced = SessionAddress{it->second.reg.shard, it->second.reg.session};
      push_event(EventKind::takeover, Reason::none, r);
      // The id stays online: keep its "since", swap in the new connection.
      it->second.reg = std::move(r);
    } else {
      push_event(EventKind::online, Reason::none, r);
      auto id = r.id;
      online_.emplace(std::move(id), Entry{std::move(r), std::chrono::system_clock::now()});
      count_.store(online_.size(), std::memory_order_relaxed);
    }
    result.accepted = true;
  }
  log_.notify();
  return result;
}

bool Registry::release(std::string_view id, std::uint64_t session, Reason reason) {
  {
    const std::lock_guard lock(mu_);
    auto it = online_.find(std::string(id));
    if (it == online_.end() || it->second.reg.session != session) {
      return false;
    }
    push_event(EventKind::offline, reason, it->second.reg);
    online_.erase(it);
    count_.store(online_.size(), std::memory_order_relaxed);
  }
  log_.notify();
  return true;
}

void Registry::push_event(EventKind kind, Reason reason, const Registration& reg) {
  const auto now = std::chrono::system_clock::now();
  const auto seen = kind == EventKind::offline ? last_seen_of(reg, now) : now;
  log_.append(PresenceEvent{0, kind, reason, now, seen, reg.id, reg.remote, reg.session, 0});
}

std::chrono::system_clock::time_point Registry::last_seen_of(const Registration& reg,
                                                             std::chrono::system_clock::time_point now) {
  if (reg.stats == nullptr) {
    return now;
  }
  // last_rx is on the steady clock; express it on the wall clock via "how long ago".
  const auto rx = std::chrono::steady_clock::time_point(
      std::chrono::nanoseconds(reg.stats->last_rx_ns.load(std::memory_order_relaxed)));
  const auto ago = std::chrono::steady_clock::now() - rx;
  return now - std::chrono::duration_cast<std::chrono::system_clock::duration>(ago);
}

OnlineClient Registry::view(const Entry& e) {
  OnlineClient c;
  c.id = e.reg.id;
  c.remote = e.reg.remote;
  c.session = e.reg.session;
  c.transport = e.reg.transport;
  c.since = e.since;
  c.heartbeat = e.reg.heartbeat;
  c.labels = e.reg.labels;
  if (e.reg.stats != nullptr) {
    c.last_seen = last_seen_of(e.reg, std::chrono::system_clock::now());
    c.rtt = std::chrono::microseconds(e.reg.stats->rtt_us.load(std::memory_order_relaxed));
  }
  return c;
}

std::vector<OnlineClient> Registry::snapshot() const {
  const std::lock_guard lock(mu_);
  return sorted_view();
}

PresenceSnapshot Registry::stamped_snapshot() const {
  const std::lock_guard lock(mu_);
  // Events are appended under mu_ too, so the list and the seq agree.
  return PresenceSnapshot{log_.instance(), log_.last_seq(), sorted_view()};
}

std::vector<OnlineClient> Registry::sorted_view() const {
  std::vector<OnlineClient> out;
  out.reserve(online_.size());
  for (const auto& [id, e] : online_) {
    out.push_back(view(e));
  }
  std::sort(out.begin(), out.end(), [](const auto& a, const auto& b) { return a.id < b.id; });
  return out;
}

std::optional<OnlineClient> Registry::find(std::string_view id) const {
  const std::lock_guard lock(mu_);
  auto it = online_.find(std::string(id));
  if (it == online_.end()) {
    return std::nullopt;
  }
  return view(it->second);
}

std::optional<SessionAddress> Registry::address_of(std::string_view id) const {
  const std::lock_guard lock(mu_);
  auto it = online_.find(std::string(id));
  if (it == online_.end()) {
    return std::nullopt;
  }
  return SessionAddress{it->second.reg.shard, it->second.reg.session};
}

}  // namespace lifeline::detail
