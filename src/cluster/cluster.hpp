#pragma once
// A server's membership in a cluster (docs/cluster.md): two threads of its
// own, each with its own blocking Redis connection.
//
// - The writer (writer.cpp) reads this server's presence event log, as every
//   layer above the server does, and turns each change into a call of a Redis
//   function (lifeline.lua), in order; it renews this node's lease, reaps the
//   nodes whose lease is gone, and writes this node's sessions back after an
//   outage. It never touches a session but through the hooks below.
// - The reader (reader.cpp) follows the cluster's event stream into the
//   ClusterView, which LIST and SUBSCRIBE read instead of the registry.
//
// Neither is on the heartbeat path: a heartbeat costs a cluster node what it
// costs a server alone (docs/benchmarks.md).

#include <atomic>
#include <condition_variable>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "lifeline/cluster.hpp"
#include "lifeline/server.hpp"
#include "redis.hpp"
#include "registry.hpp"
#include "view.hpp"

namespace lifeline::cluster {

/// 16 random hex digits: a membership's instance, a new dataset's epoch.
std::string random_hex();

/// What the cluster may ask of the server, posted to the session's shard.
struct ServerHooks {
  /// Ends one local session: `replaced` (a newer session of its id on another
  /// node) or `rejected` (the id is online elsewhere and the policy refuses).
  std::function<void(std::uint64_t session, Reason reason, const std::string& text)> end_session;
  /// Ends every local session with BYE `shutdown` and `text`: this node lost its lease.
  std::function<void(const std::string& text)> drop_all;
};

class Cluster {
 public:
  /// `view_instance` numbers the view's event log (a server run's id, as the registry's is).
  Cluster(const ServerOptions& options, detail::Registry& registry, std::uint64_t view_instance, ServerHooks hooks);
  ~Cluster();
  Cluster(const Cluster&) = delete;
  Cluster& operator=(const Cluster&) = delete;

  /// Joins the cluster once (throws std::system_error naming Redis and why,
  /// if `required` and that fails), then starts both threads, which retry
  /// with backoff for as long as Redis is unreachable.
  void start();
  /// Publishes this node's last changes (its sessions' ends at shutdown),
  /// gives up its lease and joins both threads; waits at most about 2 s for Redis.
  void stop();

  detail::PresenceView& view() { return view_; }
  ClusterStatus status() const;

 private:
  // writer.cpp
  void writer_loop();
  bool writer_step();  // false: Redis failed (the connection is dropped)
  void ensure_registered();
  void publish();  // the oldest pending changes, one round trip
  void resync();
  /// Whether Redis accepted a function call: an error reply throws
  /// RedisError (the connection is made anew), a refusal goes to handle_refusal().
  bool accepted(const Reply& r);
  void handle_refusal(const std::string& why);
  void keep_ends();  // Redis lost its data: of the pending changes, only the ends are still news
  void tell_ends();
  void reap_if_due();
  std::vector<std::string> base_args(const char* function) const;
  /// Reads the registry's log into pending_, up to seq `until` (all by default).
  void take_local_events(std::uint64_t until = UINT64_MAX);
  /// A change of this node that Redis has not taken, told to the view directly.
  void tell_view(const PresenceEvent& ev);
  // reader.cpp
  void reader_loop();
  void reader_load(RedisConnection& conn, bool after_outage);
  void reader_apply(const Reply& r);
  bool reader_gap(RedisConnection& conn);
  void replay_ends(RedisConnection& conn);

  void set_error(const std::string& what);
  bool stopping() const { return stopping_.load(); }
  std::chrono::milliseconds backoff_delay(unsigned failures) const;
  void wait_backoff(unsigned& failures);  // the reader's

  const ClusterOptions opts_;
  const std::string policy_;
  const std::size_t max_sessions_;
  const RedisAddress addr_;
  detail::Registry& registry_;
  ServerHooks hooks_;
  ClusterView view_;

  // Writer state (its thread only, but for status()).
  std::unique_ptr<RedisConnection> wconn_;
  std::string instance_;  // this membership's id; a new one after each fencing
  std::string epoch_;
  bool registered_ = false;
  bool need_resync_ = true;
  bool reconnected_ = false;           // a connection was lost since start: reaping waits longer
  std::uint64_t cursor_ = 0;           // the registry's log, read up to here
  std::deque<PresenceEvent> pending_;  // read, not yet accepted by Redis
  std::vector<PresenceEvent> ended_;   // ends kept across a Redis restart, told after the write-back
  std::chrono::steady_clock::time_point connected_at_{};
  std::chrono::steady_clock::time_point next_renew_{};
  std::chrono::steady_clock::time_point next_reap_{};
  std::uint64_t watch_token_ = 0;

  // Reader state (its thread only).
  std::string last_id_ = "0-0";
  std::string reader_epoch_;

  mutable std::mutex mu_;  // status fields, the wake-up
  std::condition_variable wake_;
  bool woken_ = false;
  ClusterStatus status_;
  bool started_ = false;  // start()'s first attempt is over: set_error() logs from then on
  bool reader_ok_ = false;
  std::atomic<bool> stopping_{false};
  std::thread writer_;
  std::thread reader_;
};

}  // namespace lifeline::cluster
