#include "address.hpp"

#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>

#include <charconv>
#include <cstring>
#include <stdexcept>

namespace lifeline::detail {

std::uint16_t SocketAddress::port() const {
  if (family() == AF_INET) {
    return ntohs(reinterpret_cast<const sockaddr_in*>(&storage)->sin_port);
  }
  if (family() == AF_INET6) {
    return ntohs(reinterpret_cast<const sockaddr_in6*>(&storage)->sin6_port);
  }
  return 0;
}

std::string endpoint_host(const std::string& text) {
  std::string host = text.substr(0, text.rfind(':'));
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);
  }
  return host;
}

SocketAddress parse_address(const std::string& text) {
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
  SocketAddress a;
  // inet_pton, not getaddrinfo, for IPv4: getaddrinfo also takes inet_aton's
  // shorthands ("127.1", "0x7f.1"), which a config file should not mean.
  if (sockaddr_in v4{}; ::inet_pton(AF_INET, host.c_str(), &v4.sin_addr) == 1) {
    v4.sin_family = AF_INET;
    v4.sin_port = htons(static_cast<std::uint16_t>(port));
    std::memcpy(&a.storage, &v4, sizeof v4);
    a.size = sizeof v4;
    return a;
  }
  // IPv6 through getaddrinfo, numeric only (no DNS), for its "%scope" suffix.
  addrinfo hints{};
  hints.ai_family = AF_INET6;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_NUMERICHOST | AI_NUMERICSERV;
  addrinfo* res = nullptr;
  if (::getaddrinfo(host.c_str(), std::to_string(port).c_str(), &hints, &res) != 0 || res == nullptr) {
    throw std::invalid_argument("address '" + text + "' has an invalid IP address '" + host + "'");
  }
  std::memcpy(&a.storage, res->ai_addr, res->ai_addrlen);
  a.size = res->ai_addrlen;
  ::freeaddrinfo(res);
  return a;
}

std::string to_string(const SocketAddress& a) {
  char host[NI_MAXHOST];
  if (::getnameinfo(a.data(), a.size, host, sizeof host, nullptr, 0, NI_NUMERICHOST) != 0) {
    host[0] = '?';
    host[1] = '\0';
  }
  // Appended piece by piece: "[" + std::string(host) + "]" trips GCC 12's
  // -Wrestrict false positive in release builds.
  const bool v6 = a.family() == AF_INET6;
  std::string out;
  if (v6) {
    out += '[';
  }
  out += host;
  if (v6) {
    out += ']';
  }
  out += ':';
  out += std::to_string(a.port());
  return out;
}

std::string check_endpoints(const std::vector<std::string>& texts, std::string_view option) {
  for (const auto& text : texts) {
    try {
      parse_address(text);
    } catch (const std::invalid_argument& e) {
      return std::string(option) + ": " + e.what();
    }
  }
  return {};
}

}  // namespace lifeline::detail
