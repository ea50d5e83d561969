#pragma once
/// Presence values as JSON in docs/json.md's vocabulary, one definition for
/// every face that prints them: the admin API's list and event stream, and
/// webhooks. Pure functions: thread-safe.

#include <boost/json.hpp>

#include "lifeline/presence.hpp"

namespace lifeline {

/// One online client: id, online, peer, transport, session, since,
/// last_seen, interval_ms, timeout_ms, labels, and rtt_us once measured.
boost::json::object client_json(const OnlineClient& c);
/// One event as `watch --json` prints it, plus `last_seen` on an offline event.
boost::json::object event_json(const PresenceEvent& e);

}  // namespace lifeline
