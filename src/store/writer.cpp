#include "writer.hpp"

#include "queries.hpp"

namespace lifeline::store {

Writer::Writer(const Db& db)
    : db_(db),
      upsert_client_(db,
                     "INSERT INTO clients (id, first_seen, last_seen, last_peer) VALUES (?1, ?2, ?2, ?3) "
                     "ON CONFLICT (id) DO UPDATE SET last_seen = excluded.last_seen, last_peer = excluded.last_peer"),
      open_session_(db, "INSERT INTO sessions (instance, session, id, peer, since) VALUES (?1, ?2, ?3, ?4, ?5)"),
      add_online_time_(db,
                       "UPDATE clients SET total_online_ms = total_online_ms + COALESCE((SELECT SUM(MAX(0, ?2 - "
                       "since)) FROM sessions WHERE id = ?1 AND until IS NULL), 0) WHERE id = ?1"),
      close_sessions_(db, "UPDATE sessions SET until = MAX(since, ?2), reason = ?3 WHERE id = ?1 AND until IS NULL"),
      offline_client_(db,
                      "UPDATE clients SET last_seen = MAX(last_seen, ?2), last_offline_at = ?3, "
                      "last_offline_reason = ?4 WHERE id = ?1"),
      insert_event_(db,
                    "INSERT OR IGNORE INTO events (instance, seq, kind, at, id, peer, reason) VALUES (?1, ?2, ?3, "
                    "?4, ?5, ?6, ?7)"),
      touch_(db,
             "INSERT INTO meta (key, value) VALUES ('last_write', ?1) ON CONFLICT (key) DO UPDATE SET value = "
             "excluded.value") {}

void Writer::close_open(const std::string& id, std::int64_t at, std::string_view reason) {
  add_online_time_.bind(1, id).bind(2, at);
  add_online_time_.run();
  close_sessions_.bind(1, id).bind(2, at).bind(3, reason);
  close_sessions_.run();
}

void Writer::apply(const PresenceEvent& e) {
  if (e.kind == EventKind::gap) {
    return;  // nothing to record: the next events carry on
  }
  const auto at = to_ms(e.at);
  insert_event_.bind(1, instance_text(e.instance))
      .bind(2, static_cast<std::int64_t>(e.seq))
      .bind(3, proto::to_string(e.kind));
  insert_event_.bind(4, at).bind(5, e.id).bind(6, e.remote);
  if (e.kind == EventKind::offline || e.kind == EventKind::leave) {
    insert_event_.bind(7, proto::to_string(e.reason));
  }
  insert_event_.run();
  if (e.kind == EventKind::join || e.kind == EventKind::leave) {
    return;  // `multi`: the id's online period runs from `online` to `offline`
  }
  if (e.kind == EventKind::offline) {
    close_open(e.id, at, proto::to_string(e.reason));
    offline_client_.bind(1, e.id).bind(2, to_ms(e.last_seen)).bind(3, at).bind(4, proto::to_string(e.reason));
    offline_client_.run();
    return;
  }
  if (e.kind == EventKind::takeover) {
    close_open(e.id, at, "replaced");  // the id stays online: a new session starts at the same instant
  }
  upsert_client_.bind(1, e.id).bind(2, at).bind(3, e.remote);
  upsert_client_.run();
  open_session_.bind(1, instance_text(e.instance)).bind(2, static_cast<std::int64_t>(e.session)).bind(3, e.id);
  open_session_.bind(4, e.remote).bind(5, at);
  open_session_.run();
}

void Writer::write(const std::vector<PresenceEvent>& events, SystemTime now) {
  Transaction t(db_);
  for (const auto& e : events) {
    apply(e);
  }
  touch_.bind(1, to_ms(now));
  touch_.run();
  t.commit();
}

void Writer::touch(SystemTime now) {
  touch_.bind(1, to_ms(now));
  touch_.run();
}

int Writer::close_lost_sessions() {
  Stmt last(db_, "SELECT value FROM meta WHERE key = 'last_write'");
  const auto lw = last.step() ? last.i64(0) : to_ms(std::chrono::system_clock::now());
  Stmt ids(db_, "SELECT DISTINCT id FROM sessions WHERE until IS NULL");
  std::vector<std::string> open;
  while (ids.step()) {
    open.push_back(ids.text(0));
  }
  Transaction t(db_);
  for (const auto& id : open) {
    close_open(id, lw, "server_lost");
    offline_client_.bind(1, id).bind(2, lw).bind(3, lw).bind(4, "server_lost");
    offline_client_.run();
  }
  t.commit();
  return static_cast<int>(open.size());
}

void Writer::prune(SystemTime cutoff) {
  Stmt events(db_, "DELETE FROM events WHERE at < ?1");
  events.bind(1, to_ms(cutoff));
  events.run();
  Stmt sessions(db_, "DELETE FROM sessions WHERE until IS NOT NULL AND until < ?1");
  sessions.bind(1, to_ms(cutoff));
  sessions.run();
}

}  // namespace lifeline::store
