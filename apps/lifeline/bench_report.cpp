// lifeline-bench: the RTT histogram, /proc sampling of the server, and the
// table / JSON printer shared by all scenarios.

#include <unistd.h>

#include <bit>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <sstream>

#include "bench.hpp"

namespace lifeline::app::bench {

std::string fmt(double v, int decimals) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.*f", decimals, v);
  return buf;
}

std::int64_t num(const boost::json::object& o, const char* key) {
  const auto* v = o.if_contains(key);
  return v == nullptr ? 0 : v->to_number<std::int64_t>();
}

std::size_t Histogram::bucket(std::uint64_t us) {
  if (us < 64) return us;
  const unsigned e = static_cast<unsigned>(std::bit_width(us)) - 1;  // >= 6
  const std::uint64_t m = us >> (e - 5);                             // 32..63
  return std::min<std::size_t>(64 + (e - 6) * 32 + (m - 32), kBuckets - 1);
}

std::uint64_t Histogram::value(std::size_t b) {
  if (b < 64) return b;
  const std::size_t e = (b - 64) / 32 + 6;
  const std::uint64_t m = (b - 64) % 32 + 32;
  // Middle of the bucket: halves the worst-case error.
  return (m << (e - 5)) + ((std::uint64_t{1} << (e - 5)) >> 1);
}

void Histogram::add(std::uint64_t us) {
  ++counts_[bucket(us)];
  ++total_;
  max_ = std::max(max_, us);
}

void Histogram::merge(const Histogram& o) {
  for (std::size_t i = 0; i < kBuckets; ++i) counts_[i] += o.counts_[i];
  total_ += o.total_;
  max_ = std::max(max_, o.max_);
}

std::uint64_t Histogram::percentile(double q) const {
  if (total_ == 0) return 0;
  const auto want = static_cast<std::uint64_t>(std::ceil(q * static_cast<double>(total_)));
  std::uint64_t seen = 0;
  for (std::size_t i = 0; i < kBuckets; ++i) {
    seen += counts_[i];
    if (seen >= std::max<std::uint64_t>(want, 1)) return std::min(value(i), max_);
  }
  return max_;
}

boost::json::object Histogram::to_json() const {
  boost::json::array b;
  for (std::size_t i = 0; i < kBuckets; ++i) {
    if (counts_[i] != 0) b.push_back(boost::json::array{i, counts_[i]});
  }
  return {{"max", max_}, {"b", b}};
}

Histogram Histogram::from_json(const boost::json::value& v) {
  Histogram h;
  const auto& o = v.as_object();
  h.max_ = boost::json::value_to<std::uint64_t>(o.at("max"));
  for (const auto& e : o.at("b").as_array()) {
    const auto i = boost::json::value_to<std::size_t>(e.as_array().at(0));
    const auto c = boost::json::value_to<std::uint64_t>(e.as_array().at(1));
    if (i < kBuckets) {
      h.counts_[i] += c;
      h.total_ += c;
    }
  }
  return h;
}

ProcSample read_proc(int pid) {
  ProcSample s;
  std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
  std::string line;
  if (!std::getline(stat, line)) return s;
  // The command name (field 2) may hold spaces and ')': fields after the last ')'.
  const auto close = line.rfind(')');
  if (close == std::string::npos) return s;
  std::istringstream rest(line.substr(close + 2));
  std::string field;
  unsigned long utime = 0;
  unsigned long stime = 0;
  for (int f = 3; f <= 15 && rest >> field; ++f) {
    if (f == 14) utime = std::stoul(field);
    if (f == 15) stime = std::stoul(field);
  }
  const auto hz = static_cast<double>(sysconf(_SC_CLK_TCK));
  s.user_s = static_cast<double>(utime) / hz;
  s.sys_s = static_cast<double>(stime) / hz;
  std::ifstream status("/proc/" + std::to_string(pid) + "/status");
  while (std::getline(status, line)) {
    if (line.rfind("VmRSS:", 0) == 0) s.rss_kb = std::stol(line.substr(6));
  }
  s.ok = true;
  return s;
}

void Report::add(const std::string& key, const std::string& label, const boost::json::value& v,
                 const std::string& text) {
  json[key] = v;
  rows.emplace_back(label, text);
}

void Report::add(const std::string& key, const std::string& label, double v, int decimals, const std::string& unit) {
  const std::string rounded = fmt(v, decimals);
  std::string text = rounded;
  if (!unit.empty()) text += " " + unit;
  // JSON gets the number rounded the same way the table shows it.
  if (!std::isfinite(v)) {
    json[key] = nullptr;
  } else if (decimals == 0) {
    json[key] = static_cast<std::int64_t>(std::llround(v));
  } else {
    json[key] = std::strtod(rounded.c_str(), nullptr);
  }
  rows.emplace_back(label, text);
}

void Report::print(bool as_json) const {
  if (as_json) {
    std::cout << boost::json::serialize(json) << std::endl;
    return;
  }
  std::size_t width = 0;
  for (const auto& r : rows) width = std::max(width, r.first.size());
  std::printf("%s\n", title.c_str());
  for (const auto& [label, text] : rows) {
    std::printf("  %-*s  %s\n", static_cast<int>(width), label.c_str(), text.c_str());
  }
  std::fflush(stdout);
}

}  // namespace lifeline::app::bench
