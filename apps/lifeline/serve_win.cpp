// lifeline serve in the Windows build: the same options and config file as on
// Linux (serve_config.cpp), the same server, without the layers Windows does
// not get (TLS, the admin API, history, hooks: docs/operations.md) and
// without SIGHUP. Each of their options is refused by name rather than ignored.
#include <spdlog/spdlog.h>

#include "common.hpp"
#include "lifeline/log.hpp"
#include "lifeline/server.hpp"
#include "serve_config.hpp"

namespace lifeline::app {
namespace {

void refuse_unavailable(const CLI::App& cmd, const ServeArgs& args) {
  const auto refuse = [](const std::string& what) {
    throw UsageError(what + " is not available in the Windows build of lifeline");
  };
  if (!args.admin.listen.empty() || cmd.count("--admin-listen") > 0) {
    refuse("--admin-listen (the admin API)");
  }
  if (!args.data_dir.empty()) {
    refuse("--data-dir (history)");
  }
  if (!args.hooks.on_online.empty() || !args.hooks.on_offline.empty() || !args.hooks.webhook.empty()) {
    refuse("--on-online, --on-offline and --webhook (hooks)");
  }
  if (args.tls.enabled() || !args.tls_ticket_key_file.empty()) {
    refuse("--tls-cert and --tls-ticket-key-file (TLS: this build has no OpenSSL)");
  }
}

}  // namespace

void run_serve(CLI::App& cmd, ServeArgs& args) {
  if (!args.config.empty()) {
    apply_config(cmd, args.config);
    apply_log_options();
  }
  refuse_unavailable(cmd, args);
  Server server(to_options(args));
  log_data_at_debug(server);
  start_server(server);
  // The WebSocket port first: a script that waits for --port-file finds both.
  if (!args.ws_port_file.empty() && !server.ws_ports().empty()) {
    write_port_file(args.ws_port_file, server.ws_ports().at(0));
  }
  if (!args.port_file.empty()) {
    write_port_file(args.port_file, server.ports().at(0));
  }
  const int sig = wait_for_termination_signal();
  stop_server(server, sig);
}

}  // namespace lifeline::app
