// lifeline serve: the presence server, configured by flags and/or a TOML file.

#include <spdlog/spdlog.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <iostream>

#include "common.hpp"
#include "lifeline/admin.hpp"
#include "lifeline/log.hpp"
#include "lifeline/server.hpp"
#include "serve_config.hpp"

namespace lifeline::app {
namespace {

// Written whole then renamed, so a reader never sees a partial file.
void write_port_file(const std::string& path, std::uint16_t port) {
  const auto tmp = path + ".tmp";
  std::ofstream(tmp) << port << "\n";
  if (std::rename(tmp.c_str(), path.c_str()) != 0) {
    logger()->error("cannot write the port file '{}': {}", path, std::strerror(errno));
  }
}

void run_serve(CLI::App& cmd, ServeArgs& args) {
  if (!args.config.empty()) {
    apply_config(cmd, args.config);
    apply_log_options();  // the file may set log-format and log-level
  }
  const auto options = to_options(args);
  if (args.admin.listen.empty() && cmd.count("--admin-listen") > 0) {
    args.admin.listen = "-";  // given without a value: the default address
  }
  const auto admin_options = to_admin_options(args.admin, options.tls);
  Server server(options);
  std::unique_ptr<AdminServer> admin;
  if (admin_options) {
    admin = std::make_unique<AdminServer>(server, *admin_options);
  }
  try {
    server.start();
  } catch (const std::exception& e) {  // cannot bind, or a listen name that does not resolve
    logger()->critical("{}", e.what());
    throw CLI::RuntimeError(1);
  }
  if (admin) {
    try {
      admin->start();
    } catch (const std::exception& e) {
      logger()->critical("{}", e.what());
      server.stop(Reason::shutdown);
      throw CLI::RuntimeError(1);
    }
  }
  if (!args.port_file.empty()) {
    write_port_file(args.port_file, server.ports().at(0));
  }
  if (admin && !args.admin.port_file.empty()) {
    write_port_file(args.admin.port_file, admin->port());
  }
  const int sig = wait_for_termination_signal();
  logger()->info("signal {} received: saying BYE(shutdown) to {} clients", sig, server.online_count());
  server.stop(Reason::shutdown);
  if (admin) {
    admin->stop();  // after the server: event streams get every offline event first
  }
}

}  // namespace

void register_serve(CLI::App& app) {
  auto* cmd = app.add_subcommand("serve", "run the presence server");
  auto args = std::make_shared<ServeArgs>();
  add_serve_options(*cmd, *args);
  cmd->callback([cmd, args] { run_serve(*cmd, *args); });
}

}  // namespace lifeline::app
