#include "prometheus.hpp"

#include <dirent.h>
#include <fmt/format.h>
#include <sys/resource.h>
#include <unistd.h>

#include <fstream>

#include "http_util.hpp"
#include "lifeline/presence.hpp"

namespace lifeline::admin {
namespace {

void head(std::string& out, std::string_view name, std::string_view type, std::string_view help) {
  fmt::format_to(std::back_inserter(out), "# HELP {} {}\n# TYPE {} {}\n", name, help, name, type);
}

void scalar(std::string& out, std::string_view name, std::string_view type, std::string_view help, double v) {
  head(out, name, type, help);
  fmt::format_to(std::back_inserter(out), "{} {}\n", name, v);
}

void labelled(std::string& out, std::string_view name, std::string_view label, std::string_view help,
              const Counters& values) {
  head(out, name, "counter", help);
  for (const auto& [key, v] : values) {
    fmt::format_to(std::back_inserter(out), "{}{{{}=\"{}\"}} {}\n", name, label, key, v);
  }
}

void histogram(std::string& out, std::string_view name, std::string_view help, const Histogram& h) {
  head(out, name, "histogram", help);
  std::uint64_t cumulative = 0;
  for (std::size_t i = 0; i < h.bounds.size(); ++i) {
    cumulative += h.counts.at(i);
    fmt::format_to(std::back_inserter(out), "{}_bucket{{le=\"{}\"}} {}\n", name, h.bounds[i], cumulative);
  }
  cumulative += h.counts.empty() ? 0 : h.counts.back();
  fmt::format_to(std::back_inserter(out), "{}_bucket{{le=\"+Inf\"}} {}\n{}_sum {}\n{}_count {}\n", name, cumulative,
                 name, h.sum, name, cumulative);
}

std::size_t open_fds() {
  std::size_t n = 0;
  if (DIR* d = ::opendir("/proc/self/fd")) {
    while (const dirent* e = ::readdir(d)) {
      n += e->d_name[0] != '.' ? 1 : 0;
    }
    ::closedir(d);
    n -= n > 0 ? 1 : 0;  // the directory's own descriptor
  }
  return n;
}

}  // namespace

void append_cluster_metrics(std::string& out, const ClusterStatus& c) {
  if (!c.enabled) {
    return;
  }
  scalar(out, "lifeline_cluster_synced", "gauge",
         "1 while this node is in step with the cluster through Redis, 0 while degraded", c.synced ? 1 : 0);
  scalar(out, "lifeline_cluster_nodes", "gauge", "member nodes, as of this node's last snapshot of Redis",
         static_cast<double>(c.nodes));
  scalar(out, "lifeline_cluster_online", "gauge", "ids online in the whole cluster, as this node sees it",
         static_cast<double>(c.online));
  scalar(out, "lifeline_cluster_resyncs_total", "counter", "times this node wrote its sessions to Redis",
         static_cast<double>(c.resyncs));
  scalar(out, "lifeline_cluster_fenced_total", "counter", "times this node lost its lease and dropped its sessions",
         static_cast<double>(c.fenced));
}

}  // namespace lifeline::admin

namespace lifeline {
void append_metric(std::string& out, std::string_view name, std::string_view type, std::string_view help,
                   double value) {
  admin::scalar(out, name, type, help, value);
}
}  // namespace lifeline

namespace lifeline::admin {

void append_metrics(std::string& out, const ServerMetrics& m, const AdminGauges& a) {
  head(out, "lifeline_info", "gauge", "This server run (instance) and version.");
  fmt::format_to(std::back_inserter(out), "lifeline_info{{instance=\"{}\"}} 1\n", instance_text(m.instance));
  scalar(out, "lifeline_clients_online", "gauge", "Client ids online now.", static_cast<double>(m.online));
  scalar(out, "lifeline_connections", "gauge", "Open client connections (handshaking, online, observers, closing).",
         static_cast<double>(m.connections));
  scalar(out, "lifeline_events_seq", "gauge", "Sequence number of the last presence event of this run.",
         static_cast<double>(m.seq));
  scalar(out, "lifeline_connections_accepted_total", "counter", "Connections accepted.",
         static_cast<double>(m.accepted));
  labelled(out, "lifeline_connections_refused_total", "cause", "Connections refused at once, by cause.", m.refused);
  labelled(out, "lifeline_disconnections_total", "reason", "Sessions that held an id and ended, by reason.",
           m.disconnections);
  labelled(out, "lifeline_protocol_errors_total", "code", "ERROR frames sent to clients, by code.", m.protocol_errors);
  scalar(out, "lifeline_auth_refusals_total", "counter", "HELLOs refused as unauthorized (token or certificate).",
         static_cast<double>(m.auth_refusals));
  scalar(out, "lifeline_frames_received_total", "counter", "Protocol frames received.",
         static_cast<double>(m.frames_in));
  scalar(out, "lifeline_frames_sent_total", "counter", "Protocol frames sent.", static_cast<double>(m.frames_out));
  scalar(out, "lifeline_bytes_received_total", "counter", "Bytes received (after TLS).",
         static_cast<double>(m.bytes_in));
  scalar(out, "lifeline_bytes_sent_total", "counter", "Bytes sent (before TLS).", static_cast<double>(m.bytes_out));
  labelled(out, "lifeline_tls_handshakes_total", "kind", "TLS handshakes completed: full, or resumed from a ticket.",
           Counters{{"full", m.tls_handshakes - m.tls_resumed}, {"resumed", m.tls_resumed}});
  histogram(out, "lifeline_rtt_seconds", "Round-trip times measured by the server's PINGs.", m.rtt);
  histogram(out, "lifeline_detection_delay_seconds", "From a timed-out client's last byte to its offline event.",
            m.detection_delay);
  histogram(out, "lifeline_wheel_tick_lag_seconds", "How late each timing-wheel tick ran.", m.tick_lag);
  scalar(out, "lifeline_admin_connections", "gauge", "Open admin HTTP connections.",
         static_cast<double>(a.connections));
  scalar(out, "lifeline_admin_event_streams", "gauge", "Open /v1/events streams.", static_cast<double>(a.streams));
  scalar(out, "lifeline_admin_requests_total", "counter", "Admin HTTP requests answered.",
         static_cast<double>(a.requests));
}

void append_process_metrics(std::string& out) {
  scalar(out, "process_open_fds", "gauge", "Open file descriptors.", static_cast<double>(open_fds()));
  rlimit lim{};
  if (::getrlimit(RLIMIT_NOFILE, &lim) == 0) {
    scalar(out, "process_max_fds", "gauge", "Maximum number of open file descriptors.",
           static_cast<double>(lim.rlim_cur));
  }
  std::ifstream statm("/proc/self/statm");
  std::size_t pages = 0;
  std::size_t resident = 0;
  if (statm >> pages >> resident) {
    scalar(out, "process_resident_memory_bytes", "gauge", "Resident memory size in bytes.",
           static_cast<double>(resident) * static_cast<double>(::sysconf(_SC_PAGESIZE)));
  }
}

}  // namespace lifeline::admin
