#include "socket_options.hpp"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include <algorithm>

namespace lifeline::detail {

void apply_socket_options(int fd, const Heartbeat& hb, bool keepalive) {
  const int one = 1;
  ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  if (!keepalive) {
    return;
  }
  const int idle_s = std::max<int>(1, static_cast<int>(hb.interval.count() / 1000));
  const int count = 3;
  // A backstop, never the detector: under packet loss one segment can wait
  // through several doubling retransmissions while bytes still flow, and a
  // limit equal to the heartbeat timeout aborted such live connections
  // (tests/faults/test_packet_loss.py). The heartbeat decides at `timeout`.
  const auto user_timeout_ms = static_cast<unsigned>(kUserTimeoutFactor * hb.timeout.count());
  ::setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &one, sizeof one);
  ::setsockopt(fd, IPPROTO_TCP, TCP_KEEPIDLE, &idle_s, sizeof idle_s);
  ::setsockopt(fd, IPPROTO_TCP, TCP_KEEPINTVL, &idle_s, sizeof idle_s);
  ::setsockopt(fd, IPPROTO_TCP, TCP_KEEPCNT, &count, sizeof count);
  ::setsockopt(fd, IPPROTO_TCP, TCP_USER_TIMEOUT, &user_timeout_ms, sizeof user_timeout_ms);
}

}  // namespace lifeline::detail
