#pragma once
/// Several servers, one online list: the cluster options of ServerOptions and
/// what a server reports about its cluster (docs/cluster.md). Plain values.

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string>

namespace lifeline {

struct ClusterOptions {
  /// "redis://[[user]:password@]host[:port][/db]"; empty: no cluster, and
  /// nothing below applies.
  std::string redis;
  /// This node's name, unique in the cluster, in every list entry and event
  /// (1..64 characters: letters, digits, '.', '_', '-').
  std::string node_id;
  /// Redis's password, when the URL has none (`--cluster-password-file`).
  std::string password;
  /// Prefix of every Redis key; the braces make it a Redis Cluster hash tag.
  std::string key_prefix = "{lifeline}";
  /// How long this node's lease lives unrenewed (renewed every third of it):
  /// a node dead or frozen this long loses its sessions (`node_lost`).
  std::chrono::milliseconds lease_ttl{5000};
  /// Delay of the presence offline event of an id whose session ended; a new
  /// session of the id within it (on any node) is reported `moved` or
  /// `resumed` instead of offline and online. 0: none. Detection is unchanged.
  std::chrono::milliseconds offline_grace{0};
  /// Events kept in the cluster's Redis stream (approximately).
  std::size_t stream_length = 100000;
  /// Redis unreachable at start(): throw instead of serving local clients
  /// while retrying in the background.
  bool required = false;
  bool enabled() const { return !redis.empty(); }
  /// Empty if usable, else a message naming the offending option.
  std::string validate() const;
};

/// A server's view of its cluster (Server::cluster_status()).
struct ClusterStatus {
  bool enabled = false;
  std::string node_id;
  /// False while Redis is unreachable or the node is re-joining: the list and
  /// events then hold this node's own clients live and others' as last seen.
  bool synced = false;
  std::size_t nodes = 0;      ///< member nodes (Redis is asked once a second)
  std::size_t online = 0;     ///< ids online in the whole cluster, as this node sees it
  std::string epoch;          ///< the Redis dataset's id (changes if Redis restarts empty)
  std::string last_error;     ///< why it is not synced, when it is not
  std::uint64_t resyncs = 0;  ///< times this node wrote its sessions back
  std::uint64_t fenced = 0;   ///< times its lease was lost and it dropped its sessions
};

}  // namespace lifeline
