#pragma once
/// Server counters and histograms, as one consistent-enough snapshot for
/// /metrics (Prometheus) and tests. Each shard keeps its own counters, written
/// only by its thread with relaxed stores; Server::metrics() sums them on the
/// calling thread, so reading metrics never slows a heartbeat. A snapshot is
/// a plain value, safe to copy across threads.

#include <chrono>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace lifeline {

/// A fixed-bucket histogram: `counts[i]` observations at or below
/// `bounds[i]` and above the previous bound (not cumulative); the last count
/// is above every bound (+Inf). Bounds and sum are in seconds.
struct Histogram {
  std::vector<double> bounds;
  std::vector<std::uint64_t> counts;  ///< bounds.size() + 1 entries
  double sum = 0;
  std::uint64_t count() const;
};

/// Named counters, in a fixed order (every name present, zeros included).
using Counters = std::vector<std::pair<std::string, std::uint64_t>>;

struct ServerMetrics {
  std::uint64_t instance = 0;
  std::uint64_t seq = 0;            ///< the event log's last sequence number
  std::size_t online = 0;           ///< ids online
  std::size_t connections = 0;      ///< open connections (handshaking, online, observers, draining)
  std::uint64_t accepted = 0;       ///< connections accepted
  Counters refused;                 ///< by cause: too_many_connections, shutting_down
  Counters disconnections;          ///< sessions that held an id, by reason (docs/protocol.md section 5)
  Counters protocol_errors;         ///< ERROR frames sent, by code
  std::uint64_t auth_refusals = 0;  ///< HELLOs refused as unauthorized
  std::uint64_t frames_in = 0;
  std::uint64_t frames_out = 0;
  std::uint64_t bytes_in = 0;  ///< after TLS decryption
  std::uint64_t bytes_out = 0;
  std::uint64_t tls_handshakes = 0;  ///< TLS handshakes completed, full and resumed
  std::uint64_t tls_resumed = 0;     ///< of which resumed a session (a ticket): no certificate, no signature
  Histogram rtt;                     ///< round-trip times measured by the server's PINGs
  Histogram detection_delay;         ///< last byte received to timeout declared
  Histogram tick_lag;                ///< how late each timing-wheel tick ran
};

}  // namespace lifeline
