#pragma once
// What SUBSCRIBE and LIST read: an online list stamped with the seq of the
// event log that continues it. A server alone reads its registry; a cluster
// node reads the cluster's view (src/cluster/view.hpp), built from Redis.

#include <optional>
#include <string>
#include <string_view>

#include "event_log.hpp"
#include "lifeline/presence.hpp"

namespace lifeline::detail {

class PresenceView {
 public:
  /// The list and the seq of view_log() it reflects, taken together. Thread-safe.
  virtual PresenceSnapshot view_snapshot() const = 0;
  /// One id's entry of that list (with the `multi` policy, its first session). Thread-safe.
  virtual std::optional<OnlineClient> view_find(std::string_view id) const = 0;
  /// The events that follow a snapshot. Thread-safe.
  virtual EventLog& view_log() = 0;
  /// Named when the list is a cluster's ("" alone), and whether it is
  /// degraded (this node's clients live, others' as last seen). Thread-safe.
  virtual std::string view_node() const { return {}; }
  virtual bool view_degraded() const { return false; }

 protected:
  PresenceView() = default;
  ~PresenceView() = default;
  PresenceView(const PresenceView&) = default;
  PresenceView& operator=(const PresenceView&) = default;
};

}  // namespace lifeline::detail
