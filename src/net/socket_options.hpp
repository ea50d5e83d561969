#pragma once
// TCP options that make the kernel a second liveness layer under the heartbeat.
// (Addresses: address.hpp.)

#include "lifeline/heartbeat.hpp"

namespace lifeline::detail {

/// TCP_USER_TIMEOUT is this many heartbeat timeouts.
inline constexpr int kUserTimeoutFactor = 2;

/// TCP_NODELAY (heartbeats are tiny and latency-bound); if `keepalive`,
/// SO_KEEPALIVE probing after `interval` and TCP_USER_TIMEOUT = 2 x `timeout`,
/// so unacknowledged writes to a vanished peer fail too, but never before the
/// heartbeat would. Errors are ignored: the heartbeat is the primary mechanism.
void apply_socket_options(int fd, const Heartbeat& hb, bool keepalive);

}  // namespace lifeline::detail
