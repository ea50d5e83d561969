// Instants as text (RFC 3339 in UTC, the one format of docs/json.md), and server run ids.

#include <charconv>
#include <cstdio>
#include <ctime>

#include "lifeline/duration.hpp"
#include "lifeline/presence.hpp"

namespace lifeline {
namespace {

// Reads exactly `n` digits at `pos` into `out`; false if they are not digits.
bool digits(std::string_view s, std::size_t pos, std::size_t n, int& out) {
  if (pos + n > s.size()) {
    return false;
  }
  const auto* first = s.data() + pos;
  const auto [end, ec] = std::from_chars(first, first + n, out);
  return ec == std::errc() && end == first + n;
}

// "Z", "+hh:mm" or "-hh:mm" at `pos`, as an offset east of UTC; nullopt if invalid.
std::optional<std::chrono::minutes> zone_offset(std::string_view s, std::size_t pos) {
  if (pos + 1 == s.size() && (s[pos] == 'Z' || s[pos] == 'z')) {
    return std::chrono::minutes(0);
  }
  int hh = 0;
  int mm = 0;
  if (pos + 6 != s.size() || (s[pos] != '+' && s[pos] != '-') || !digits(s, pos + 1, 2, hh) || s[pos + 3] != ':' ||
      !digits(s, pos + 4, 2, mm) || hh > 23 || mm > 59) {
    return std::nullopt;
  }
  const std::chrono::minutes off(hh * 60 + mm);
  return s[pos] == '-' ? -off : off;
}

}  // namespace

std::string format_time(std::chrono::system_clock::time_point t) {
  const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(t.time_since_epoch()).count();
  const auto secs = static_cast<std::time_t>(ms >= 0 ? ms / 1000 : (ms - 999) / 1000);
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char buf[40];
  const auto n = std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S", &tm);
  std::snprintf(buf + n, sizeof buf - n, ".%03dZ", static_cast<int>(((ms % 1000) + 1000) % 1000));
  return buf;
}

std::string instance_text(std::uint64_t instance) {
  char buf[17];
  std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(instance));
  return buf;
}

std::optional<std::chrono::system_clock::time_point> parse_time(std::string_view s) {
  int y = 0;
  int mo = 0;
  int d = 0;
  int h = 0;
  int mi = 0;
  int sec = 0;
  if (!digits(s, 0, 4, y) || s.size() < 20 || s[4] != '-' || !digits(s, 5, 2, mo) || s[7] != '-' ||
      !digits(s, 8, 2, d) || (s[10] != 'T' && s[10] != 't' && s[10] != ' ') || !digits(s, 11, 2, h) || s[13] != ':' ||
      !digits(s, 14, 2, mi) || s[16] != ':' || !digits(s, 17, 2, sec)) {
    return std::nullopt;
  }
  const std::chrono::year_month_day ymd{std::chrono::year(y), std::chrono::month(static_cast<unsigned>(mo)),
                                        std::chrono::day(static_cast<unsigned>(d))};
  if (!ymd.ok() || h > 23 || mi > 59 || sec > 60) {
    return std::nullopt;
  }
  std::size_t pos = 19;
  std::chrono::nanoseconds frac{0};
  if (pos < s.size() && s[pos] == '.') {
    std::int64_t scale = 100'000'000;
    ++pos;
    const auto start = pos;
    for (; pos < s.size() && s[pos] >= '0' && s[pos] <= '9'; ++pos) {
      frac += std::chrono::nanoseconds((s[pos] - '0') * scale);
      scale /= 10;
    }
    if (pos == start) {
      return std::nullopt;
    }
  }
  const auto offset = zone_offset(s, pos);
  if (!offset) {
    return std::nullopt;
  }
  const auto t = std::chrono::sys_days(ymd) + std::chrono::hours(h) + std::chrono::minutes(mi) +
                 std::chrono::seconds(sec) + frac - *offset;
  return std::chrono::time_point_cast<std::chrono::system_clock::duration>(t);
}

}  // namespace lifeline
