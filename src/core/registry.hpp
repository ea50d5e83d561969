#pragma once
// The presence registry: the one place that knows which id is online on which
// session, and the writer of the presence event log. Thread-safe: every I/O
// thread claims and releases here; any thread may read a snapshot or the log.

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "event_log.hpp"
#include "lifeline/presence.hpp"
#include "presence_view.hpp"

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
  Transport transport = Transport::tcp;
  /// The session's stats, or null. The session must outlive its registration:
  /// it stays valid until that session's release(), or until another session
  /// takes the id over (both under the registry's lock).
  const SessionStats* stats = nullptr;
};

struct SessionAddress {
  std::uint32_t shard = 0;
  std::uint64_t session = 0;
};

class Registry final : public PresenceView {
 public:
  /// `instance` names this server run in every event; the log keeps the
  /// newest `event_buffer` events for readers that resume.
  Registry(std::uint64_t instance, std::size_t event_buffer) : log_(instance, event_buffer) {}

  struct ClaimResult {
    bool accepted = false;
    std::optional<SessionAddress> displaced;  ///< the session to close as `replaced`
    std::size_t sessions = 0;                 ///< refused: how many sessions the id holds
  };

  /// Puts `r` online. If its id is online already: with `takeover` the old
  /// session is displaced (event `takeover`, no offline); with `reject` the
  /// claim fails and nothing changes; with `multi` the session joins the id's
  /// others (event `join`) unless the id holds `max_sessions` already.
  ClaimResult claim(Registration r, DuplicatePolicy policy, std::size_t max_sessions = 1);

  /// Releases `session`'s hold on `id`: emits `offline` if it was the id's
  /// last session, `leave` if others remain. Returns false (and emits
  /// nothing) if the session no longer holds the id (it was taken over).
  bool release(std::string_view id, std::uint64_t session, Reason reason);

  std::size_t count() const { return count_.load(std::memory_order_relaxed); }
  std::vector<OnlineClient> snapshot() const;
  /// The list and the seq it reflects, taken together.
  PresenceSnapshot stamped_snapshot() const;
  /// The id's first session, or nullopt if it is offline.
  std::optional<OnlineClient> find(std::string_view id) const;
  /// One session of the id, or nullopt if it no longer holds the id.
  std::optional<OnlineClient> find_session(std::string_view id, std::uint64_t session) const;
  /// Every session of the id (several only under `multi`), oldest first.
  std::vector<SessionAddress> addresses_of(std::string_view id) const;
  /// Sessions online (ids under `multi` may hold several; count() counts ids).
  std::size_t session_count() const { return sessions_.load(std::memory_order_relaxed); }

  /// Every claim and release appends to this log (under the registry's
  /// lock, so seqs follow the order of the changes) and then wakes its readers.
  EventLog& log() { return log_; }
  const EventLog& log() const { return log_; }

  PresenceSnapshot view_snapshot() const override { return stamped_snapshot(); }
  std::optional<OnlineClient> view_find(std::string_view id) const override { return find(id); }
  EventLog& view_log() override { return log_; }

 private:
  struct Member {
    Registration reg;
    std::chrono::system_clock::time_point since;
  };
  // An online id: its first session inline, further ones (`multi`) beside
  // it. `more` is a pointer, null but under `multi`: every online id pays 8
  // bytes for it, not a vector's 24.
  struct Entry {
    Member first;
    std::unique_ptr<std::vector<Member>> more;
    std::size_t extra() const { return more ? more->size() : 0; }
  };
  static OnlineClient view(const Member& m);
  /// The wall-clock time of the session's last received byte (now if unknown).
  static std::chrono::system_clock::time_point last_seen_of(const Registration& reg,
                                                            std::chrono::system_clock::time_point now);
  std::vector<OnlineClient> sorted_view() const;                            // mu_ held
  void push_event(EventKind kind, Reason reason, const Registration& reg);  // mu_ held
  void publish_counts();                                                    // mu_ held

  mutable std::mutex mu_;
  std::unordered_map<std::string, Entry> online_;
  std::atomic<std::size_t> count_{0};
  std::atomic<std::size_t> sessions_{0};
  std::size_t session_total_ = 0;  // mu_ held
  EventLog log_;
};

}  // namespace lifeline::detail
