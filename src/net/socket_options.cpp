#include "socket_options.hpp"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include <algorithm>
#include <charconv>
#include <stdexcept>

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

std::string to_string(const boost::asio::ip::tcp::endpoint& ep) {
  const auto addr = ep.address().to_string();
  return (ep.address().is_v6() ? "[" + addr + "]" : addr) + ":" + std::to_string(ep.port());
}

std::string endpoint_host(const std::string& text) {
  std::string host = text.substr(0, text.rfind(':'));
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);
  }
  return host;
}

boost::asio::ip::tcp::endpoint parse_endpoint(const std::string& text) {
  const auto colon = text.rfind(':');
  if (colon == std::string::npos || colon == 0 || colon + 1 == text.size()) {
    throw std::invalid_argument("address '" + text + "' is not of the form HOST:PORT");
  }
  std::string host = endpoint_host(text);
  if (host == "localhost") {
    host = "127.0.0.1";
  }
  unsigned port = 0;
  const auto* first = text.data() + colon + 1;
  const auto* last = text.data() + text.size();
  const auto [end, ec] = std::from_chars(first, last, port);
  if (ec != std::errc() || end != last || port > 65535) {
    throw std::invalid_argument("address '" + text + "' has an invalid port");
  }
  boost::system::error_code aec;
  const auto addr = boost::asio::ip::make_address(host, aec);
  if (aec) {
    throw std::invalid_argument("address '" + text + "' has an invalid IP address '" + host + "'");
  }
  return {addr, static_cast<unsigned short>(port)};
}

std::string check_endpoints(const std::vector<std::string>& texts, std::string_view option) {
  for (const auto& text : texts) {
    try {
      parse_endpoint(text);
    } catch (const std::invalid_argument& e) {
      return std::string(option) + ": " + e.what();
    }
  }
  return {};
}

}  // namespace lifeline::detail
