#include "address.hpp"

#ifndef _WIN32
#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#endif

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

void SocketAddress::set_port(std::uint16_t port) {
  if (family() == AF_INET) {
    reinterpret_cast<sockaddr_in*>(&storage)->sin_port = htons(port);
  } else if (family() == AF_INET6) {
    reinterpret_cast<sockaddr_in6*>(&storage)->sin6_port = htons(port);
  }
}

namespace {
// A host made of digits and dots only is meant as an IPv4 literal, never as a
// name: getaddrinfo would take inet_aton's shorthands ("127.1", "10.1"), which
// a config file should not mean.
bool looks_ipv4(const std::string& host) { return host.find_first_not_of("0123456789.") == std::string::npos; }

SocketAddress from_addrinfo(const addrinfo& ai) {
  SocketAddress a;
  std::memcpy(&a.storage, ai.ai_addr, ai.ai_addrlen);
  a.size = ai.ai_addrlen;
  return a;
}

std::vector<SocketAddress> getaddrinfo_all(const HostPort& hp, int flags, const std::string& text) {
  sys::start_winsock();  // Windows: the resolver too needs it
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = flags | AI_NUMERICSERV;
  addrinfo* res = nullptr;
  const int rc = ::getaddrinfo(hp.host.c_str(), std::to_string(hp.port).c_str(), &hints, &res);
  if (rc != 0 || res == nullptr) {
    throw std::invalid_argument("address '" + text + "': cannot resolve '" + hp.host + "': " + ::gai_strerror(rc));
  }
  std::vector<SocketAddress> out;
  for (const addrinfo* ai = res; ai != nullptr; ai = ai->ai_next) {
    if (ai->ai_family == AF_INET || ai->ai_family == AF_INET6) {
      out.push_back(from_addrinfo(*ai));
    }
  }
  ::freeaddrinfo(res);
  return out;
}
}  // namespace

HostPort split_host_port(const std::string& text) {
  const auto colon = text.rfind(':');
  if (colon == std::string::npos || colon == 0 || colon + 1 == text.size()) {
    throw std::invalid_argument("address '" + text + "' is not of the form HOST:PORT");
  }
  HostPort hp;
  unsigned port = 0;
  const auto* first = text.data() + colon + 1;
  const auto* last = text.data() + text.size();
  const auto [end, ec] = std::from_chars(first, last, port);
  if (ec != std::errc() || end != last || port > 65535) {
    throw std::invalid_argument("address '" + text + "' has an invalid port");
  }
  hp.port = static_cast<std::uint16_t>(port);
  hp.host = text.substr(0, colon);
  if (hp.host.front() == '[') {
    in6_addr v6{};
    const auto inner = hp.host.size() >= 2 && hp.host.back() == ']' ? hp.host.substr(1, hp.host.size() - 2) : "";
    // The "%scope" suffix of a link-local address is not for inet_pton.
    if (inner.empty() || ::inet_pton(AF_INET6, inner.substr(0, inner.find('%')).c_str(), &v6) != 1) {
      throw std::invalid_argument("address '" + text + "' has an invalid IPv6 address '" + hp.host + "'");
    }
    hp.host = inner;
    hp.numeric = true;
  } else if (hp.host.find(':') != std::string::npos) {
    throw std::invalid_argument("address '" + text + "': an IPv6 address goes in brackets, as [" + hp.host +
                                "]:" + std::to_string(port));
  } else if (looks_ipv4(hp.host)) {
    in_addr v4{};
    if (::inet_pton(AF_INET, hp.host.c_str(), &v4) != 1) {
      throw std::invalid_argument("address '" + text + "' has an invalid IPv4 address '" + hp.host + "'");
    }
    hp.numeric = true;
  }
  return hp;
}

std::string endpoint_host(const std::string& text) {
  std::string host = text.substr(0, text.rfind(':'));
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);
  }
  return host;
}

SocketAddress parse_address(const std::string& text) {
  const HostPort hp = split_host_port(text);
  if (!hp.numeric) {
    throw std::invalid_argument("address '" + text + "' has a host name, not an IP address");
  }
  return getaddrinfo_all(hp, AI_NUMERICHOST, text).front();
}

std::vector<SocketAddress> resolve_address(const std::string& text) {
  const HostPort hp = split_host_port(text);
  auto all = getaddrinfo_all(hp, hp.numeric ? AI_NUMERICHOST : 0, text);
  if (all.empty()) {
    throw std::invalid_argument("address '" + text + "': '" + hp.host + "' has no IPv4 or IPv6 address");
  }
  return all;
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
      split_host_port(text);
    } catch (const std::invalid_argument& e) {
      return std::string(option) + ": " + e.what();
    }
  }
  return {};
}

std::optional<HttpUrl> parse_http_url(std::string_view url) {
  HttpUrl u;
  std::string_view rest;
  if (url.starts_with("http://")) {
    rest = url.substr(7);
  } else if (url.starts_with("https://")) {
    u.https = true;
    rest = url.substr(8);
  } else {
    return std::nullopt;
  }
  const auto slash = rest.find('/');
  const auto authority = rest.substr(0, slash);
  u.target = slash == std::string_view::npos ? "/" : std::string(rest.substr(slash));
  const auto colon = authority.rfind(':');
  if (colon == std::string_view::npos || (authority.starts_with('[') && authority.find(']') > colon)) {
    u.host = authority;
    u.port = u.https ? "443" : "80";
  } else {
    u.host = authority.substr(0, colon);
    u.port = authority.substr(colon + 1);
  }
  if (u.host.size() > 2 && u.host.starts_with('[') && u.host.ends_with(']')) {
    u.host = u.host.substr(1, u.host.size() - 2);
  }
  if (u.host.empty() || u.port.empty() || u.port.find_first_not_of("0123456789") != std::string::npos) {
    return std::nullopt;
  }
  return u;
}

}  // namespace lifeline::detail
