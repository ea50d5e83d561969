// Summing the shards' counters into one ServerMetrics (Server::metrics).

#include "metrics.hpp"

#include <numeric>

namespace lifeline {

std::uint64_t Histogram::count() const { return std::accumulate(counts.begin(), counts.end(), std::uint64_t{0}); }

namespace detail {
namespace {
void add_named(Counters& out, std::size_t i, std::string_view name, std::uint64_t v) {
  if (out.size() <= i) {
    out.resize(i + 1);
  }
  out[i].first = std::string(name);
  out[i].second += v;
}
}  // namespace

void ShardMetrics::add_to(ServerMetrics& m) const {
  m.accepted += accepted.get();
  add_named(m.refused, 0, "too_many_connections", refused_limit.get());
  add_named(m.refused, 1, "shutting_down", refused_shutdown.get());
  m.connections += opened.get() - closed.get();
  // Every reason a session that held an id can end with (none never happens).
  for (std::size_t r = 1; r < kReasons; ++r) {
    add_named(m.disconnections, r - 1, proto::to_string(static_cast<proto::Reason>(r)), disconnections.at(r).get());
  }
  for (std::size_t c = 1; c < kErrorCodes; ++c) {
    add_named(m.protocol_errors, c - 1, proto::to_string(static_cast<proto::ErrorCode>(c)), errors.at(c).get());
  }
  m.auth_refusals += errors.at(static_cast<std::size_t>(proto::ErrorCode::unauthorized)).get();
  m.frames_in += frames_in.get();
  m.frames_out += frames_out.get();
  m.bytes_in += bytes_in.get();
  m.bytes_out += bytes_out.get();
  m.tls_handshakes += tls_handshakes.get();
  m.tls_resumed += tls_resumed.get();
  rtt.add_to(m.rtt);
  detection.add_to(m.detection_delay);
  tick_lag.add_to(m.tick_lag);
}

}  // namespace detail
}  // namespace lifeline
