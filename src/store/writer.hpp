#pragma once
// Applying presence events to the database, in one transaction per batch
// (history_store.cpp runs it on the writer thread), and closing what a killed
// run left open.

#include <vector>

#include "lifeline/history.hpp"
#include "sqlite.hpp"

namespace lifeline::store {

class Writer {
 public:
  explicit Writer(const Db& db);
  /// Applies `events` and notes `now` as the last write, all or nothing.
  void write(const std::vector<PresenceEvent>& events, SystemTime now);
  /// Notes `now` as the last write (an idle server is alive too).
  void touch(SystemTime now);
  /// Closes every open session as `server_lost` at the last write; returns how many.
  int close_lost_sessions();
  /// Deletes events and closed sessions that ended before `cutoff`.
  void prune(SystemTime cutoff);

 private:
  void apply(const PresenceEvent& e);
  void close_open(const std::string& id, std::int64_t at, std::string_view reason);
  const Db& db_;
  Stmt upsert_client_;
  Stmt open_session_;
  Stmt add_online_time_;
  Stmt close_sessions_;
  Stmt offline_client_;
  Stmt insert_event_;
  Stmt touch_;
};

}  // namespace lifeline::store
