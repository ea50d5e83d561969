#include "lifeline/duration.hpp"

#include <array>
#include <charconv>
#include <cmath>
#include <utility>

namespace lifeline {

std::optional<std::chrono::milliseconds> parse_duration(std::string_view text) {
  static constexpr std::array<std::pair<std::string_view, double>, 6> kUnits = {
      {{"us", 0.001}, {"ms", 1.0}, {"s", 1000.0}, {"m", 60'000.0}, {"h", 3'600'000.0}, {"d", 86'400'000.0}}};
  std::size_t split = 0;
  while (split < text.size() && ((text[split] >= '0' && text[split] <= '9') || text[split] == '.')) {
    ++split;
  }
  const auto number = text.substr(0, split);
  const auto unit = text.substr(split);
  if (number.empty() || unit.empty()) {
    return std::nullopt;
  }
  double value = 0;
  const auto [end, ec] = std::from_chars(number.data(), number.data() + number.size(), value);
  if (ec != std::errc() || end != number.data() + number.size()) {
    return std::nullopt;
  }
  for (const auto& [name, scale] : kUnits) {
    if (unit == name) {
      const double ms = value * scale;
      if (!std::isfinite(ms) || ms > 1e12) {
        return std::nullopt;
      }
      // Round up, so a non-zero duration never becomes 0 ("use the default").
      return std::chrono::milliseconds(static_cast<std::int64_t>(std::ceil(ms - 1e-9)));
    }
  }
  return std::nullopt;
}

std::string format_duration(std::chrono::milliseconds d) {
  const auto ms = d.count();
  if (ms != 0 && ms % 3'600'000 == 0) {
    return std::to_string(ms / 3'600'000) + "h";
  }
  if (ms != 0 && ms % 60'000 == 0) {
    return std::to_string(ms / 60'000) + "m";
  }
  if (ms != 0 && ms % 1000 == 0) {
    return std::to_string(ms / 1000) + "s";
  }
  return std::to_string(ms) + "ms";
}

}  // namespace lifeline
