// The cluster writer: this node's presence changes into Redis, in order, and
// its lease (docs/cluster.md). One thread, one blocking connection; every
// failure drops the connection and retries with jittered backoff, while the
// changes wait in `pending_` (bounded: past it, the node writes all its
// sessions back instead, which is what it does after any outage anyway).

#include <spdlog/spdlog.h>

#include <random>

#include "cluster.hpp"
#include "codec.hpp"
#include "lifeline/log.hpp"

namespace lifeline::cluster {
extern const std::string_view kLuaLibrary;

namespace {
constexpr std::size_t kMaxPending = 100'000;  // changes held while Redis is away (~200 B each)
constexpr std::size_t kBatch = 256;           // function calls per round trip
constexpr std::size_t kSyncChunk = 200;       // sessions per sync_put
constexpr auto kCallTimeout = std::chrono::milliseconds(2000);

std::string now_ms_text() { return std::to_string(unix_ms(std::chrono::system_clock::now())); }

bool is_session_start(EventKind k) {
  return k == EventKind::online || k == EventKind::join || k == EventKind::takeover;
}
}  // namespace

std::string random_hex() {
  std::random_device rd;
  char buf[17];
  std::snprintf(buf, sizeof buf, "%08x%08x", rd(), rd());
  return buf;
}

std::vector<std::string> Cluster::base_args(const char* function) const {
  return {"FCALL", function, "0", opts_.key_prefix, opts_.node_id, instance_, epoch_};
}

void Cluster::writer_loop() {
  unsigned failures = 0;
  auto next_attempt = std::chrono::steady_clock::now();
  while (!stopping()) {
    {
      std::unique_lock lock(mu_);
      auto until = std::min(std::chrono::steady_clock::now() + std::chrono::milliseconds(250), next_renew_);
      if (failures > 0) {
        until = next_attempt;
      }
      wake_.wait_until(lock, until, [&] { return woken_ || stopping_.load(); });
      woken_ = false;
    }
    if (stopping()) {
      break;
    }
    if (std::chrono::steady_clock::now() < next_attempt) {
      take_local_events();  // Redis is away: the view hears this node's changes at once
      continue;
    }
    if (writer_step()) {
      failures = 0;
    } else {
      next_attempt = std::chrono::steady_clock::now() + backoff_delay(failures++);
    }
  }
  // Stopping: this node's last changes (its clients' ends), then its lease.
  try {
    take_local_events();
    if (wconn_ && registered_) {
      while (!pending_.empty() && registered_) {
        publish();
      }
      auto args = base_args("lifeline_leave_cluster");
      wconn_->call(args);
    }
  } catch (const RedisError& e) {
    logger()->warn("cluster: could not leave cleanly ({}): the others will reap this node's lease", e.what());
  }
}

bool Cluster::writer_step() {
  take_local_events();
  try {
    if (!wconn_) {
      wconn_ = std::make_unique<RedisConnection>(addr_, kCallTimeout);
      wconn_->call({"FUNCTION", "LOAD", "REPLACE", std::string(kLuaLibrary)});
      connected_at_ = std::chrono::steady_clock::now();
      registered_ = false;
    }
    ensure_registered();
    if (!registered_) {
      return true;  // waiting for a lease held by another run (logged)
    }
    const auto now = std::chrono::steady_clock::now();
    if (now >= next_renew_) {
      auto args = base_args("lifeline_renew");
      args.push_back(std::to_string(opts_.lease_ttl.count()));
      next_renew_ = now + opts_.lease_ttl / 3;
      if (!accepted(wconn_->call(args))) {
        return true;
      }
    }
    while (!pending_.empty() && registered_) {
      publish();
    }
    if (registered_ && need_resync_) {
      resync();
    }
    if (registered_) {
      reap_if_due();
    }
    const std::lock_guard lock(mu_);
    status_.last_error.clear();
    status_.synced = registered_ && reader_ok_;
    view_.set_degraded(!status_.synced);
    return true;
  } catch (const RedisError& e) {
    set_error(e.what());
    wconn_.reset();
    if (registered_) {
      // What Redis did not take is news the view must hear from here (it drops replays later).
      for (const auto& ev : pending_) {
        tell_view(ev);
      }
    }
    registered_ = false;
    reconnected_ = true;
    return false;
  }
}

void Cluster::tell_view(const PresenceEvent& ev) {
  view_.apply_local(ev, is_session_start(ev.kind) ? registry_.find_session(ev.id, ev.session) : std::nullopt);
}

void Cluster::take_local_events(std::uint64_t until) {
  std::vector<PresenceEvent> batch;
  while (cursor_ < until) {
    batch.clear();
    const auto next = registry_.log().read_after(cursor_, 1024, batch);
    if (batch.empty()) {
      return;
    }
    cursor_ = next;
    for (auto& ev : batch) {
      if (ev.kind != EventKind::gap && ev.seq > until) {
        cursor_ = ev.seq - 1;  // the rest is for later
        break;
      }
      if (ev.kind == EventKind::gap) {
        pending_.clear();
        need_resync_ = true;
        continue;
      }
      if (!registered_) {  // Redis cannot tell the view: tell it directly
        tell_view(ev);
      }
      pending_.push_back(std::move(ev));
    }
    if (pending_.size() > kMaxPending) {
      logger()->warn("cluster: more than {} changes waiting for Redis; will write this node's sessions back instead",
                     kMaxPending);
      pending_.clear();
      need_resync_ = true;
    }
  }
}

void Cluster::ensure_registered() {
  if (registered_) {
    return;
  }
  if (instance_.empty()) {
    instance_ = random_hex();
  }
  const std::string member_of = epoch_;
  const auto r =
      wconn_->call({"FCALL", "lifeline_register", "0", opts_.key_prefix, opts_.node_id, instance_, random_hex(),
                    std::to_string(opts_.lease_ttl.count()), std::to_string(opts_.stream_length),
                    std::to_string(opts_.offline_grace.count()), now_ms_text(), member_of});
  const auto& what = r.items.at(0).str;
  if (what == "in_use") {
    set_error("node id '" + opts_.node_id + "' is held by another running node (its lease ends in " +
              r.items.at(2).str + " ms); waiting for it");
    return;
  }
  if (what == "fenced") {
    handle_refusal("fenced");
    return;
  }
  const auto& epoch = r.items.at(1).str;
  if (!epoch_.empty() && epoch != epoch_) {
    logger()->warn("cluster: Redis lost the cluster's data (epoch {} -> {}): writing this node's sessions back", epoch_,
                   epoch);
    keep_ends();
  }
  epoch_ = epoch;
  registered_ = true;
  need_resync_ = true;
  next_renew_ = std::chrono::steady_clock::now() + opts_.lease_ttl / 3;
  logger()->info("cluster: node {} joined through Redis at {} (epoch {})", opts_.node_id, addr_.text(), epoch_);
  const std::lock_guard lock(mu_);
  status_.epoch = epoch_;
}

void Cluster::publish() {
  std::vector<std::vector<std::string>> calls;
  std::vector<const PresenceEvent*> about;
  const auto n = std::min(kBatch, pending_.size());
  for (std::size_t i = 0; i < n; ++i) {
    const auto& ev = pending_[i];
    if (is_session_start(ev.kind)) {
      const auto entry = registry_.find_session(ev.id, ev.session);
      if (!entry) {
        continue;  // over already: its end finds nothing to remove either
      }
      auto args = base_args("lifeline_join");
      args.insert(args.end(), {std::to_string(opts_.stream_length), ev.id, std::to_string(ev.session),
                               entry_json(*entry, opts_.node_id), policy_, std::to_string(max_sessions_),
                               std::to_string(unix_ms(ev.at))});
      calls.push_back(std::move(args));
    } else if (ev.kind == EventKind::offline || ev.kind == EventKind::leave) {
      auto args = base_args("lifeline_leave");
      args.insert(args.end(), {std::to_string(opts_.stream_length), ev.id, std::to_string(ev.session),
                               std::string(proto::to_string(ev.reason)), std::to_string(unix_ms(ev.at)),
                               std::to_string(unix_ms(ev.last_seen)), std::to_string(opts_.offline_grace.count())});
      calls.push_back(std::move(args));
    } else {
      continue;
    }
    about.push_back(&ev);
  }
  const auto replies = calls.empty() ? std::vector<Reply>{} : wconn_->pipeline(calls);
  for (std::size_t i = 0; i < replies.size(); ++i) {
    const auto& r = replies[i];
    if (r.kind == Reply::Kind::array && r.items.size() > 1 && r.items[0].str == "rejected") {
      hooks_.end_session(about[i]->session, Reason::rejected,
                         "id " + about[i]->id + " is online on node " + r.items[1].str +
                             " and the duplicate policy refuses another session");
    } else if (!accepted(r)) {
      return;
    }
  }
  pending_.erase(pending_.begin(), pending_.begin() + static_cast<std::ptrdiff_t>(n));
}

void Cluster::resync() {
  // Redis first gets every change up to now, then the list as of a seq S,
  // then the changes up to S, in order; so the sessions it lists for this
  // node but that are not in the list (sync_end) are exactly those whose end
  // was lost (a gap), and every other end keeps its own reason.
  take_local_events();
  while (!pending_.empty() && registered_) {
    publish();
  }
  if (!registered_) {
    return;
  }
  const auto snap = registry_.stamped_snapshot();
  const auto& list = snap.clients;
  const auto at = now_ms_text();
  for (std::size_t i = 0; i < list.size() || i == 0; i += kSyncChunk) {
    auto args = base_args("lifeline_sync_put");
    args.insert(args.end(), {std::to_string(opts_.stream_length), policy_, std::to_string(max_sessions_), at});
    for (std::size_t j = i; j < std::min(list.size(), i + kSyncChunk); ++j) {
      args.insert(args.end(), {list[j].id, std::to_string(list[j].session), entry_json(list[j], opts_.node_id)});
    }
    const auto r = wconn_->call(args);
    if (!accepted(r)) {
      return;
    }
    for (std::size_t k = 1; k < r.items.size(); ++k) {
      hooks_.end_session(std::stoull(r.items[k].str), Reason::rejected,
                         "the id is online on another node and the duplicate policy refuses another session");
    }
  }
  take_local_events(snap.seq);
  while (!pending_.empty() && registered_) {
    publish();
  }
  if (!registered_) {
    return;
  }
  auto args = base_args("lifeline_sync_end");
  args.insert(args.end(), {std::to_string(opts_.stream_length), at, std::to_string(opts_.offline_grace.count())});
  const auto r = wconn_->call(args);
  if (!accepted(r)) {
    return;
  }
  need_resync_ = false;
  tell_ends();
  const std::lock_guard lock(mu_);
  if (status_.resyncs++ > 0 || !list.empty()) {  // not news when a node joins empty
    logger()->info("cluster: node {} wrote its {} sessions to Redis ({} had ended meanwhile)", opts_.node_id,
                   list.size(), r.items.size() > 1 ? r.items[1].str : "0");
  }
}

bool Cluster::accepted(const Reply& r) {
  if (r.kind == Reply::Kind::status) {
    // An error reply, say the library gone with a Redis restarted empty: a new connection loads it again.
    throw RedisError("Redis refused a lifeline function: " + r.str);
  }
  if (!r.items.empty() && r.items[0].str == "ok") {
    return true;
  }
  handle_refusal(r.items.empty() ? "fenced" : r.items[0].str);
  return false;
}

void Cluster::keep_ends() {
  for (auto& ev : pending_) {
    if (ev.kind == EventKind::offline || ev.kind == EventKind::leave) {
      ended_.push_back(std::move(ev));
    }
  }
  pending_.clear();
  if (ended_.size() > kMaxPending) {
    ended_.erase(ended_.begin(), ended_.end() - static_cast<std::ptrdiff_t>(kMaxPending));
  }
}

void Cluster::tell_ends() {
  for (std::size_t i = 0; i < ended_.size(); i += kBatch) {
    std::vector<std::vector<std::string>> calls;
    for (std::size_t j = i; j < std::min(ended_.size(), i + kBatch); ++j) {
      const auto& ev = ended_[j];
      auto args = base_args("lifeline_ended");
      args.insert(args.end(), {std::to_string(opts_.stream_length), ev.id, std::to_string(ev.session),
                               std::string(proto::to_string(ev.reason)), std::to_string(unix_ms(ev.at)),
                               std::to_string(unix_ms(ev.last_seen)), ev.remote, transport_name(ev.transport)});
      calls.push_back(std::move(args));
    }
    for (const auto& r : wconn_->pipeline(calls)) {
      if (!accepted(r)) {
        return;
      }
    }
  }
  ended_.clear();
}

void Cluster::handle_refusal(const std::string& why) {
  registered_ = false;
  need_resync_ = true;
  if (why == "epoch") {
    keep_ends();
    return;  // Redis lost its data: register again, then write everything back
  }
  pending_.clear();
  ended_.clear();
  // Fenced: another node reaped this one (frozen or cut off past its lease)
  // and reported its clients `node_lost`. Writing them back would be stale:
  // drop them, so that they reconnect, and join again as a new member.
  const auto held = registry_.session_count();
  logger()->warn(
      "cluster: node {} lost its lease (frozen or cut off from Redis for more than {} ms): closing its {} "
      "sessions so that their clients reconnect, then joining again",
      opts_.node_id, opts_.lease_ttl.count(), held);
  hooks_.drop_all("this node lost its cluster lease; reconnect");
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(3);
  while (registry_.session_count() > 0 && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));  // the shards close them; nothing to wait on
  }
  cursor_ = registry_.log().last_seq();  // their ends are not news to the cluster
  instance_ = random_hex();
  epoch_.clear();
  const std::lock_guard lock(mu_);
  ++status_.fenced;
}

void Cluster::reap_if_due() {
  const auto now = std::chrono::steady_clock::now();
  // A node reaps only after holding its connection for a whole lease; after a
  // lost connection, also for the time another node needs to notice a dead
  // connection (a call's deadline) and open a new one (another): after an
  // outage everyone had, each node first gets the chance to renew its own lease.
  const auto hold = opts_.lease_ttl + (reconnected_ ? 2 * kCallTimeout : std::chrono::milliseconds(0));
  if (now - connected_at_ < hold || now < next_reap_) {
    return;
  }
  next_reap_ = now + std::min<std::chrono::milliseconds>(opts_.lease_ttl / 3, std::chrono::milliseconds(250));
  auto args = base_args("lifeline_reap");
  args.insert(args.end(),
              {std::to_string(opts_.stream_length), std::to_string(opts_.offline_grace.count()), now_ms_text()});
  const auto r = wconn_->call(args);
  if (!accepted(r)) {
    return;
  }
  for (std::size_t i = 1; i + 1 < r.items.size(); i += 2) {
    logger()->warn("cluster: node {} lost its lease: its {} sessions are offline (node_lost)", r.items[i].str,
                   r.items[i + 1].str);
  }
}

}  // namespace lifeline::cluster
