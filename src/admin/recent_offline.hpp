#pragma once
// The admin server's own memory of clients that went offline, fed by the
// presence events: what GET /v1/clients/{id} shows for an offline id when no
// history store is configured (or before it has the id). Bounded: past
// `capacity` ids the one offline longest is forgotten. Runs on the admin
// thread only (events are posted there).

#include <cstddef>
#include <list>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "lifeline/admin.hpp"

namespace lifeline::admin {

class RecentOffline {
 public:
  explicit RecentOffline(std::size_t capacity) : capacity_(capacity) {}
  void apply(const PresenceEvent& e);
  std::optional<KnownClient> find(std::string_view id) const;
  /// Every remembered client, sorted by id.
  std::vector<KnownClient> all() const;
  std::size_t size() const { return by_id_.size(); }

 private:
  std::size_t capacity_;
  std::list<KnownClient> order_;  // oldest offline first
  std::unordered_map<std::string, std::list<KnownClient>::iterator> by_id_;
};

}  // namespace lifeline::admin
