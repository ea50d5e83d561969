// The cluster reader: the cluster's Redis stream into this node's
// ClusterView. It starts from a snapshot taken at one point of the stream
// (lifeline_snapshot), follows with blocking XREADs, and once a second checks
// that it has not missed anything: a new epoch (Redis lost its data) or a
// trimmed stream (this node fell behind its length) means loading the list
// again, the view turning the difference into events.

#include <spdlog/spdlog.h>

#include <charconv>

#include "cluster.hpp"
#include "codec.hpp"
#include "lifeline/log.hpp"

namespace lifeline::cluster {
namespace {
constexpr auto kReadTimeout = std::chrono::milliseconds(3000);  // above the XREAD's 500 ms block

// A stream id "ms-seq" as a pair, to compare.
std::pair<std::uint64_t, std::uint64_t> stream_id(std::string_view id) {
  std::pair<std::uint64_t, std::uint64_t> v{0, 0};
  const auto dash = id.find('-');
  std::from_chars(id.data(), id.data() + std::min(dash, id.size()), v.first);
  if (dash != std::string_view::npos) {
    std::from_chars(id.data() + dash + 1, id.data() + id.size(), v.second);
  }
  return v;
}
}  // namespace

void Cluster::reader_loop() {
  unsigned failures = 0;
  std::unique_ptr<RedisConnection> conn;
  auto next_check = std::chrono::steady_clock::now();
  const std::string stream = opts_.key_prefix + ":events";
  while (!stopping()) {
    try {
      if (!conn) {
        conn = std::make_unique<RedisConnection>(addr_, kReadTimeout);
        if (reader_epoch_.empty() || reader_gap(*conn)) {
          reader_load(*conn, !reader_epoch_.empty());
        }
        const std::lock_guard lock(mu_);
        reader_ok_ = true;
      }
      const auto r = conn->call({"XREAD", "COUNT", "512", "BLOCK", "500", "STREAMS", stream, last_id_});
      if (!r.is_nil()) {
        reader_apply(r);
      }
      const auto now = std::chrono::steady_clock::now();
      if (now >= next_check) {
        next_check = now + std::chrono::seconds(1);
        if (reader_gap(*conn)) {
          reader_load(*conn, true);
        }
        view_.expire_settling();
      }
      failures = 0;
    } catch (const RedisError& e) {
      conn.reset();
      {
        const std::lock_guard lock(mu_);
        reader_ok_ = false;
        status_.synced = false;
      }
      view_.set_degraded(true);
      set_error(e.what());
      wait_backoff(failures);
    }
  }
}

void Cluster::reader_load(RedisConnection& conn, bool after_outage) {
  const auto r = conn.call({"FCALL_RO", "lifeline_snapshot", "0", opts_.key_prefix});
  if (r.items.size() < 3) {
    throw RedisError("lifeline_snapshot answered " + std::to_string(r.items.size()) + " items");
  }
  const auto& epoch = r.items[0].str;
  std::vector<OnlineClient> list;
  for (std::size_t i = 3; i < r.items.size(); ++i) {
    parse_entry_list(r.items[i].str, list);  // each value: one id's sessions
  }
  // Redis lost its data (a new epoch, or none yet): what it no longer lists
  // may be written back by its node, so it waits two leases before going.
  const bool settle = after_outage && epoch != reader_epoch_;
  view_.load(list, settle ? std::optional(opts_.lease_ttl * 2) : std::nullopt);
  last_id_ = r.items[1].str;
  if (settle) {
    replay_ends(conn);
  }
  reader_epoch_ = epoch.empty() ? std::string("-") : epoch;
  const std::lock_guard lock(mu_);
  status_.nodes = static_cast<std::size_t>(r.items[2].integer);
}

// After Redis lost its data, the nodes that write their sessions back also
// tell how the ones that ended meanwhile ended (lifeline_ended). Those ends
// may precede the snapshot just loaded, which cannot list what is gone: read
// them from the new stream, so that entries this view still holds end with
// their own reason rather than waiting out the settle time.
void Cluster::replay_ends(RedisConnection& conn) {
  const std::string stream = opts_.key_prefix + ":events";
  std::string from = "-";
  for (;;) {
    const auto r = conn.call({"XRANGE", stream, from, last_id_, "COUNT", "1000"});
    for (const auto& entry : r.items) {
      from = "(" + entry.items.at(0).str;
      auto ev = parse_stream_event(entry.items.at(1));
      if (ev && (ev->kind == "offline" || ev->kind == "leave")) {
        view_.apply(*ev);  // ends only: the snapshot has every start
      }
    }
    if (r.items.size() < 1000) {
      return;
    }
  }
}

bool Cluster::reader_gap(RedisConnection& conn) {
  const std::string stream = opts_.key_prefix + ":events";
  const auto replies = conn.pipeline(
      {{"GET", opts_.key_prefix + ":epoch"}, {"XINFO", "STREAM", stream}, {"HLEN", opts_.key_prefix + ":nodes"}});
  {
    const std::lock_guard lock(mu_);
    status_.nodes = static_cast<std::size_t>(replies[2].integer);
  }
  const auto& epoch = replies[0];
  if ((epoch.is_nil() ? std::string("-") : epoch.str) != reader_epoch_) {
    return true;
  }
  const auto& info = replies[1];
  if (info.kind != Reply::Kind::array) {
    return last_id_ != "0-0";  // the stream is gone: trimmed away or deleted
  }
  for (std::size_t i = 0; i + 1 < info.items.size(); i += 2) {
    if (info.items[i].str == "max-deleted-entry-id") {
      return stream_id(info.items[i + 1].str) > stream_id(last_id_);
    }
  }
  return false;
}

void Cluster::reader_apply(const Reply& r) {
  // [[stream, [[id, [field, value, ...]], ...]]]
  for (const auto& s : r.items) {
    if (s.items.size() < 2) {
      continue;
    }
    for (const auto& entry : s.items[1].items) {
      if (entry.items.size() < 2) {
        continue;
      }
      last_id_ = entry.items[0].str;
      auto ev = parse_stream_event(entry.items[1]);
      if (!ev) {
        logger()->warn("cluster: skipped stream entry {}: not a lifeline event", last_id_);
        continue;
      }
      view_.apply(*ev);
      // A newer session of the id on another node replaced one of ours.
      if (ev->kind == "takeover" && ev->prev_node == opts_.node_id && ev->entry.node != opts_.node_id &&
          ev->prev_session != 0) {
        hooks_.end_session(ev->prev_session, Reason::replaced,
                           "replaced by a newer connection on node " + ev->entry.node);
      }
    }
  }
}

}  // namespace lifeline::cluster
