#pragma once
/// Human durations for options and output: "250ms", "1s", "1.5s", "2m", "1h".
/// Pure functions, thread-safe.

#include <chrono>
#include <optional>
#include <string>
#include <string_view>

namespace lifeline {

/// Parses a non-negative duration with a unit (us, ms, s, m, h, d); nullopt if invalid.
std::optional<std::chrono::milliseconds> parse_duration(std::string_view text);

/// Formats as the shortest exact form: "300ms", "10s", "2m".
std::string format_duration(std::chrono::milliseconds d);

/// RFC 3339 in UTC with milliseconds, as every JSON object and log line
/// shows instants (docs/json.md): "2026-12-03T17:20:01.123Z".
std::string format_time(std::chrono::system_clock::time_point t);

/// Parses RFC 3339 ("2026-12-03T17:20:01Z", fractions and "+01:00" offsets
/// allowed, "T" or a space between date and time); nullopt if invalid.
std::optional<std::chrono::system_clock::time_point> parse_time(std::string_view text);

}  // namespace lifeline
