#include "options.hpp"

#include <charconv>
#include <limits>
#include <string>
#include <vector>

#include "lifeline/duration.hpp"
#include "lifeline/token.hpp"
#include "status.hpp"

namespace lifeline::capi {
namespace {

[[noreturn]] void bad(std::string_view key, std::string_view value, std::string_view expected) {
  throw Failure(LL_ERR_INVALID,
                "option '" + std::string(key) + "': '" + std::string(value) + "' is not " + std::string(expected));
}

std::uint64_t to_uint(std::string_view key, std::string_view v, std::uint64_t max) {
  std::uint64_t n = 0;
  const auto [end, ec] = std::from_chars(v.data(), v.data() + v.size(), n);
  if (v.empty() || ec != std::errc{} || end != v.data() + v.size() || n > max) {
    bad(key, v, "a whole number up to " + std::to_string(max));
  }
  return n;
}

// "250ms", "1s", ... or a bare number of milliseconds.
std::chrono::milliseconds to_ms(std::string_view key, std::string_view v) {
  if (!v.empty() && v.find_first_not_of("0123456789") == std::string_view::npos) {
    return std::chrono::milliseconds(to_uint(key, v, std::numeric_limits<std::uint32_t>::max()));
  }
  if (const auto d = parse_duration(v)) {
    return *d;
  }
  bad(key, v, "a duration (250ms, 1s, 2m, or a number of milliseconds)");
}

bool to_bool(std::string_view key, std::string_view v) {
  if (v == "true" || v == "1" || v == "on" || v == "yes") {
    return true;
  }
  if (v == "false" || v == "0" || v == "off" || v == "no") {
    return false;
  }
  bad(key, v, "a boolean (true/false, 1/0, on/off)");
}

double to_factor(std::string_view key, std::string_view v) {
  try {
    std::size_t used = 0;
    const double f = std::stod(std::string(v), &used);
    if (used == v.size()) {
      return f;
    }
  } catch (const std::exception&) {  // NOLINT(bugprone-empty-catch): reported below
  }
  bad(key, v, "a number such as 2 or 1.5");
}

std::vector<std::string> endpoints(std::string_view key, std::string_view v) {
  std::vector<std::string> out;
  std::size_t start = 0;
  while (start <= v.size()) {
    const auto comma = std::min(v.find(',', start), v.size());
    const auto item = v.substr(start, comma - start);
    if (item.empty()) {
      bad(key, v, "a comma-separated list of host:port");
    }
    out.emplace_back(item);
    start = comma + 1;
  }
  return out;
}

proto::Label to_label(std::string_view key, std::string_view v) {
  const auto eq = v.find('=');
  if (eq == std::string_view::npos || eq == 0) {
    bad(key, v, "key=value");
  }
  return {std::string(v.substr(0, eq)), std::string(v.substr(eq + 1))};
}

std::size_t to_capacity(std::string_view key, std::string_view v) {
  const auto n = to_uint(key, v, 1U << 20U);
  if (n == 0) {
    bad(key, v, "at least 1");
  }
  return n;
}

[[noreturn]] void unknown(std::string_view key, std::string_view side) {
  throw Failure(LL_ERR_INVALID, "unknown option '" + std::string(key) + "' (the " + std::string(side) +
                                    " keys are listed in lifeline.h and docs/bindings.md)");
}

}  // namespace

void set_client_option(ClientOptions& o, std::size_t& queue_capacity, std::string_view k, std::string_view v) {
  const std::string s(v);
  if (k == "servers") {
    o.servers = endpoints(k, v);
  } else if (k == "server") {
    o.servers.push_back(endpoints(k, v).at(0));
  } else if (k == "id") {
    o.id = s;
  } else if (k == "label") {
    o.labels.push_back(to_label(k, v));
  } else if (k == "interval") {
    o.interval = to_ms(k, v);
  } else if (k == "timeout") {
    o.timeout = to_ms(k, v);
  } else if (k == "server_pings") {
    o.server_pings = to_bool(k, v);
  } else if (k == "token") {
    o.token = s;
  } else if (k == "token_file") {
    o.token_file = s;
  } else if (k == "tls") {
    o.tls.enabled = to_bool(k, v);
  } else if (k == "tls_ca") {
    o.tls.ca_file = s;
  } else if (k == "tls_server_name") {
    o.tls.server_name = s;
  } else if (k == "tls_verify_hostname") {
    o.tls.verify_hostname = to_bool(k, v);
  } else if (k == "tls_cert") {
    o.tls.cert_file = s;
  } else if (k == "tls_key") {
    o.tls.key_file = s;
  } else if (k == "backoff_base") {
    o.backoff.base = to_ms(k, v);
  } else if (k == "backoff_cap") {
    o.backoff.cap = to_ms(k, v);
  } else if (k == "backoff_factor") {
    o.backoff.factor = to_factor(k, v);
  } else if (k == "connect_timeout") {
    o.connect_timeout = to_ms(k, v);
  } else if (k == "max_data") {
    o.max_data = static_cast<std::uint32_t>(to_uint(k, v, 1U << 24U));
  } else if (k == "tcp_keepalive") {
    o.tcp_keepalive = to_bool(k, v);
  } else if (k == "stop_when_refused") {
    o.stop_when_refused = to_bool(k, v);
  } else if (k == "queue_capacity") {
    queue_capacity = to_capacity(k, v);
  } else {
    unknown(k, "client");
  }
}

void set_server_option(ServerOptions& o, std::size_t& queue_capacity, std::string_view k, std::string_view v) {
  const std::string s(v);
  constexpr auto kU32 = std::numeric_limits<std::uint32_t>::max();
  auto& hb = o.heartbeat;
  if (k == "listen") {
    o.listen = endpoints(k, v);
  } else if (k == "threads") {
    o.threads = static_cast<unsigned>(to_uint(k, v, 256));
  } else if (k == "interval") {
    hb.default_interval = to_ms(k, v);
  } else if (k == "timeout") {
    hb.default_timeout = to_ms(k, v);
  } else if (k == "min_interval") {
    hb.min_interval = to_ms(k, v);
  } else if (k == "max_interval") {
    hb.max_interval = to_ms(k, v);
  } else if (k == "min_timeout") {
    hb.min_timeout = to_ms(k, v);
  } else if (k == "max_timeout") {
    hb.max_timeout = to_ms(k, v);
  } else if (k == "tick") {
    o.tick = to_ms(k, v);
  } else if (k == "handshake_timeout") {
    o.handshake_timeout = to_ms(k, v);
  } else if (k == "duplicates") {
    if (v != "takeover" && v != "reject" && v != "multi") {
      bad(k, v, "takeover, reject or multi");
    }
    o.duplicates = v == "takeover" ? DuplicatePolicy::takeover
                   : v == "reject" ? DuplicatePolicy::reject
                                   : DuplicatePolicy::multi;
  } else if (k == "max_sessions_per_id") {
    o.max_sessions_per_id = to_uint(k, v, 1000);
  } else if (k == "ws_listen") {
    o.websocket.listen = endpoints(k, v);
  } else if (k == "ws_path") {
    o.websocket.path = s;
  } else if (k == "ws_allowed_origin") {
    o.websocket.allowed_origins.push_back(s);
  } else if (k == "max_data") {
    o.max_data = static_cast<std::uint32_t>(to_uint(k, v, kU32));
  } else if (k == "max_outbound") {
    o.max_outbound = to_uint(k, v, std::numeric_limits<std::uint32_t>::max());
  } else if (k == "max_connections") {
    o.max_connections = to_uint(k, v, kU32);
  } else if (k == "max_connections_per_address") {
    o.max_connections_per_address = to_uint(k, v, kU32);
  } else if (k == "event_buffer") {
    o.event_buffer = to_uint(k, v, 1U << 24U);
  } else if (k == "tcp_keepalive") {
    o.tcp_keepalive = to_bool(k, v);
  } else if (k == "auth_secret") {
    if (const auto problem = auth::secret_problem(v); !problem.empty()) {
      throw Failure(LL_ERR_INVALID, "option 'auth_secret': " + problem);
    }
    o.auth_secrets.push_back(s);
  } else if (k == "auth_secrets_file") {
    o.auth_secrets = auth::load_secrets(s);
  } else if (k == "tls_cert") {
    o.tls.cert_file = s;
  } else if (k == "tls_key") {
    o.tls.key_file = s;
  } else if (k == "tls_client_ca") {
    o.tls.client_ca_file = s;
  } else if (k == "cluster") {
    o.cluster.redis = s;
  } else if (k == "node_id") {
    o.cluster.node_id = s;
  } else if (k == "cluster_password") {
    o.cluster.password = s;
  } else if (k == "cluster_lease") {
    o.cluster.lease_ttl = to_ms(k, v);
  } else if (k == "offline_grace") {
    o.cluster.offline_grace = to_ms(k, v);
  } else if (k == "cluster_required") {
    o.cluster.required = to_bool(k, v);
  } else if (k == "queue_capacity") {
    queue_capacity = to_capacity(k, v);
  } else {
    unknown(k, "server");
  }
}

}  // namespace lifeline::capi
