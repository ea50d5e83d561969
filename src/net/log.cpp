#include "lifeline/log.hpp"

#include <spdlog/pattern_formatter.h>
#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <boost/json/serialize.hpp>
#include <boost/json/string.hpp>
#include <string>
#include <string_view>

namespace lifeline {
namespace {

// One `key=value` token of a message: the key is [a-z_]+, the value runs to
// the next space, or is a "quoted string". Returns false if `text` at `pos`
// is not one.
bool next_field(std::string_view text, std::size_t& pos, std::string_view& key, std::string& value) {
  const auto eq = text.find('=', pos);
  const auto space = text.find(' ', pos);
  if (eq == std::string_view::npos || eq == pos || (space != std::string_view::npos && space < eq)) {
    return false;
  }
  key = text.substr(pos, eq - pos);
  if (key.find_first_not_of("abcdefghijklmnopqrstuvwxyz_") != std::string_view::npos) {
    return false;
  }
  auto at = eq + 1;
  value.clear();
  if (at < text.size() && text[at] == '"') {
    const auto close = text.find('"', at + 1);
    if (close == std::string_view::npos) {
      return false;
    }
    value = text.substr(at + 1, close - at - 1);
    at = close + 1;
  } else {
    const auto stop = std::min(text.find(' ', at), text.size());
    value = text.substr(at, stop - at);
    at = stop;
  }
  pos = at;
  return true;
}

// The message as JSON fields (docs/json.md, "Log lines"): "msg" holds the whole
// text, quoted, so quotes and control bytes in a peer-supplied id cannot
// break the line; each `key=value` token of it becomes a field of its own,
// a one-word start before them becomes "kind", and a trailing "(...)" after
// them becomes "cause". So `offline id=a peer=1.2.3.4:5 reason=timeout
// (nothing received for 3000 ms)` carries kind, id, peer, reason and cause.
// Keys the line itself uses (v, at, level, msg, kind) are not taken.
class JsonMessageFlag final : public spdlog::custom_flag_formatter {
 public:
  void format(const spdlog::details::log_msg& msg, const std::tm& /*tm*/, spdlog::memory_buf_t& dest) override {
    const std::string_view text(msg.payload.data(), msg.payload.size());
    append(dest, "\"msg\":");
    append(dest, boost::json::serialize(boost::json::string(text)));
    std::size_t pos = 0;
    std::string_view key;
    std::string value;
    bool fields = false;
    while (pos < text.size()) {
      const auto start = pos;
      if (next_field(text, pos, key, value) && key != "v" && key != "at" && key != "level" && key != "msg" &&
          key != "kind") {
        const auto first = text.substr(0, text.find(' '));
        if (!fields && start == first.size() + 1 &&
            first.find_first_not_of("abcdefghijklmnopqrstuvwxyz_") == std::string_view::npos) {
          add(dest, "kind", first);  // "offline id=..." is an offline event
        }
        add(dest, key, value);
        fields = true;
      } else if (fields && text[start] == '(' && text.back() == ')') {
        add(dest, "cause", text.substr(start + 1, text.size() - start - 2));
        break;
      } else {
        pos = std::min(text.find(' ', start), text.size());  // a plain word: only in msg
      }
      while (pos < text.size() && text[pos] == ' ') {
        ++pos;
      }
    }
  }
  std::unique_ptr<custom_flag_formatter> clone() const override { return std::make_unique<JsonMessageFlag>(); }

 private:
  static void append(spdlog::memory_buf_t& dest, std::string_view s) { dest.append(s.data(), s.data() + s.size()); }
  static void add(spdlog::memory_buf_t& dest, std::string_view key, std::string_view value) {
    append(dest, ",");
    append(dest, boost::json::serialize(boost::json::string(key)));
    append(dest, ":");
    append(dest, boost::json::serialize(boost::json::string(value)));
  }
};

// Text and JSON lines carry the same time: UTC, RFC 3339, milliseconds, "Z".
constexpr const char* kTextPattern = "%Y-%m-%dT%H:%M:%S.%eZ %^%l%$ %v";

}  // namespace

std::shared_ptr<spdlog::logger> logger() {
  static const std::shared_ptr<spdlog::logger> instance = [] {
    auto existing = spdlog::get("lifeline");
    if (existing) {
      return existing;
    }
    auto l = std::make_shared<spdlog::logger>("lifeline", std::make_shared<spdlog::sinks::stderr_sink_mt>());
    l->set_formatter(std::make_unique<spdlog::pattern_formatter>(kTextPattern, spdlog::pattern_time_type::utc));
    l->flush_on(spdlog::level::info);
    spdlog::register_logger(l);
    return l;
  }();
  return instance;
}

bool configure_logging(LogFormat format, std::string_view level) {
  const auto lvl = spdlog::level::from_str(std::string(level));
  if (lvl == spdlog::level::off && level != "off") {
    return false;
  }
  auto l = logger();
  l->set_level(lvl);
  if (format == LogFormat::json) {
    auto f = std::make_unique<spdlog::pattern_formatter>(spdlog::pattern_time_type::utc);
    f->add_flag<JsonMessageFlag>('*');
    f->set_pattern(R"({"v":1,"at":"%Y-%m-%dT%H:%M:%S.%eZ","level":"%l",%*})");
    l->set_formatter(std::move(f));
  } else {
    l->set_formatter(std::make_unique<spdlog::pattern_formatter>(kTextPattern, spdlog::pattern_time_type::utc));
  }
  return true;
}

}  // namespace lifeline
