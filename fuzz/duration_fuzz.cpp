// Fuzz target: duration parsing, the input of every interval and timeout in
// flags and TOML files. A parsed duration must format back to text that parses
// to the same value.

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "lifeline/duration.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  const auto d = lifeline::parse_duration(text);
  if (d) {
    const auto again = lifeline::parse_duration(lifeline::format_duration(*d));
    if (!again || *again != *d) {
      std::abort();
    }
  }
  return 0;
}
