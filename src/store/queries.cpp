#include "queries.hpp"

#include <algorithm>

namespace lifeline::store {

std::int64_t to_ms(SystemTime t) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(t.time_since_epoch()).count();
}
SystemTime from_ms(std::int64_t ms) { return SystemTime(std::chrono::milliseconds(ms)); }

namespace {
constexpr const char* kClientColumns =
    "SELECT id, first_seen, last_seen, last_offline_at, last_offline_reason, last_peer, total_online_ms, "
    "EXISTS (SELECT 1 FROM sessions s WHERE s.id = clients.id AND s.until IS NULL) FROM clients";

ClientRecord client_row(const Stmt& s) {
  ClientRecord c;
  c.id = s.text(0);
  c.first_seen = from_ms(s.i64(1));
  c.last_seen = from_ms(s.i64(2));
  if (const auto at = s.opt_i64(3)) {
    c.last_offline_at = from_ms(*at);
  }
  c.last_offline_reason = s.text(4);
  c.last_peer = s.text(5);
  c.total_online = std::chrono::milliseconds(s.i64(6));
  c.online = s.i64(7) != 0;
  return c;
}
}  // namespace

std::optional<ClientRecord> query_client(const Db& db, std::string_view id) {
  Stmt s(db, (std::string(kClientColumns) + " WHERE id = ?").c_str());
  s.bind(1, id);
  if (!s.step()) {
    return std::nullopt;
  }
  return client_row(s);
}

std::vector<ClientRecord> query_all_clients(const Db& db) {
  Stmt s(db, (std::string(kClientColumns) + " ORDER BY id").c_str());
  std::vector<ClientRecord> out;
  while (s.step()) {
    out.push_back(client_row(s));
  }
  return out;
}

std::vector<SessionRecord> query_sessions(const Db& db, std::string_view id, SystemTime since, SystemTime until) {
  Stmt s(db,
         "SELECT peer, since, until, reason FROM sessions WHERE id = ?1 AND since < ?3 AND (until IS NULL OR "
         "until > ?2) ORDER BY since");
  s.bind(1, id).bind(2, to_ms(since)).bind(3, to_ms(until));
  std::vector<SessionRecord> out;
  while (s.step()) {
    SessionRecord r{s.text(0), from_ms(s.i64(1)), std::nullopt, s.text(3)};
    if (const auto u = s.opt_i64(2)) {
      r.until = from_ms(*u);
    }
    out.push_back(std::move(r));
  }
  return out;
}

ClientHistory make_history(std::string_view id, SystemTime since, SystemTime until,
                           std::vector<SessionRecord> sessions) {
  ClientHistory h{std::string(id), since, until, {}, std::chrono::milliseconds(0), 0};
  SystemTime covered = since;  // the end of what is counted already: overlaps count once
  for (auto& s : sessions) {
    const auto start = std::max(s.since, since);
    const auto end = std::min(s.until.value_or(until), until);
    // A session of no length (online and shut down in the same millisecond) is
    // listed if it lies in the window; it adds nothing to the online time.
    if (end < start || (end == start && (s.since < since || s.since >= until))) {
      continue;
    }
    const auto from = std::max(start, covered);
    if (end > from) {
      h.online += std::chrono::duration_cast<std::chrono::milliseconds>(end - from);
      covered = end;
    }
    h.sessions.push_back(std::move(s));
  }
  const auto window = std::chrono::duration_cast<std::chrono::milliseconds>(until - since);
  h.availability = window.count() > 0 ? static_cast<double>(h.online.count()) / static_cast<double>(window.count()) : 0;
  return h;
}

}  // namespace lifeline::store
