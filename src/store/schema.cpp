#include "schema.hpp"

#include "lifeline/history.hpp"

namespace lifeline::store {

const char* const kSchemaV1 = R"(
CREATE TABLE clients (id TEXT PRIMARY KEY, first_seen INTEGER NOT NULL, last_seen INTEGER NOT NULL,
                      last_offline_at INTEGER, last_offline_reason TEXT, last_peer TEXT);
CREATE TABLE sessions (instance TEXT NOT NULL, session INTEGER NOT NULL, id TEXT NOT NULL, peer TEXT,
                       since INTEGER NOT NULL, until INTEGER, reason TEXT);
CREATE INDEX sessions_by_id ON sessions (id, since);
CREATE TABLE meta (key TEXT PRIMARY KEY, value INTEGER);
PRAGMA user_version = 1;
)";

namespace {
// Version 2: a client's total online time, and the event log itself.
const char* const kV1ToV2 = R"(
ALTER TABLE clients ADD COLUMN total_online_ms INTEGER NOT NULL DEFAULT 0;
UPDATE clients SET total_online_ms = COALESCE((SELECT SUM(until - since) FROM sessions
    WHERE sessions.id = clients.id AND until IS NOT NULL), 0);
CREATE TABLE events (instance TEXT NOT NULL, seq INTEGER NOT NULL, kind TEXT NOT NULL, at INTEGER NOT NULL,
                     id TEXT, peer TEXT, reason TEXT, PRIMARY KEY (instance, seq));
CREATE INDEX events_by_time ON events (at);
CREATE INDEX sessions_open ON sessions (until) WHERE until IS NULL;
PRAGMA user_version = 2;
)";
}  // namespace

void migrate(const Db& db) {
  const int version = db.user_version();
  if (version > kHistorySchema) {
    throw SqliteError(db.path() + " has schema version " + std::to_string(version) + ", newer than this lifeline's " +
                      std::to_string(kHistorySchema) + ": use a newer lifeline, or another --data-dir");
  }
  if (version == kHistorySchema) {
    return;
  }
  Transaction t(db);
  if (version == 0) {
    db.exec(kSchemaV1);
  }
  db.exec(kV1ToV2);
  t.commit();
}

}  // namespace lifeline::store
