#pragma once
// The JSON the admin API answers with, in docs/json.md's vocabulary: one
// online client, one known offline client, one presence event, a list page.
// Pure functions: thread-safe.

#include <boost/json.hpp>

#include "lifeline/admin.hpp"
#include "lifeline/presence.hpp"

namespace lifeline::admin {

boost::json::object client_json(const OnlineClient& c);
boost::json::object known_json(const KnownClient& c);
/// As `watch --json` prints it, plus `last_seen` on an offline event.
boost::json::object event_json(const PresenceEvent& e);

}  // namespace lifeline::admin
