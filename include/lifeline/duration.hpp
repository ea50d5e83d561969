#pragma once
/// Human durations for options and output: "250ms", "1s", "1.5s", "2m", "1h".
/// Pure functions, thread-safe.

#include <chrono>
#include <optional>
#include <string>
#include <string_view>

namespace lifeline {

/// Parses a non-negative duration with a unit (us, ms, s, m, h); nullopt if invalid.
std::optional<std::chrono::milliseconds> parse_duration(std::string_view text);

/// Formats as the shortest exact form: "300ms", "10s", "2m".
std::string format_duration(std::chrono::milliseconds d);

}  // namespace lifeline
