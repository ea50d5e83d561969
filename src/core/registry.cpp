#include "registry.hpp"

#include <algorithm>

namespace lifeline::detail {
namespace {
// The registry this thread is delivering for, so an event raised from inside
// one of its sinks is queued and delivered by the outer loop instead of
// re-entering. Per registry: a sink may cause events on another registry.
thread_local const Registry* t_delivering = nullptr;

// Marks this thread as delivering for `r`, restoring the previous mark on
// scope exit even if a sink throws.
class DeliveringMark {
 public:
  explicit DeliveringMark(const Registry* r) : previous_(t_delivering) { t_delivering = r; }
  DeliveringMark(const DeliveringMark&) = delete;
  DeliveringMark& operator=(const DeliveringMark&) = delete;
  ~DeliveringMark() { t_delivering = previous_; }

 private:
  const Registry* previous_;
};
}  // namespace

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
  deliver();
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
  deliver();
  return true;
}

void Registry::push_event(EventKind kind, Reason reason, const Registration& reg) {
  pending_.push_back(
      PresenceEvent{++seq_, kind, reason, std::chrono::system_clock::now(), reg.id, reg.remote, reg.session});
}

OnlineClient Registry::view(const Entry& e) {
  OnlineClient c;
  c.id = e.reg.id;
  c.remote = e.reg.remote;
  c.session = e.reg.session;
  c.since = e.since;
  c.heartbeat = e.reg.heartbeat;
  c.labels = e.reg.labels;
  if (e.reg.stats != nullptr) {
    // last_rx is on the steady clock; express it on the wall clock via "how long ago".
    const auto rx = std::chrono::steady_clock::time_point(
        std::chrono::nanoseconds(e.reg.stats->last_rx_ns.load(std::memory_order_relaxed)));
    const auto ago = std::chrono::steady_clock::now() - rx;
    c.last_seen =
        std::chrono::system_clock::now() - std::chrono::duration_cast<std::chrono::system_clock::duration>(ago);
    c.rtt = std::chrono::microseconds(e.reg.stats->rtt_us.load(std::memory_order_relaxed));
  }
  return c;
}

std::vector<OnlineClient> Registry::snapshot() const {
  const std::lock_guard lock(mu_);
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

std::uint64_t Registry::subscribe(Sink sink) {
  const std::lock_guard lock(deliver_mu_);
  const auto token = next_token_++;
  sinks_.emplace(token, std::move(sink));
  return token;
}

void Registry::unsubscribe(std::uint64_t token) {
  const std::lock_guard lock(deliver_mu_);
  sinks_.erase(token);
}

void Registry::deliver() {
  if (t_delivering == this) {
    return;  // the loop below, further up this thread's stack, will deliver it
  }
  for (;;) {
    std::unique_lock delivering(deliver_mu_, std::try_to_lock);
    if (!delivering) {
      return;  // another thread is delivering and re-checks the queue before it leaves
    }
    {
      const DeliveringMark mark(this);
      for (;;) {
        PresenceEvent ev;
        {
          const std::lock_guard lock(mu_);
          if (pending_.empty()) {
            break;
          }
          ev = std::move(pending_.front());
          pending_.pop_front();
        }
        for (auto& [token, sink] : sinks_) {
          sink(ev);
        }
      }
    }
    delivering.unlock();
    const std::lock_guard lock(mu_);
    if (pending_.empty()) {
      return;
    }
  }
}

}  // namespace lifeline::detail
