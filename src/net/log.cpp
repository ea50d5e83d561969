#include "lifeline/log.hpp"

#include <spdlog/pattern_formatter.h>
#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>

#include <boost/json/serialize.hpp>
#include <boost/json/string.hpp>

namespace lifeline {
namespace {

// Writes the message as a JSON string, so quotes and control bytes in a
// peer-supplied id cannot break the line.
class JsonMessageFlag final : public spdlog::custom_flag_formatter {
 public:
  void format(const spdlog::details::log_msg& msg, const std::tm& /*tm*/, spdlog::memory_buf_t& dest) override {
    const auto quoted =
        boost::json::serialize(boost::json::string(std::string_view(msg.payload.data(), msg.payload.size())));
    dest.append(quoted.data(), quoted.data() + quoted.size());
  }
  std::unique_ptr<custom_flag_formatter> clone() const override { return std::make_unique<JsonMessageFlag>(); }
};

}  // namespace

std::shared_ptr<spdlog::logger> logger() {
  static const std::shared_ptr<spdlog::logger> instance = [] {
    auto existing = spdlog::get("lifeline");
    if (existing) {
      return existing;
    }
    auto l = std::make_shared<spdlog::logger>("lifeline", std::make_shared<spdlog::sinks::stderr_sink_mt>());
    l->set_pattern("%Y-%m-%dT%H:%M:%S.%e %^%l%$ %v");
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
    f->set_pattern(R"({"ts":"%Y-%m-%dT%H:%M:%S.%eZ","level":"%l","msg":%*})");
    l->set_formatter(std::move(f));
  } else {
    l->set_pattern("%Y-%m-%dT%H:%M:%S.%e %^%l%$ %v");
  }
  return true;
}

}  // namespace lifeline
