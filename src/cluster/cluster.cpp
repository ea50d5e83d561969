#include "cluster.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <random>
#include <system_error>

#include "lifeline/log.hpp"

namespace lifeline {

std::string ClusterOptions::validate() const {
  if (!enabled()) {
    return {};
  }
  try {
    cluster::parse_redis_url(redis);
  } catch (const std::invalid_argument& e) {
    return e.what();
  }
  if (node_id.empty() || node_id.size() > 64 || !std::all_of(node_id.begin(), node_id.end(), [](char c) {
        return std::isalnum(static_cast<unsigned char>(c)) != 0 || c == '.' || c == '_' || c == '-';
      })) {
    return "node-id must be 1..64 letters, digits, '.', '_' or '-' (it names this node in every entry), not '" +
           node_id + "'";
  }
  if (lease_ttl < std::chrono::milliseconds(300) || lease_ttl > std::chrono::minutes(10)) {
    return "cluster lease TTL must be 300 ms..10 min";
  }
  if (offline_grace.count() < 0 || offline_grace > std::chrono::hours(1)) {
    return "offline-grace must be 0..1 h";
  }
  if (stream_length < 1000) {
    return "cluster stream length must be at least 1000 events";
  }
  if (key_prefix.empty() || key_prefix.find_first_of(" \r\n") != std::string::npos) {
    return "cluster key prefix must be non-empty, without spaces";
  }
  return {};
}

namespace cluster {
namespace {
const char* policy_name(DuplicatePolicy p) {
  switch (p) {
    case DuplicatePolicy::reject: return "reject";
    case DuplicatePolicy::multi: return "multi";
    case DuplicatePolicy::takeover: break;
  }
  return "takeover";
}

RedisAddress address_of(const ClusterOptions& o) {
  auto a = parse_redis_url(o.redis);
  if (a.password.empty()) {
    a.password = o.password;
  }
  return a;
}

// The error of a node that may not start without Redis (ClusterOptions::required).
const std::error_category& required_category() {
  struct Category : std::error_category {
    const char* name() const noexcept override { return "lifeline.cluster"; }
    std::string message(int /*code*/) const override {
      return "the cluster is required (--cluster-required), so the server does not start without Redis";
    }
  };
  static const Category category;
  return category;
}

}  // namespace

Cluster::Cluster(const ServerOptions& options, detail::Registry& registry, std::uint64_t view_instance,
                 ServerHooks hooks)
    : opts_(options.cluster),
      policy_(policy_name(options.duplicates)),
      max_sessions_(options.duplicates == DuplicatePolicy::multi ? options.max_sessions_per_id : 1),
      addr_(address_of(options.cluster)),
      registry_(registry),
      hooks_(std::move(hooks)),
      view_(options.cluster.node_id, registry, view_instance, options.event_buffer) {
  status_.enabled = true;
  status_.node_id = opts_.node_id;
}

Cluster::~Cluster() { stop(); }

void Cluster::start() {
  cursor_ = registry_.log().last_seq();
  watch_token_ = registry_.log().watch([this] {
    const std::lock_guard lock(mu_);
    woken_ = true;
    wake_.notify_all();  // the reader may be waiting on it too
  });
  // One attempt now, so that a wrong address or password is said at startup,
  // once, with what follows from it.
  const bool joined = writer_step();
  {
    const std::lock_guard lock(mu_);
    started_ = true;
  }
  if (!joined) {
    const auto why = status().last_error;
    if (opts_.required) {
      registry_.log().unwatch(watch_token_);
      throw std::system_error(1, required_category(), "cluster: " + why);
    }
    logger()->warn("cluster: {}; serving this node's clients alone and retrying with backoff", why);
  }
  writer_ = std::thread([this] { writer_loop(); });
  reader_ = std::thread([this] { reader_loop(); });
}

void Cluster::stop() {
  if (stopping_.exchange(true)) {
    return;
  }
  {
    const std::lock_guard lock(mu_);
    wake_.notify_all();
  }
  if (writer_.joinable()) {
    writer_.join();
  }
  if (reader_.joinable()) {
    reader_.join();
  }
  if (watch_token_ != 0) {
    registry_.log().unwatch(watch_token_);
  }
}

ClusterStatus Cluster::status() const {
  auto s = [&] {
    const std::lock_guard lock(mu_);
    return status_;
  }();
  s.online = view_.count();
  return s;
}

void Cluster::set_error(const std::string& what) {
  const std::lock_guard lock(mu_);
  if (status_.last_error != what && started_) {
    logger()->warn("cluster: {}", what);  // once per change, not once per retry
  }
  status_.last_error = what;
  status_.synced = false;
  view_.set_degraded(true);
}

std::chrono::milliseconds Cluster::backoff_delay(unsigned failures) const {
  // Jittered: cap/4..cap, cap = min(100 ms * 2^failures, half a lease, 5 s): a node
  // is back within half a lease of Redis, well inside the two leases a reader
  // waits (ClusterView::load) for entries to be written back.
  const auto limit = std::clamp<std::int64_t>(opts_.lease_ttl.count() / 2, 100, 5000);
  const auto cap = std::min<std::int64_t>(limit, std::int64_t{100} << std::min(failures, 6U));
  thread_local std::mt19937_64 rng{std::random_device{}()};
  return std::chrono::milliseconds(std::uniform_int_distribution<std::int64_t>(cap / 4, cap)(rng));
}

void Cluster::wait_backoff(unsigned& failures) {
  const auto delay = backoff_delay(failures++);
  std::unique_lock lock(mu_);
  wake_.wait_for(lock, delay, [&] { return stopping_.load(); });
}

}  // namespace cluster
}  // namespace lifeline
