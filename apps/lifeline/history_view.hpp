#pragma once
// The history as lifeline shows it: the JSON of GET /v1/clients/{id}/history
// and `lifeline history --json` (one shape for both), and its /metrics series.

#include <boost/json.hpp>
#include <optional>
#include <string>

#include "lifeline/admin.hpp"
#include "lifeline/history.hpp"

namespace lifeline::app {

/// {"v":1,"id",...,"since","until","online_ms","availability","sessions":[...]} plus the client's record.
boost::json::object history_json(const ClientRecord& client, const ClientHistory& h);
/// An offline client of the history, as the admin API lists it.
KnownClient known_client(const ClientRecord& c);
/// lifeline_history_* series for /metrics.
void append_history_metrics(std::string& out, const HistoryStats& s);

}  // namespace lifeline::app
