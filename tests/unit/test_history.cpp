// The history store: availability arithmetic, sessions across takeovers and
// a killed run, schema migration and refusal, and degrading to memory.

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "lifeline/history.hpp"
#include "queries.hpp"
#include "schema.hpp"
#include "sqlite.hpp"

namespace lifeline {
namespace {
using namespace std::chrono_literals;
namespace fs = std::filesystem;

const SystemTime kT0{std::chrono::milliseconds(1'764'000'000'000)};

struct TempDir {
  fs::path path;
  TempDir() {
    char tmpl[] = "/tmp/lifeline-history-XXXXXX";
    path = ::mkdtemp(tmpl);
  }
  ~TempDir() { fs::remove_all(path); }
};

PresenceEvent event(EventKind kind, std::uint64_t seq, SystemTime at, std::string id, Reason reason = Reason::none) {
  PresenceEvent e;
  e.seq = seq;
  e.kind = kind;
  e.reason = reason;
  e.at = at;
  e.last_seen = at - (kind == EventKind::offline ? 300ms : 0ms);
  e.id = std::move(id);
  e.remote = "127.0.0.1:4000";
  e.session = seq;
  e.instance = 0xabcdef;
  return e;
}

HistoryOptions options(const fs::path& dir) {
  HistoryOptions o;
  o.data_dir = dir;
  o.flush_interval = 10ms;
  o.retention = std::chrono::hours(24 * 3650);  // kT0 is in 2025: keep it
  return o;
}

TEST(HistoryArithmetic, ClipsSessionsToTheWindowAndCountsOverlapsOnce) {
  std::vector<SessionRecord> s{{"p", kT0 - 10min, kT0 + 5min, "timeout"},  // clipped at the start
                               {"p", kT0 + 20min, kT0 + 30min, "replaced"},
                               {"p", kT0 + 30min, std::nullopt, ""}};  // open: runs to the window's end
  const auto h = store::make_history("a", kT0, kT0 + 60min, s);
  EXPECT_EQ(h.online, std::chrono::milliseconds(45min));
  EXPECT_DOUBLE_EQ(h.availability, 0.75);
  EXPECT_EQ(h.sessions.size(), 3U);
  const auto none = store::make_history("a", kT0 + 6min, kT0 + 19min, s);
  EXPECT_EQ(none.online.count(), 0);
  EXPECT_TRUE(none.sessions.empty());
  std::vector<SessionRecord> overlapping{{"p", kT0, kT0 + 10min, "x"}, {"p", kT0 + 5min, kT0 + 15min, "y"}};
  EXPECT_EQ(store::make_history("a", kT0, kT0 + 20min, overlapping).online, std::chrono::milliseconds(15min));
}

TEST(HistoryStore, RecordsSessionsAcrossTakeoverAndOffline) {
  TempDir dir;
  {
    HistoryStore store(options(dir.path));
    store.record(event(EventKind::online, 1, kT0, "a"));
    store.record(event(EventKind::takeover, 2, kT0 + 10min, "a"));
    store.record(event(EventKind::offline, 3, kT0 + 30min, "a", Reason::timeout));
    store.flush();
    const auto h = store.history("a", kT0, kT0 + 60min);
    ASSERT_TRUE(h);
    EXPECT_EQ(h->online, std::chrono::milliseconds(30min));  // the takeover keeps it online
    ASSERT_EQ(h->sessions.size(), 2U);
    EXPECT_EQ(h->sessions[0].reason, "replaced");
    EXPECT_EQ(h->sessions[1].reason, "timeout");
    const auto c = store.client("a");
    ASSERT_TRUE(c);
    EXPECT_FALSE(c->online);
    EXPECT_EQ(c->last_offline_reason, "timeout");
    EXPECT_EQ(c->last_seen, kT0 + 30min - 300ms);
    EXPECT_EQ(store.stats().events_written, 3U);
    EXPECT_FALSE(store.history("nobody", kT0, kT0 + 1min));
  }
  const HistoryReader reader(dir.path);  // what a restart, or `lifeline history`, sees
  const auto c = reader.client("a");
  ASSERT_TRUE(c);
  EXPECT_EQ(c->total_online, std::chrono::milliseconds(30min));
  EXPECT_EQ(reader.history("a", kT0, kT0 + 60min)->sessions.size(), 2U);
}

TEST(HistoryStore, ClosesWhatAKilledRunLeftOpenAsServerLost) {
  TempDir dir;
  {
    store::Db db(history_file(dir.path).string(), false);
    store::migrate(db);
    db.exec(
        "INSERT INTO clients (id, first_seen, last_seen) VALUES ('a', 1764000000000, 1764000000000);"
        "INSERT INTO sessions (instance, session, id, peer, since) VALUES ('x', 1, 'a', 'p', 1764000000000);"
        "INSERT INTO meta (key, value) VALUES ('last_write', 1764000600000);");  // killed 10 min later
  }
  HistoryStore store(options(dir.path));
  const auto h = store.history("a", kT0, kT0 + 20min);
  ASSERT_TRUE(h);
  ASSERT_EQ(h->sessions.size(), 1U);
  EXPECT_EQ(h->sessions[0].reason, "server_lost");
  EXPECT_EQ(h->sessions[0].until, kT0 + 10min);
  EXPECT_DOUBLE_EQ(h->availability, 0.5);
  EXPECT_EQ(store.client("a")->last_offline_reason, "server_lost");
}

TEST(HistoryStore, RetentionDeletesOldSessionsButKeepsTheClient) {
  TempDir dir;
  {
    HistoryStore store(options(dir.path));
    store.record(event(EventKind::online, 1, kT0, "a"));
    store.record(event(EventKind::offline, 2, kT0 + 1min, "a", Reason::bye));
  }
  auto o = options(dir.path);
  o.retention = std::chrono::hours(1);  // kT0 is long gone
  HistoryStore store(o);
  EXPECT_TRUE(store.client("a"));
  EXPECT_TRUE(store.history("a", kT0 - 1min, kT0 + 2min)->sessions.empty());
}

TEST(HistorySchema, MigratesVersionOneKeepingItsData) {
  TempDir dir;
  {
    store::Db db(history_file(dir.path).string(), false);
    db.exec(store::kSchemaV1);
    db.exec(
        "INSERT INTO clients (id, first_seen, last_seen) VALUES ('old', 1764000000000, 1764000060000);"
        "INSERT INTO sessions (instance, session, id, peer, since, until, reason) VALUES "
        "('x', 1, 'old', 'p', 1764000000000, 1764000060000, 'bye');");
    EXPECT_EQ(db.user_version(), 1);
  }
  HistoryStore store(options(dir.path));
  const auto c = store.client("old");
  ASSERT_TRUE(c);
  EXPECT_EQ(c->total_online, std::chrono::milliseconds(1min));  // computed by the migration
  store::Db db(history_file(dir.path).string(), true);
  EXPECT_EQ(db.user_version(), kHistorySchema);
}

TEST(HistorySchema, RefusesANewerVersionNamingTheFile) {
  TempDir dir;
  {
    store::Db db(history_file(dir.path).string(), false);
    db.exec("PRAGMA user_version = 99");
  }
  try {
    HistoryStore store(options(dir.path));
    FAIL() << "a version-99 database was opened";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("schema version 99"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("history.sqlite3"), std::string::npos) << e.what();
  }
}

TEST(HistoryStore, AnUnusableDirectoryDegradesToMemory) {
  TempDir dir;
  const auto file = dir.path / "not-a-dir";
  { std::ofstream(file) << "x"; }  // --data-dir is a file: nothing can be created under it
  HistoryStore store(options(file));
  store.record(event(EventKind::online, 1, kT0, "m"));
  store.record(event(EventKind::offline, 2, kT0 + 1min, "m", Reason::bye));
  store.flush();
  const auto s = store.stats();
  EXPECT_TRUE(s.degraded);
  EXPECT_GE(s.write_errors, 1U);
  const auto h = store.history("m", kT0, kT0 + 2min);
  ASSERT_TRUE(h);
  EXPECT_DOUBLE_EQ(h->availability, 0.5);
  EXPECT_EQ(store.client("m")->last_offline_reason, "bye");
}

}  // namespace
}  // namespace lifeline
