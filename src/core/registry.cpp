#include "registry.hpp"

#include <algorithm>

namespace lifeline::detail {

Registry::ClaimResult Registry::claim(Registration r, DuplicatePolicy policy, std::size_t max_sessions) {
  ClaimResult result;
  {
    const std::lock_guard lock(mu_);
    auto it = online_.find(r.id);
    if (it == online_.end()) {
      push_event(EventKind::online, Reason::none, r);
      auto id = r.id;
      online_.emplace(std::move(id), Entry{Member{std::move(r), std::chrono::system_clock::now()}, nullptr});
      ++session_total_;
    } else if (policy == DuplicatePolicy::takeover) {
      auto& first = it->second.first;
      result.displaced = SessionAddress{first.reg.shard, first.reg.session};
      push_event(EventKind::takeover, Reason::none, r);
      first.reg = std::move(r);  // the id stays online: keep its "since", swap in the new connection
    } else {
      auto& e = it->second;
      result.sessions = 1 + e.extra();
      if (policy == DuplicatePolicy::reject || result.sessions >= max_sessions) {
        return result;
      }
      push_event(EventKind::join, Reason::none, r);
      if (!e.more) {
        e.more = std::make_unique<std::vector<Member>>();
      }
      e.more->push_back(Member{std::move(r), std::chrono::system_clock::now()});
      ++session_total_;
    }
    publish_counts();
    result.accepted = true;
  }
  log_.notify();
  return result;
}

bool Registry::release(std::string_view id, std::uint64_t session, Reason reason) {
  {
    const std::lock_guard lock(mu_);
    auto it = online_.find(std::string(id));
    if (it == online_.end()) {
      return false;
    }
    auto& e = it->second;
    if (e.first.reg.session == session) {
      if (e.extra() == 0) {
        push_event(EventKind::offline, reason, e.first.reg);
        online_.erase(it);
      } else {
        // The oldest remaining session becomes the first.
        push_event(EventKind::leave, reason, e.first.reg);
        e.first = std::move(e.more->front());
        e.more->erase(e.more->begin());
      }
    } else {
      if (e.extra() == 0) {
        return false;
      }
      const auto m =
          std::find_if(e.more->begin(), e.more->end(), [&](const Member& x) { return x.reg.session == session; });
      if (m == e.more->end()) {
        return false;
      }
      push_event(EventKind::leave, reason, m->reg);
      e.more->erase(m);
    }
    --session_total_;
    publish_counts();
  }
  log_.notify();
  return true;
}

void Registry::publish_counts() {
  count_.store(online_.size(), std::memory_order_relaxed);
  sessions_.store(session_total_, std::memory_order_relaxed);
}

void Registry::push_event(EventKind kind, Reason reason, const Registration& reg) {
  const auto now = std::chrono::system_clock::now();
  const bool ended = kind == EventKind::offline || kind == EventKind::leave;
  const auto seen = ended ? last_seen_of(reg, now) : now;
  log_.append(PresenceEvent{0, kind, reason, now, seen, reg.id, reg.remote, reg.session, 0, reg.transport, {}});
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

OnlineClient Registry::view(const Member& m) {
  OnlineClient c;
  c.id = m.reg.id;
  c.remote = m.reg.remote;
  c.session = m.reg.session;
  c.transport = m.reg.transport;
  c.since = m.since;
  c.heartbeat = m.reg.heartbeat;
  c.labels = m.reg.labels;
  if (m.reg.stats != nullptr) {
    c.last_seen = last_seen_of(m.reg, std::chrono::system_clock::now());
    c.rtt = std::chrono::microseconds(m.reg.stats->rtt_us.load(std::memory_order_relaxed));
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
  out.reserve(session_total_);
  for (const auto& [id, e] : online_) {
    out.push_back(view(e.first));
    if (e.more) {
      for (const auto& m : *e.more) {
        out.push_back(view(m));
      }
    }
  }
  // By id, then (the sessions of one id under `multi`) by session number.
  std::sort(out.begin(), out.end(),
            [](const auto& a, const auto& b) { return a.id != b.id ? a.id < b.id : a.session < b.session; });
  return out;
}

std::optional<OnlineClient> Registry::find(std::string_view id) const {
  const std::lock_guard lock(mu_);
  auto it = online_.find(std::string(id));
  if (it == online_.end()) {
    return std::nullopt;
  }
  return view(it->second.first);
}

std::optional<OnlineClient> Registry::find_session(std::string_view id, std::uint64_t session) const {
  const std::lock_guard lock(mu_);
  auto it = online_.find(std::string(id));
  if (it == online_.end()) {
    return std::nullopt;
  }
  if (it->second.first.reg.session == session) {
    return view(it->second.first);
  }
  if (it->second.more) {
    for (const auto& m : *it->second.more) {
      if (m.reg.session == session) {
        return view(m);
      }
    }
  }
  return std::nullopt;
}

std::vector<SessionAddress> Registry::addresses_of(std::string_view id) const {
  const std::lock_guard lock(mu_);
  std::vector<SessionAddress> out;
  auto it = online_.find(std::string(id));
  if (it != online_.end()) {
    out.push_back(SessionAddress{it->second.first.reg.shard, it->second.first.reg.session});
    if (it->second.more) {
      for (const auto& m : *it->second.more) {
        out.push_back(SessionAddress{m.reg.shard, m.reg.session});
      }
    }
  }
  return out;
}

}  // namespace lifeline::detail
