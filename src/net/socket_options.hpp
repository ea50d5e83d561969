#pragma once
// TCP options that make the kernel a second liveness layer under the heartbeat.

#include <boost/asio/ip/tcp.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "lifeline/heartbeat.hpp"

namespace lifeline::detail {

/// TCP_USER_TIMEOUT is this many heartbeat timeouts.
inline constexpr int kUserTimeoutFactor = 2;

/// TCP_NODELAY (heartbeats are tiny and latency-bound); if `keepalive`,
/// SO_KEEPALIVE probing after `interval` and TCP_USER_TIMEOUT = 2 x `timeout`,
/// so unacknowledged writes to a vanished peer fail too, but never before the
/// heartbeat would. Errors are ignored: the heartbeat is the primary mechanism.
void apply_socket_options(int fd, const Heartbeat& hb, bool keepalive);

/// "host:port" (IPv6 as "[host]:port") of an endpoint.
std::string to_string(const boost::asio::ip::tcp::endpoint& ep);

/// The host of "host:port" / "[v6]:port", brackets removed.
std::string endpoint_host(const std::string& text);

/// Parses "host:port" / "[v6]:port" with a numeric host; throws std::invalid_argument naming the text.
boost::asio::ip::tcp::endpoint parse_endpoint(const std::string& text);

/// Empty if every address parses, else "<option>: <why>" for the first that does not.
std::string check_endpoints(const std::vector<std::string>& texts, std::string_view option);

}  // namespace lifeline::detail
