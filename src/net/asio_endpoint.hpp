#pragma once
// The client's view of address.hpp: the same parsing, as an Asio endpoint to
// connect to. Kept apart so the server's sources never include Asio.

#include <boost/asio/ip/tcp.hpp>
#include <cstring>
#include <string>

#include "address.hpp"

namespace lifeline::detail {

/// parse_address() as an Asio endpoint; throws std::invalid_argument naming the text.
inline boost::asio::ip::tcp::endpoint parse_endpoint(const std::string& text) {
  const SocketAddress a = parse_address(text);
  boost::asio::ip::tcp::endpoint ep;
  std::memcpy(ep.data(), a.data(), a.size);  // an endpoint holds any IPv4/IPv6 sockaddr
  ep.resize(a.size);
  return ep;
}

}  // namespace lifeline::detail
