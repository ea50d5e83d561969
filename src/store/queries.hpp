#pragma once
// Reading the history: one client, the offline ones, a client's sessions in a
// window, and the availability arithmetic (pure, so it is tested alone).

#include <optional>
#include <string_view>
#include <vector>

#include "lifeline/history.hpp"
#include "sqlite.hpp"

namespace lifeline::store {

std::int64_t to_ms(SystemTime t);
SystemTime from_ms(std::int64_t ms);

std::optional<ClientRecord> query_client(const Db& db, std::string_view id);
std::vector<ClientRecord> query_all_clients(const Db& db);
/// The sessions of `id` that overlap [since, until), oldest first, unclipped.
std::vector<SessionRecord> query_sessions(const Db& db, std::string_view id, SystemTime since, SystemTime until);

/// Clips `sessions` to [since, until) (an open one runs to until) and sums
/// them: the online time and availability of the window.
ClientHistory make_history(std::string_view id, SystemTime since, SystemTime until,
                           std::vector<SessionRecord> sessions);

}  // namespace lifeline::store
