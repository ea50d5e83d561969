#pragma once
/// Presence value types shared by the server API and the registry: one
/// online client, one presence event. Plain values, safe to copy across threads.

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

#include "lifeline/heartbeat.hpp"
#include "lifeline/protocol.hpp"

namespace lifeline {

// The wire protocol's types under the names the server API uses: aliases
// declared here (part of this header's API), not an import of namespace proto.
using EventKind = proto::EventKind;
using Label = proto::Label;
using Reason = proto::Reason;

/// What happens when a client connects with an id that is already online.
enum class DuplicatePolicy {
  takeover,  ///< the old connection is closed with reason `replaced`; the id stays online
  reject,    ///< the newcomer gets ERROR `rejected`
};

/// One entry of the online list, as seen at the moment it was taken.
struct OnlineClient {
  std::string id;
  std::string remote;  ///< "host:port" of the connection
  std::uint64_t session = 0;
  std::chrono::system_clock::time_point since;
  std::chrono::system_clock::time_point last_seen;  ///< last byte received
  std::chrono::microseconds rtt{0};                 ///< 0 until measured
  Heartbeat heartbeat{};
  std::vector<Label> labels;
};

/// One presence change. `seq` is server-wide and strictly increasing; there is
/// exactly one event per transition.
struct PresenceEvent {
  std::uint64_t seq = 0;
  EventKind kind = EventKind::online;
  Reason reason = Reason::none;  ///< for offline events
  std::chrono::system_clock::time_point at;
  std::string id;
  std::string remote;
  std::uint64_t session = 0;
};

}  // namespace lifeline
