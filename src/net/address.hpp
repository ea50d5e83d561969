#pragma once
// Socket addresses as the command line and the logs spell them: "host:port",
// IPv6 as "[host]:port". The host is an IPv4 literal, a bracketed IPv6
// literal, or a name the system resolver knows. Plain sockaddr_storage, so the
// server needs no Asio; the client resolves names itself, asynchronously, on
// every attempt (client_connection.cpp). Pure functions: thread-safe.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "sys.hpp"

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
  void set_port(std::uint16_t port);
};

/// "host:port" split and checked: the host is non-empty, an IPv6 literal is in
/// brackets (and valid), a dotted-number host is a valid IPv4 literal (no
/// inet_aton shorthands such as "127.1"), and the port is 0..65535.
struct HostPort {
  std::string host;  // brackets removed
  std::uint16_t port = 0;
  bool numeric = false;  // an IP literal: nothing to resolve
};
/// Throws std::invalid_argument naming the text and what is wrong with it.
HostPort split_host_port(const std::string& text);

/// The host of "host:port" / "[v6]:port", brackets removed.
std::string endpoint_host(const std::string& text);

/// Parses "host:port" / "[v6]:port" with a numeric host; throws std::invalid_argument naming the text.
SocketAddress parse_address(const std::string& text);

/// Every address "host:port" stands for, in the resolver's order (a literal
/// gives one). Blocking (getaddrinfo): for startup, not for a loop thread.
/// Throws std::invalid_argument naming the text and the resolver's error.
std::vector<SocketAddress> resolve_address(const std::string& text);

/// An http:// or https:// URL split for a request: host (brackets removed),
/// port (the scheme's default if absent) and target ("/" if absent).
struct HttpUrl {
  bool https = false;
  std::string host;
  std::string port;
  std::string target;
};
/// nullopt unless `url` is http:// or https:// with a host and a numeric port.
std::optional<HttpUrl> parse_http_url(std::string_view url);

/// "host:port" (IPv6 as "[host]:port") of an address.
std::string to_string(const SocketAddress& a);

/// Empty if every address is well-formed (names are not resolved here), else
/// "<option>: <why>" for the first that is not.
std::string check_endpoints(const std::vector<std::string>& texts, std::string_view option);

}  // namespace lifeline::detail
