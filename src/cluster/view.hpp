#pragma once
// The cluster's online list as this node knows it, and the event log that
// continues it: what LIST and SUBSCRIBE read on a cluster node. The stream
// reader (reader.cpp) applies the cluster's Redis stream to it; while Redis is
// unreachable the writer (node.cpp) applies this node's own changes instead.
//
// It is also where duplicates die: an entry for a session it lists already,
// or the end of one it does not list, changes nothing and emits nothing. So
// replays after an outage (and a node writing its sessions back into a Redis
// restarted empty) reach readers only as the changes they really are.
//
// Thread-safe.

#include <chrono>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "presence_view.hpp"
#include "registry.hpp"

namespace lifeline::cluster {

/// One entry of the cluster's Redis stream, decoded (docs/cluster.md "Events").
struct StreamEvent {
  std::string kind;  ///< online, offline, takeover, join, leave, moved, resumed
  Reason reason = Reason::none;
  OnlineClient entry;  ///< id, node, session, remote, transport always; the rest with an entry
  std::chrono::system_clock::time_point at;
  std::chrono::system_clock::time_point last_seen;
  std::string prev_node;  ///< takeover, moved, resumed: where the id's previous session was
  std::uint64_t prev_session = 0;
};

class ClusterView final : public detail::PresenceView {
 public:
  /// `local`: this node's registry, whose live last_seen and rtt the list
  /// shows for this node's own entries (others' are as of their start).
  ClusterView(std::string self, const detail::Registry& local, std::uint64_t instance, std::size_t event_buffer);

  PresenceSnapshot view_snapshot() const override;
  std::optional<OnlineClient> view_find(std::string_view id) const override;
  detail::EventLog& view_log() override { return log_; }
  std::string view_node() const override { return self_; }
  bool view_degraded() const override;

  /// One entry of the stream, in stream order.
  void apply(const StreamEvent& ev);
  /// The whole list from Redis. The first load is silent; later ones emit the
  /// differences: an entry missing from `list` goes offline `closed` (its end
  /// was in stream entries this reader missed). With `settle` (Redis lost its
  /// data), such an entry stays until `settle` has passed, so that its node
  /// can write it back; one still missing then goes offline `node_lost`.
  void load(const std::vector<OnlineClient>& list, std::optional<std::chrono::milliseconds> settle);
  /// Ends the entries held back by load() whose time is up.
  void expire_settling();
  /// This node's own change while Redis is unreachable.
  void apply_local(const PresenceEvent& ev, const std::optional<OnlineClient>& entry);
  void set_degraded(bool degraded);
  std::size_t count() const;

 private:
  using Sessions = std::vector<OnlineClient>;
  // The public verbs lock, call these, then wake the log's readers.
  void apply_locked(const StreamEvent& ev);
  void apply_local_locked(const PresenceEvent& ev, const std::optional<OnlineClient>& entry);
  void load_locked(const std::vector<OnlineClient>& list, std::optional<std::chrono::milliseconds> settle);
  void expire_locked();
  bool add(OnlineClient c, EventKind kind, std::chrono::system_clock::time_point at);  // mu_ held
  bool remove(const std::string& id, const std::string& node, std::uint64_t session, Reason reason,
              std::chrono::system_clock::time_point at, std::chrono::system_clock::time_point last_seen);  // mu_ held
  void emit(EventKind kind, Reason reason, const OnlineClient& c, std::chrono::system_clock::time_point at,
            std::chrono::system_clock::time_point last_seen);  // mu_ held

  const std::string self_;
  const detail::Registry& local_;
  mutable std::mutex mu_;
  std::map<std::string, Sessions> online_;
  struct Settling {
    std::string id;
    std::string node;
    std::uint64_t session = 0;
    std::chrono::steady_clock::time_point until;
  };
  std::vector<Settling> settling_;
  bool loaded_ = false;
  bool degraded_ = true;  // until the first load
  detail::EventLog log_;
};

}  // namespace lifeline::cluster
