#pragma once
// The history as the store keeps it in memory: every client's record (loaded
// from the database at start, then kept up to date by each event) and its
// latest sessions (at most kSessionsPerClient), so queries answer at once and
// go on answering while the database is unusable. Not thread-safe: the store
// holds its lock.

#include <deque>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "lifeline/history.hpp"

namespace lifeline::store {

class MemoryModel {
 public:
  static constexpr std::size_t kSessionsPerClient = 64;

  void load(std::vector<ClientRecord> clients);
  void apply(const PresenceEvent& e);
  std::optional<ClientRecord> client(std::string_view id) const;
  std::vector<ClientRecord> offline_clients() const;
  std::vector<SessionRecord> sessions(std::string_view id, SystemTime since, SystemTime until) const;

 private:
  void close_open(const std::string& id, SystemTime at, std::string_view reason);
  std::map<std::string, ClientRecord, std::less<>> clients_;
  std::map<std::string, std::deque<SessionRecord>, std::less<>> sessions_;
};

}  // namespace lifeline::store
