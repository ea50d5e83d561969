#pragma once
// Socket addresses as the command line and the logs spell them: "host:port",
// IPv6 as "[host]:port", hosts numeric ("localhost" means 127.0.0.1). Plain
// sockaddr_storage, so the server needs no Asio; the client converts with
// asio_endpoint.hpp. Pure functions: thread-safe.

#include <sys/socket.h>

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace lifeline::detail {

/// An IPv4 or IPv6 socket address and its length, as bind/accept/getsockname take them.
struct SocketAddress {
  sockaddr_storage storage{};
  socklen_t size = sizeof(sockaddr_storage);

  int family() const { return storage.ss_family; }
  sockaddr* data() { return reinterpret_cast<sockaddr*>(&storage); }
  const sockaddr* data() const { return reinterpret_cast<const sockaddr*>(&storage); }
  /// 0 for a family other than IPv4/IPv6.
  std::uint16_t port() const;
};

/// The host of "host:port" / "[v6]:port", brackets removed.
std::string endpoint_host(const std::string& text);

/// Parses "host:port" / "[v6]:port" with a numeric host; throws std::invalid_argument naming the text.
SocketAddress parse_address(const std::string& text);

/// "host:port" (IPv6 as "[host]:port") of an address.
std::string to_string(const SocketAddress& a);

/// Empty if every address parses, else "<option>: <why>" for the first that does not.
std::string check_endpoints(const std::vector<std::string>& texts, std::string_view option);

}  // namespace lifeline::detail
