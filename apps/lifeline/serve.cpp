// lifeline serve: the presence server, configured by flags and/or a TOML file.

#include <spdlog/spdlog.h>

#include <fstream>
#include <iostream>

#include "common.hpp"
#include "lifeline/log.hpp"
#include "lifeline/server.hpp"
#include "serve_config.hpp"

namespace lifeline::app {
namespace {

void run_serve(CLI::App& cmd, ServeArgs& args) {
  if (!args.config.empty()) {
    apply_config(cmd, args.config);
    apply_log_options();  // the file may set log-format and log-level
  }
  const auto options = to_options(args);
  Server server(options);
  try {
    server.start();
  } catch (const std::exception& e) {  // cannot bind, or a listen name that does not resolve
    logger()->critical("{}", e.what());
    throw CLI::RuntimeError(1);
  }
  if (!args.port_file.empty()) {
    // Written whole then renamed, so a reader never sees a partial file.
    const auto tmp = args.port_file + ".tmp";
    std::ofstream(tmp) << server.ports().at(0) << "\n";
    std::rename(tmp.c_str(), args.port_file.c_str());
  }
  const int sig = wait_for_termination_signal();
  logger()->info("signal {} received: saying BYE(shutdown) to {} clients", sig, server.online_count());
  server.stop(Reason::shutdown);
}

}  // namespace

void register_serve(CLI::App& app) {
  auto* cmd = app.add_subcommand("serve", "run the presence server");
  auto args = std::make_shared<ServeArgs>();
  add_serve_options(*cmd, *args);
  cmd->callback([cmd, args] { run_serve(*cmd, *args); });
}

}  // namespace lifeline::app
