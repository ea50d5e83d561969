#pragma once
// The cluster's records in Redis, to and from C++: a session entry (JSON, in
// the online hash and in stream events) and a stream event (field/value
// pairs). docs/cluster.md "Data layout" spells both.

#include <optional>
#include <string>
#include <vector>

#include "lifeline/presence.hpp"
#include "redis.hpp"
#include "view.hpp"

namespace lifeline::cluster {

/// {"id","node","s" (text: 64 bits),"rem","t","since","iv","to","rtt","lab":[[k,v],...]}
std::string entry_json(const OnlineClient& c, const std::string& node);
/// Nullopt if `raw` is not such an entry.
std::optional<OnlineClient> parse_entry(const std::string& raw);
/// The JSON array of one id's entries (the online hash's value), appended to
/// `out`; returns how many were read.
std::size_t parse_entry_list(const std::string& raw, std::vector<OnlineClient>& out);
/// A stream entry's field/value array; nullopt if it lacks what every event has.
std::optional<StreamEvent> parse_stream_event(const Reply& fields);
std::int64_t unix_ms(std::chrono::system_clock::time_point t);

}  // namespace lifeline::cluster
