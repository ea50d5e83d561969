// Fuzz target: `lifeline serve --config FILE`, from the TOML text to
// ServerOptions, through the same code (apps/lifeline/serve_config.cpp). Bad
// input must end in UsageError or a CLI11 error, each naming what was wrong;
// any other exception or a crash is a bug.

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <stdexcept>
#include <string_view>

#include "common.hpp"
#include "serve_config.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  try {
    (void)lifeline::app::options_from_toml(text);
  } catch (const lifeline::app::UsageError& e) {
    if (std::string_view(e.what()).empty()) std::abort();
  } catch (const CLI::Error& e) {
    if (std::string_view(e.what()).empty()) std::abort();
  }
  return 0;
}
