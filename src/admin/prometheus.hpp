#pragma once
// /metrics in the Prometheus text exposition format (version 0.0.4): the
// server's counters and histograms, the process's descriptors and memory.

#include <string>

#include "lifeline/cluster.hpp"
#include "lifeline/metrics.hpp"

namespace lifeline::admin {

/// Admin-side numbers that are not the server's.
struct AdminGauges {
  std::size_t connections = 0;
  std::size_t streams = 0;
  std::uint64_t requests = 0;
};

void append_metrics(std::string& out, const ServerMetrics& m, const AdminGauges& a);
/// process_open_fds, process_resident_memory_bytes, process_max_fds (from /proc).
void append_process_metrics(std::string& out);
/// lifeline_cluster_*: only on a cluster node (docs/cluster.md).
void append_cluster_metrics(std::string& out, const ClusterStatus& c);

}  // namespace lifeline::admin
