#include "memory_model.hpp"

namespace lifeline::store {

void MemoryModel::load(std::vector<ClientRecord> clients) {
  for (auto& c : clients) {
    auto id = c.id;
    clients_.insert_or_assign(std::move(id), std::move(c));
  }
}

void MemoryModel::close_open(const std::string& id, SystemTime at, std::string_view reason) {
  auto& list = sessions_[id];
  auto& client = clients_[id];
  for (auto& s : list) {
    if (!s.until) {
      s.until = std::max(at, s.since);
      s.reason = reason;
      client.total_online += std::chrono::duration_cast<std::chrono::milliseconds>(*s.until - s.since);
    }
  }
}

void MemoryModel::apply(const PresenceEvent& e) {
  // join and leave (`multi`) change no id's availability: its online period
  // runs from `online` to `offline`, however many sessions it held meanwhile.
  if (e.kind == EventKind::gap || e.kind == EventKind::join || e.kind == EventKind::leave || e.id.empty()) {
    return;
  }
  auto [it, fresh] = clients_.try_emplace(e.id);
  auto& c = it->second;
  if (fresh) {
    c.id = e.id;
    c.first_seen = e.at;
  }
  if (e.kind == EventKind::offline) {
    close_open(e.id, e.at, proto::to_string(e.reason));
    c.online = false;
    c.last_seen = std::max(c.last_seen, e.last_seen);
    c.last_offline_at = e.at;
    c.last_offline_reason = proto::to_string(e.reason);
    return;
  }
  if (e.kind == EventKind::takeover) {
    close_open(e.id, e.at, "replaced");
  }
  c.online = true;
  c.last_seen = e.at;
  c.last_peer = e.remote;
  auto& list = sessions_[e.id];
  list.push_back(SessionRecord{e.remote, e.at, std::nullopt, {}});
  if (list.size() > kSessionsPerClient) {
    list.pop_front();
  }
}

std::optional<ClientRecord> MemoryModel::client(std::string_view id) const {
  const auto it = clients_.find(id);
  if (it == clients_.end()) {
    return std::nullopt;
  }
  return it->second;
}

std::vector<ClientRecord> MemoryModel::offline_clients() const {
  std::vector<ClientRecord> out;
  for (const auto& [id, c] : clients_) {
    if (!c.online) {
      out.push_back(c);
    }
  }
  return out;
}

std::vector<SessionRecord> MemoryModel::sessions(std::string_view id, SystemTime since, SystemTime until) const {
  std::vector<SessionRecord> out;
  const auto it = sessions_.find(id);
  if (it == sessions_.end()) {
    return out;
  }
  for (const auto& s : it->second) {
    if (s.since < until && (!s.until || *s.until > since)) {
      out.push_back(s);
    }
  }
  return out;
}

}  // namespace lifeline::store
