#pragma once
// The JSON of a known offline client, as the admin API answers (online
// clients and events: lifeline/presence_json.hpp).
// Pure functions: thread-safe.

#include <boost/json.hpp>

#include "lifeline/admin.hpp"
#include "lifeline/presence.hpp"
#include "lifeline/presence_json.hpp"

namespace lifeline::admin {

boost::json::object known_json(const KnownClient& c);

}  // namespace lifeline::admin
