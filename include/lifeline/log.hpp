#pragma once
/// Logging: the library logs through one spdlog logger named "lifeline".
/// configure_logging() switches every lifeline log line between human-readable
/// text and one JSON object per line (docs/json.md, "Log lines"), and sets the
/// level. Both carry UTC RFC 3339 times. Call from one thread at startup.

#include <memory>
#include <string_view>

namespace spdlog {
class logger;
}

namespace lifeline {

enum class LogFormat { text, json };

/// The library's logger (created on first use, writing to stderr).
std::shared_ptr<spdlog::logger> logger();

/// Applies `format` and `level` ("trace".."off"); false if the level is unknown.
bool configure_logging(LogFormat format, std::string_view level);

}  // namespace lifeline
