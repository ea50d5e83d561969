#pragma once
// SIGHUP for lifeline serve: the command line as it was given, read again
// with the config file as it is now, and applied to the running server where
// that needs no restart (docs/operations.md, "Reloading").

#include <CLI/CLI.hpp>
#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "serve_config.hpp"

namespace lifeline::app {

class ServeReloader {
 public:
  /// Remembers the options `cmd` (and its parent's log options) got on the
  /// command line; call before the config file is applied.
  explicit ServeReloader(const CLI::App& cmd);

  struct Reread {
    ServeArgs args;
    std::pair<std::string, std::string> log;  // --log-format, --log-level
  };
  /// The arguments as the command line and the config file give them now
  /// (nothing applied yet). Throws UsageError (or CLI::Error) naming the file
  /// and the key.
  Reread reread() const;

 private:
  std::vector<std::pair<std::string, std::vector<std::string>>> given_;  // option name, values
  std::vector<std::pair<std::string, std::vector<std::string>>> given_global_;
};

}  // namespace lifeline::app
