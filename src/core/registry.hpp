#pragma once
// The presence registry: the one place that knows which id is online on which
// session, and the source of numbered presence events. Thread-safe: every I/O
// thread claims and releases here; any thread may read a snapshot.

#include <atomic>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "lifeline/presence.hpp"

namespace lifeline::detail {

/// Lives inside the owning session, which writes it (relaxed stores: a
/// heartbeat costs one store, to a line the session has just used); read by
/// snapshots on any thread, under the registry's lock.
struct SessionStats {
  std::atomic<std::int64_t> last_rx_ns{0};  ///< steady clock, ns since epoch
  std::atomic<std::uint32_t> rtt_us{0};
};

struct Registration {
  std::string id;
  std::string remote;
  std::vector<Label> labels;
  Heartbeat heartbeat{};
  std::uint64_t session = 0;
  std::uint32_t shard = 0;
  /// The session's stats, or null. The session must outlive its registration:
  /// it stays valid until that session's release(), or until another session
  /// takes the id over (both under the registry's lock).
  const SessionStats* stats = nullptr;
};

struct SessionAddress {
  std::uint32_t shard = 0;
  std::uint64_t session = 0;
};

class Registry {
 public:
  using Sink = std::function<void(const PresenceEvent&)>;

  struct ClaimResult {
    bool accepted = false;
    std::optional<SessionAddress> displaced;  ///< the session to close as `replaced`
  };

  /// Puts `r` online. If its id is online already: with `takeover` the old
  /// session is displaced (event `takeover`, no offline); with `reject` the
  /// claim fails and nothing changes.
  ClaimResult claim(Registration r, DuplicatePolicy policy);

  /// Takes `id` offline if `session` still holds it; emits one `offline` event.
  /// Returns false (and emits nothing) if another session took the id over.
  bool release(std::string_view id, std::uint64_t session, Reason reason);

  std::size_t count() const { return count_.load(std::memory_order_relaxed); }
  std::vector<OnlineClient> snapshot() const;
  std::optional<OnlineClient> find(std::string_view id) const;
  std::optional<SessionAddress> address_of(std::string_view id) const;

  /// Sinks are called in `seq` order, one at a time, on the thread that caused
  /// the event (or one delivering on its behalf). A sink may read the registry
  /// and cause further events; it must not block, and must not call
  /// subscribe() or unsubscribe() (delivery holds the lock they take).
  std::uint64_t subscribe(Sink sink);
  void unsubscribe(std::uint64_t token);

 private:
  struct Entry {
    Registration reg;
    std::chrono::system_clock::time_point since;
  };
  static OnlineClient view(const Entry& e);
  void push_event(EventKind kind, Reason reason, const Registration& reg);  // mu_ held
  void deliver();

  mutable std::mutex mu_;
  std::unordered_map<std::string, Entry> online_;
  std::deque<PresenceEvent> pending_;
  std::uint64_t seq_ = 0;
  std::atomic<std::size_t> count_{0};

  std::mutex deliver_mu_;  // serializes delivery; sinks_ is guarded by it
  std::map<std::uint64_t, Sink> sinks_;
  std::uint64_t next_token_ = 1;
};

}  // namespace lifeline::detail
