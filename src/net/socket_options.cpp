#include "socket_options.hpp"

#include <algorithm>

#include "sys.hpp"

namespace lifeline::detail {

#ifdef _WIN32
namespace {
// ws2ipdef.h's values (Windows 10 1709 and later), which mingw-w64's headers
// lack. An older Windows refuses them, harmlessly: the heartbeat decides.
constexpr int TCP_KEEPIDLE = 3;
constexpr int TCP_MAXRT = 5;
constexpr int TCP_KEEPCNT = 16;
constexpr int TCP_KEEPINTVL = 17;
}  // namespace
#endif

void apply_socket_options(int fd, const Heartbeat& hb, bool keepalive) {
  const int one = 1;
  sys::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, one);
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
  sys::setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, one);
  sys::setsockopt(fd, IPPROTO_TCP, TCP_KEEPIDLE, idle_s);
  sys::setsockopt(fd, IPPROTO_TCP, TCP_KEEPINTVL, idle_s);
  sys::setsockopt(fd, IPPROTO_TCP, TCP_KEEPCNT, count);
#ifdef _WIN32
  // Windows has no TCP_USER_TIMEOUT; TCP_MAXRT bounds retransmission, in seconds.
  const int max_rt_s = std::max(1, static_cast<int>(user_timeout_ms / 1000));
  sys::setsockopt(fd, IPPROTO_TCP, TCP_MAXRT, max_rt_s);
#else
  sys::setsockopt(fd, IPPROTO_TCP, TCP_USER_TIMEOUT, user_timeout_ms);
#endif
}

}  // namespace lifeline::detail
