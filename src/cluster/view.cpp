#include "view.hpp"

#include <algorithm>
#include <unordered_map>
#include <unordered_set>

namespace lifeline::cluster {
namespace {
bool same(const OnlineClient& c, const std::string& node, std::uint64_t session) {
  return c.session == session && c.node == node;
}
std::string key_of(const std::string& id, const std::string& node, std::uint64_t session) {
  return id + '\n' + node + '\n' + std::to_string(session);
}
}  // namespace

ClusterView::ClusterView(std::string self, const detail::Registry& local, std::uint64_t instance,
                         std::size_t event_buffer)
    : self_(std::move(self)), local_(local), log_(instance, event_buffer) {}

PresenceSnapshot ClusterView::view_snapshot() const {
  // This node's sessions as they are now (taken first: the registry's lock is never taken under ours).
  std::unordered_map<std::uint64_t, OnlineClient> live;
  for (auto& c : local_.snapshot()) {
    const auto no = c.session;
    live.emplace(no, std::move(c));
  }
  const std::lock_guard lock(mu_);
  PresenceSnapshot s{log_.instance(), log_.last_seq(), {}};
  for (const auto& [id, sessions] : online_) {
    for (const auto& c : sessions) {
      s.clients.push_back(c);
      if (c.node == self_) {
        if (auto it = live.find(c.session); it != live.end() && it->second.id == c.id) {
          s.clients.back().last_seen = it->second.last_seen;
          s.clients.back().rtt = it->second.rtt;
        }
      }
    }
  }
  return s;  // std::map: sorted by id
}

std::optional<OnlineClient> ClusterView::view_find(std::string_view id) const {
  std::optional<OnlineClient> c;
  {
    const std::lock_guard lock(mu_);
    const auto it = online_.find(std::string(id));
    if (it == online_.end() || it->second.empty()) {
      return std::nullopt;
    }
    c = it->second.front();
  }
  // Outside our lock, as in view_snapshot(): this node's own session with its live last_seen and rtt.
  if (c->node == self_) {
    if (const auto live = local_.find_session(id, c->session)) {
      c->last_seen = live->last_seen;
      c->rtt = live->rtt;
    }
  }
  return c;
}

bool ClusterView::view_degraded() const {
  const std::lock_guard lock(mu_);
  return degraded_;
}

void ClusterView::set_degraded(bool degraded) {
  const std::lock_guard lock(mu_);
  degraded_ = degraded;
}

std::size_t ClusterView::count() const {
  const std::lock_guard lock(mu_);
  return online_.size();
}

void ClusterView::emit(EventKind kind, Reason reason, const OnlineClient& c, std::chrono::system_clock::time_point at,
                       std::chrono::system_clock::time_point last_seen) {
  PresenceEvent ev;
  ev.kind = kind;
  ev.reason = reason;
  ev.at = at;
  ev.last_seen = last_seen;
  ev.id = c.id;
  ev.remote = c.remote;
  ev.session = c.session;
  ev.transport = c.transport;
  ev.node = c.node;
  log_.append(std::move(ev));
}

bool ClusterView::add(OnlineClient c, EventKind kind, std::chrono::system_clock::time_point at) {
  std::erase_if(settling_,
                [&](const Settling& s) { return s.id == c.id && s.node == c.node && s.session == c.session; });
  auto& sessions = online_[c.id];
  if (std::any_of(sessions.begin(), sessions.end(), [&](const auto& s) { return same(s, c.node, c.session); })) {
    return false;  // listed already: a replay
  }
  if (kind == EventKind::takeover) {
    sessions.clear();  // the new session replaced every one the id held
  } else if (sessions.empty() && (kind == EventKind::join || kind == EventKind::takeover)) {
    kind = EventKind::online;
  } else if (!sessions.empty() && kind == EventKind::online) {
    kind = EventKind::join;
  }
  emit(kind, Reason::none, c, at, at);
  sessions.push_back(std::move(c));
  return true;
}

bool ClusterView::remove(const std::string& id, const std::string& node, std::uint64_t session, Reason reason,
                         std::chrono::system_clock::time_point at, std::chrono::system_clock::time_point last_seen) {
  auto it = online_.find(id);
  if (it == online_.end()) {
    return false;
  }
  auto& sessions = it->second;
  auto s = std::find_if(sessions.begin(), sessions.end(), [&](const auto& c) { return same(c, node, session); });
  if (s == sessions.end()) {
    return false;  // not listed (a replay, or taken over already)
  }
  const OnlineClient gone = std::move(*s);
  sessions.erase(s);
  emit(sessions.empty() ? EventKind::offline : EventKind::leave, reason, gone, at, last_seen);
  if (sessions.empty()) {
    online_.erase(it);
  }
  return true;
}

void ClusterView::apply(const StreamEvent& ev) {
  const auto before = log_.last_seq();
  {
    const std::lock_guard lock(mu_);
    apply_locked(ev);
  }
  if (log_.last_seq() != before) {
    log_.notify();  // outside the lock: wake-ups post to the readers' shards
  }
}

void ClusterView::apply_locked(const StreamEvent& ev) {
  const auto& k = ev.kind;
  if (k == "offline" || k == "leave") {
    remove(ev.entry.id, ev.entry.node, ev.entry.session, ev.reason, ev.at, ev.last_seen);
    return;
  }
  if (k == "moved" || k == "resumed") {
    // The session that ended in the grace period is still listed (its offline
    // was held back): the new one takes its place, with no event of its own.
    auto it = online_.find(ev.entry.id);
    if (it != online_.end()) {
      std::erase_if(it->second, [&](const auto& c) { return same(c, ev.prev_node, ev.prev_session); });
    }
    const bool others = it != online_.end() && !it->second.empty();
    add(ev.entry, others ? EventKind::join : (k == "moved" ? EventKind::moved : EventKind::resumed), ev.at);
    return;
  }
  add(ev.entry, k == "takeover" ? EventKind::takeover : k == "join" ? EventKind::join : EventKind::online, ev.at);
}

void ClusterView::apply_local(const PresenceEvent& ev, const std::optional<OnlineClient>& entry) {
  const auto before = log_.last_seq();
  {
    const std::lock_guard lock(mu_);
    apply_local_locked(ev, entry);
  }
  if (log_.last_seq() != before) {
    log_.notify();  // outside the lock: wake-ups post to the readers' shards
  }
}

void ClusterView::apply_local_locked(const PresenceEvent& ev, const std::optional<OnlineClient>& entry) {
  switch (ev.kind) {
    case EventKind::offline:
    case EventKind::leave: remove(ev.id, self_, ev.session, ev.reason, ev.at, ev.last_seen); break;
    case EventKind::online:
    case EventKind::join:
    case EventKind::takeover:
      if (entry) {
        auto c = *entry;
        c.node = self_;
        add(std::move(c), ev.kind, ev.at);
      }
      break;
    default: break;
  }
}

void ClusterView::load(const std::vector<OnlineClient>& list, std::optional<std::chrono::milliseconds> settle) {
  const auto before = log_.last_seq();
  {
    const std::lock_guard lock(mu_);
    load_locked(list, settle);
  }
  if (log_.last_seq() != before) {
    log_.notify();  // outside the lock: wake-ups post to the readers' shards
  }
}

void ClusterView::load_locked(const std::vector<OnlineClient>& list, std::optional<std::chrono::milliseconds> settle) {
  const auto now = std::chrono::system_clock::now();
  if (!loaded_) {
    for (const auto& c : list) {
      online_[c.id].push_back(c);
    }
    loaded_ = true;
    return;
  }
  // What the view lists but Redis does not: gone, or (settle) not written back yet.
  std::unordered_set<std::string> in_redis;
  for (const auto& c : list) {
    in_redis.insert(key_of(c.id, c.node, c.session));
  }
  std::vector<OnlineClient> missing;
  for (const auto& [id, sessions] : online_) {
    for (const auto& c : sessions) {
      if (!in_redis.contains(key_of(c.id, c.node, c.session))) {
        missing.push_back(c);
      }
    }
  }
  for (const auto& c : list) {
    add(c, EventKind::online, now);
  }
  for (const auto& c : missing) {
    if (settle) {
      // Each load restarts the wait: it is counted from the last sign of a Redis restart.
      std::erase_if(settling_, [&](const Settling& s) { return s.id == c.id && same(c, s.node, s.session); });
      settling_.push_back({c.id, c.node, c.session, std::chrono::steady_clock::now() + *settle});
    } else {
      // Its end was in the part of the stream this reader missed (trimmed): the reason is lost with it.
      remove(c.id, c.node, c.session, Reason::closed, now, c.last_seen);
    }
  }
}

void ClusterView::expire_settling() {
  const auto before = log_.last_seq();
  {
    const std::lock_guard lock(mu_);
    expire_locked();
  }
  if (log_.last_seq() != before) {
    log_.notify();  // outside the lock: wake-ups post to the readers' shards
  }
}

void ClusterView::expire_locked() {
  const auto now = std::chrono::steady_clock::now();
  std::vector<Settling> due;
  std::erase_if(settling_, [&](const Settling& s) {
    if (s.until > now) {
      return false;
    }
    due.push_back(s);
    return true;
  });
  for (const auto& s : due) {
    remove(s.id, s.node, s.session, Reason::node_lost, std::chrono::system_clock::now(),
           std::chrono::system_clock::now());
  }
}

}  // namespace lifeline::cluster
