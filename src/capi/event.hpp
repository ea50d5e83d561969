#pragma once
// ll_event: one event as the C ABI hands it out, a plain value built on a
// library thread from the C++ API's types and read by the host through the
// ll_event_* accessors (so fields can be added without breaking the ABI).
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "lifeline/client.hpp"
#include "lifeline/cluster.hpp"
#include "lifeline/lifeline.h"
#include "lifeline/presence.hpp"

/// One entry of an LL_EVENT_LIST.
struct ll_list_entry {
  std::string id;
  std::string remote;
  std::string labels;  // "key=value" lines
  std::string transport;
  std::string node;
  std::int64_t session = 0;
  std::int64_t since_ms = 0;
  std::int64_t last_seen_ms = 0;
  std::int64_t rtt_us = 0;
  std::int64_t interval_ms = 0;
  std::int64_t timeout_ms = 0;
};

struct ll_event {
  int type = 0;
  /// Lent to a callback: ll_event_free leaves it alone (the library frees it).
  bool borrowed = false;
  std::string id;
  std::string remote;
  std::string kind;
  std::string reason;
  std::string server;
  std::string data;
  std::string instance_text;
  std::string node;
  std::uint64_t instance = 0;
  std::int64_t state = 0;
  std::int64_t previous_state = 0;
  std::int64_t seq = 0;
  std::int64_t session = 0;
  std::int64_t at_ms = 0;
  std::int64_t last_seen_ms = 0;
  std::int64_t interval_ms = 0;
  std::int64_t timeout_ms = 0;
  std::int64_t count = 0;
  std::int64_t online = 0;
  std::int64_t request_id = 0;
  std::int64_t attempts = 0;
  std::int64_t degraded = 0;
  std::vector<ll_list_entry> entries;
};

namespace lifeline::capi {

using EventPtr = std::unique_ptr<ll_event>;

EventPtr state_event(const StateChange& change);
EventPtr data_event(std::string_view from_id, std::string_view payload);
EventPtr presence_event(const proto::Event& e);
EventPtr presence_event(const PresenceEvent& e);
EventPtr overflow_event(std::uint64_t dropped);
/// A client's list, from the LIST_REPLY frames of one reply.
EventPtr list_event(const OnlineList& list, std::uint32_t request_id);
/// The list a server shows its readers (Server::view_snapshot(): on a cluster
/// node the cluster's), answered by `status`'s node.
EventPtr list_event(const PresenceSnapshot& snapshot, const ClusterStatus& status);

}  // namespace lifeline::capi
