// `lifeline serve` as a subcommand; run_serve() is serve.cpp's on Linux and
// serve_win.cpp's in the Windows build.
#include <memory>

#include "common.hpp"
#include "serve_config.hpp"

namespace lifeline::app {

void register_serve(CLI::App& app) {
  auto* cmd = app.add_subcommand("serve", "run the presence server");
  auto args = std::make_shared<ServeArgs>();
  add_serve_options(*cmd, *args);
  cmd->callback([cmd, args] { run_serve(*cmd, *args); });
}

}  // namespace lifeline::app
