#pragma once
/// Presence value types shared by the server API and the registry: one
/// online client, one presence event. Plain values, safe to copy across threads.

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>
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
  /// The id may hold several sessions at once (tabs, devices), up to
  /// ServerOptions::max_sessions_per_id: it is online while one is. Events:
  /// `online` for the first session, `join` for each further one, `leave`
  /// when one of several ends, `offline` when the last one ends.
  multi,
};

/// How a client reaches the server (the wire's TransportCode, version 3).
using Transport = proto::TransportCode;

/// "tcp", "tls", "ws" or "wss", as lists, events and JSON output name it.
constexpr const char* transport_name(Transport t) {
  switch (t) {
    case Transport::tls: return "tls";
    case Transport::ws: return "ws";
    case Transport::wss: return "wss";
    case Transport::tcp: break;
  }
  return "tcp";
}

/// The Transport named by transport_name(), or tcp for any other text.
constexpr Transport transport_from_name(std::string_view name) {
  return name == "tls"   ? Transport::tls
         : name == "ws"  ? Transport::ws
         : name == "wss" ? Transport::wss
                         : Transport::tcp;
}

/// One entry of the online list, as seen at the moment it was taken.
struct OnlineClient {
  std::string id;
  std::string remote;  ///< "host:port" of the connection
  std::uint64_t session = 0;
  Transport transport = Transport::tcp;
  std::chrono::system_clock::time_point since;
  std::chrono::system_clock::time_point last_seen;  ///< last byte received
  std::chrono::microseconds rtt{0};                 ///< 0 until measured
  Heartbeat heartbeat{};
  std::vector<Label> labels;
  /// The cluster node holding the session (ServerOptions::cluster); empty on a server alone.
  std::string node;
};

/// One presence change. `seq` is server-wide and strictly increasing within
/// one server run (`instance`); there is exactly one event per transition. A
/// reader that fell behind the server's replay buffer gets one event of kind
/// `gap` instead of what it missed: every event up to and including its `seq`
/// is lost to that reader (id and remote are empty).
struct PresenceEvent {
  std::uint64_t seq = 0;
  EventKind kind = EventKind::online;
  Reason reason = Reason::none;  ///< for offline events
  std::chrono::system_clock::time_point at;
  /// On `offline`: when the server last received a byte from the session (so
  /// `at - last_seen` is the detection delay of a timeout); else equal to `at`.
  std::chrono::system_clock::time_point last_seen;
  std::string id;
  std::string remote;
  std::uint64_t session = 0;
  std::uint64_t instance = 0;  ///< the server run that numbered it
  Transport transport = Transport::tcp;
  /// The cluster node of the session (ServerOptions::cluster); empty on a server alone.
  std::string node;
};

/// A server run's id as text and JSON show it: 16 hex digits (a JSON number
/// would lose the low bits of a 64-bit value).
std::string instance_text(std::uint64_t instance);

/// The online list as of one point of the event stream: every event up to
/// `seq` is reflected in it, none after.
struct PresenceSnapshot {
  std::uint64_t instance = 0;
  std::uint64_t seq = 0;
  std::vector<OnlineClient> clients;  ///< sorted by id
};

}  // namespace lifeline
