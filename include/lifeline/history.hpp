#pragma once
/// lifeline::HistoryStore: presence history in SQLite (WAL) under a data
/// directory: every client ever seen, its sessions, and the event log, kept
/// across restarts with a retention period (docs/operations.md, "History").
///
/// Threading: record() is called from one thread (a Server event handler) and
/// never blocks: events go to a bounded queue that a writer thread of the
/// store's own commits in batches. Queries are thread-safe and run on a read
/// connection of their own. When the database cannot be opened or written (a
/// full disk, a locked or unwritable file) the store says so once in the log,
/// counts it, keeps answering from memory, and retries every few seconds.

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "lifeline/presence.hpp"

namespace lifeline {

using SystemTime = std::chrono::system_clock::time_point;

struct HistoryOptions {
  std::filesystem::path data_dir;
  /// Events and closed sessions older than this are deleted (clients stay).
  std::chrono::hours retention{24 * 30};
  /// How often the writer commits what is queued (and notes it is alive).
  std::chrono::milliseconds flush_interval{200};
  /// Events queued for the writer at most; past it they are dropped and counted.
  std::size_t queue = 100000;
};

/// One client as the history knows it.
struct ClientRecord {
  std::string id;
  bool online = false;
  std::string last_peer;
  SystemTime first_seen;
  SystemTime last_seen;
  std::optional<SystemTime> last_offline_at;
  std::string last_offline_reason;            ///< a protocol reason, or `server_lost`
  std::chrono::milliseconds total_online{0};  ///< closed sessions only
};

struct SessionRecord {
  std::string peer;
  SystemTime since;
  std::optional<SystemTime> until;  ///< none while it is open
  std::string reason;               ///< why it ended; empty while open
};

/// A client's sessions over [since, until), clipped to it, and the share of
/// that window it was online (an open session counts up to `until`).
struct ClientHistory {
  std::string id;
  SystemTime since;
  SystemTime until;
  std::vector<SessionRecord> sessions;
  std::chrono::milliseconds online{0};
  double availability = 0;  ///< online / (until - since), 0..1
};

struct HistoryStats {
  std::uint64_t events_written = 0;
  std::uint64_t write_errors = 0;
  std::uint64_t dropped = 0;
  std::size_t queued = 0;
  bool degraded = false;  ///< the database is not usable now: memory only
};

/// The database file a data directory holds.
std::filesystem::path history_file(const std::filesystem::path& data_dir);
/// The schema version this build writes.
inline constexpr int kHistorySchema = 2;

class HistoryStore {
 public:
  /// Opens (or creates) the database, migrating an older schema, and closes
  /// the sessions a killed run left open with reason `server_lost` at the time
  /// of its last write. Throws std::runtime_error naming the file if the
  /// database is from a newer version of lifeline; any other failure degrades
  /// to memory (logged) instead.
  explicit HistoryStore(HistoryOptions options);
  /// Writes what is queued, then closes.
  ~HistoryStore();
  HistoryStore(const HistoryStore&) = delete;
  HistoryStore& operator=(const HistoryStore&) = delete;

  /// Queues one presence event (never blocks).
  void record(const PresenceEvent& event);
  /// Blocks until everything recorded before the call is committed (or has
  /// failed); for orderly shutdown and tests.
  void flush();

  std::optional<ClientRecord> client(std::string_view id) const;
  /// Every client known and not online now, sorted by id.
  std::vector<ClientRecord> offline_clients() const;
  /// nullopt if the id was never seen.
  std::optional<ClientHistory> history(std::string_view id, SystemTime since, SystemTime until) const;
  HistoryStats stats() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

/// Read-only access to a data directory, for `lifeline history` (works while a
/// server writes it: WAL). Throws std::runtime_error naming the file if it
/// cannot be opened or is from a newer version.
class HistoryReader {
 public:
  explicit HistoryReader(const std::filesystem::path& data_dir);
  ~HistoryReader();
  HistoryReader(const HistoryReader&) = delete;
  HistoryReader& operator=(const HistoryReader&) = delete;
  std::optional<ClientRecord> client(std::string_view id) const;
  std::optional<ClientHistory> history(std::string_view id, SystemTime since, SystemTime until) const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace lifeline
