#include "http_util.hpp"

#include <boost/json.hpp>
#include <charconv>
#include <cstdint>
#include <cstdio>

namespace lifeline::admin {
namespace {
int hex_value(char c) {
  if (c >= '0' && c <= '9') {
    return c - '0';
  }
  if (c >= 'a' && c <= 'f') {
    return c - 'a' + 10;
  }
  if (c >= 'A' && c <= 'F') {
    return c - 'A' + 10;
  }
  return -1;
}
}  // namespace

std::optional<std::string> Target::param(std::string_view key) const {
  for (const auto& [k, v] : query) {
    if (k == key) {
      return v;
    }
  }
  return std::nullopt;
}

std::vector<std::string> Target::params(std::string_view key) const {
  std::vector<std::string> out;
  for (const auto& [k, v] : query) {
    if (k == key) {
      out.push_back(v);
    }
  }
  return out;
}

std::optional<std::string> percent_decode(std::string_view s, bool plus_is_space) {
  std::string out;
  out.reserve(s.size());
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '%') {
      const int hi = i + 1 < s.size() ? hex_value(s[i + 1]) : -1;
      const int lo = i + 2 < s.size() ? hex_value(s[i + 2]) : -1;
      if (hi < 0 || lo < 0) {
        return std::nullopt;
      }
      out.push_back(static_cast<char>(hi * 16 + lo));
      i += 2;
    } else if (s[i] == '+' && plus_is_space) {
      out.push_back(' ');
    } else {
      out.push_back(s[i]);
    }
  }
  return out;
}

std::optional<Target> parse_target(std::string_view target) {
  if (target.empty() || target.front() != '/') {
    return std::nullopt;
  }
  Target t;
  const auto q = target.find('?');
  auto path = percent_decode(target.substr(0, q), false);
  if (!path) {
    return std::nullopt;
  }
  t.path = std::move(*path);
  auto raw = target.substr(1, q == std::string_view::npos ? std::string_view::npos : q - 1);
  while (!raw.empty()) {
    const auto slash = raw.find('/');
    auto seg = percent_decode(raw.substr(0, slash), false);
    if (!seg) {
      return std::nullopt;
    }
    t.segments.push_back(std::move(*seg));
    raw = slash == std::string_view::npos ? std::string_view{} : raw.substr(slash + 1);
  }
  if (q == std::string_view::npos) {
    return t;
  }
  auto rest = target.substr(q + 1);
  while (!rest.empty()) {
    const auto amp = rest.find('&');
    const auto pair = rest.substr(0, amp);
    rest = amp == std::string_view::npos ? std::string_view{} : rest.substr(amp + 1);
    if (pair.empty()) {
      continue;
    }
    const auto eq = pair.find('=');
    auto key = percent_decode(pair.substr(0, eq), true);
    auto value = percent_decode(eq == std::string_view::npos ? std::string_view{} : pair.substr(eq + 1), true);
    if (!key || !value) {
      return std::nullopt;
    }
    t.query.emplace_back(std::move(*key), std::move(*value));
  }
  return t;
}

std::string error_body(std::string_view code, std::string_view message) {
  return boost::json::serialize(boost::json::object{
      {"error", boost::json::object{{"code", boost::json::string(code)}, {"message", boost::json::string(message)}}}});
}

std::string encode_cursor(std::string_view id) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  for (const unsigned char c : id) {
    out.push_back(kHex[c >> 4U]);
    out.push_back(kHex[c & 15U]);
  }
  return out;
}

std::optional<std::string> decode_cursor(std::string_view cursor) {
  if (cursor.empty() || cursor.size() % 2 != 0) {
    return std::nullopt;
  }
  std::string out;
  for (std::size_t i = 0; i < cursor.size(); i += 2) {
    const int hi = hex_value(cursor[i]);
    const int lo = hex_value(cursor[i + 1]);
    if (hi < 0 || lo < 0) {
      return std::nullopt;
    }
    out.push_back(static_cast<char>(hi * 16 + lo));
  }
  return out;
}

std::optional<std::pair<std::uint64_t, std::uint64_t>> parse_event_id(std::string_view text) {
  const auto dash = text.find('-');
  if (dash != 16) {
    return std::nullopt;
  }
  std::uint64_t instance = 0;
  std::uint64_t seq = 0;
  const auto* end = text.data() + text.size();
  const auto a = std::from_chars(text.data(), text.data() + dash, instance, 16);
  const auto b = std::from_chars(text.data() + dash + 1, end, seq);
  if (a.ec != std::errc() || a.ptr != text.data() + dash || b.ec != std::errc() || b.ptr != end ||
      dash + 1 == text.size()) {
    return std::nullopt;
  }
  return std::pair{instance, seq};
}

}  // namespace lifeline::admin
