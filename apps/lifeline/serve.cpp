// lifeline serve: the presence server, configured by flags and/or a TOML file.

#include <spdlog/spdlog.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <iostream>

#include "common.hpp"
#include "history_view.hpp"
#include "lifeline/admin.hpp"
#include "lifeline/history.hpp"
#include "lifeline/hooks.hpp"
#include "lifeline/log.hpp"
#include "lifeline/server.hpp"
#include "serve_config.hpp"
#include "serve_reload.hpp"

namespace lifeline::app {
namespace {

std::unique_ptr<HistoryStore> open_history(const ServeArgs& args) {
  if (args.data_dir.empty()) {
    return nullptr;
  }
  HistoryOptions o;
  o.data_dir = args.data_dir;
  const auto retention = duration_arg("--history-retention", args.history_retention);
  if (retention < std::chrono::hours(1)) {
    throw UsageError("--history-retention must be at least 1h");
  }
  o.retention = std::chrono::duration_cast<std::chrono::hours>(retention);
  try {
    return std::make_unique<HistoryStore>(o);
  } catch (const std::runtime_error& e) {  // a database from a newer lifeline
    throw UsageError(std::string("--data-dir: ") + e.what());
  }
}

// The admin API answers history and offline clients from the store.
void connect_history(AdminServer& admin, HistoryStore* history) {
  if (history == nullptr) {
    return;
  }
  admin.set_history([history](std::string_view id, SystemTime since, SystemTime until) -> std::optional<std::string> {
    const auto client = history->client(id);
    const auto h = history->history(id, since, until);
    if (!client || !h) {
      return std::nullopt;
    }
    return boost::json::serialize(history_json(*client, *h));
  });
  admin.set_known(
      [history](std::string_view id) -> std::optional<KnownClient> {
        const auto c = history->client(id);
        if (!c || c->online) {
          return std::nullopt;
        }
        return known_client(*c);
      },
      [history] {
        std::vector<KnownClient> out;
        for (const auto& c : history->offline_clients()) {
          out.push_back(known_client(c));
        }
        return out;
      });
  admin.add_metrics([history](std::string& out) { append_history_metrics(out, history->stats()); });
}

// SIGHUP: the config file read again and applied where no one is dropped;
// a file that does not read or validate changes nothing.
// `admin_token`: the token the admin API takes now; updated when the file's changed.
void reload(const ServeReloader& reloader, Server& server, AdminServer* admin, std::string& admin_token, Hooks* hooks) {
  logger()->info("SIGHUP received: reloading the configuration");
  try {
    auto fresh = reloader.reread();
    const auto next = to_options(fresh.args);
    const auto next_hooks = to_hook_options(fresh.args.hooks);
    std::string token = admin_token;
    if (admin != nullptr && !fresh.args.admin.token_file.empty()) {
      token = read_admin_token(fresh.args.admin.token_file);
    }
    const auto before = log_settings();
    set_log_settings(fresh.log);
    try {
      apply_log_options();
    } catch (...) {
      set_log_settings(before);
      throw;
    }
    auto result = server.reload(next);
    if (before != fresh.log) {
      result.changed.push_back("log " + before.first + "/" + before.second + " -> " + fresh.log.first + "/" +
                               fresh.log.second);
    }
    if (hooks != nullptr && hooks->options() != next_hooks) {
      hooks->reload(next_hooks);
      result.changed.push_back("hooks");
    } else if (hooks == nullptr && next_hooks.any()) {
      result.need_restart.push_back("hooks (none were configured at start)");
    }
    if (admin != nullptr && token != admin_token) {
      admin->set_token(token);
      admin_token = token;
      result.changed.push_back("admin token");
    }
    for (const auto& c : result.changed) {
      logger()->info("reloaded: {}", c);
    }
    for (const auto& c : result.need_restart) {
      logger()->warn("not reloaded, needs a restart: {}", c);
    }
    if (result.changed.empty()) {
      logger()->info("reloaded: nothing changed");
    }
  } catch (const std::exception& e) {
    logger()->error("SIGHUP: configuration not reloaded, the running one stays: {}", e.what());
  }
}

}  // namespace

void run_serve(CLI::App& cmd, ServeArgs& args) {
  const ServeReloader reloader(cmd);  // the command line as given, before the file adds to it
  if (!args.config.empty()) {
    apply_config(cmd, args.config);
    apply_log_options();  // the file may set log-format and log-level
  }
  const auto options = to_options(args);
  if (args.admin.listen.empty() && cmd.count("--admin-listen") > 0) {
    args.admin.listen = "-";  // given without a value: the default address
  }
  const auto admin_options = to_admin_options(args.admin, options.tls);
  // Declared before the server: each outlives the server's handler that feeds it.
  std::unique_ptr<HistoryStore> history = open_history(args);
  const auto hook_options = to_hook_options(args.hooks);
  std::unique_ptr<Hooks> hooks = hook_options.any() ? std::make_unique<Hooks>(hook_options) : nullptr;
  Server server(options);
  if (history) {
    server.subscribe([h = history.get()](const PresenceEvent& e) { h->record(e); });
  }
  if (hooks) {
    server.subscribe([h = hooks.get()](const PresenceEvent& e) { h->publish(e); });
  }
  log_data_at_debug(server);
  std::unique_ptr<AdminServer> admin;
  if (admin_options) {
    admin = std::make_unique<AdminServer>(server, *admin_options);
    connect_history(*admin, history.get());
    if (hooks) {
      admin->add_metrics([h = hooks.get()](std::string& out) { append_hook_metrics(out, h->stats()); });
    }
  }
  start_server(server);
  if (admin) {
    try {
      admin->start();
    } catch (const std::exception& e) {
      logger()->critical("{}", e.what());
      server.stop(Reason::shutdown);
      throw CLI::RuntimeError(1);
    }
  }
  // The WebSocket port first: a script that waits for --port-file finds both.
  if (!args.ws_port_file.empty() && !server.ws_ports().empty()) {
    write_port_file(args.ws_port_file, server.ws_ports().at(0));
  }
  if (!args.port_file.empty()) {
    write_port_file(args.port_file, server.ports().at(0));
  }
  if (admin && !args.admin.port_file.empty()) {
    write_port_file(args.admin.port_file, admin->port());
  }
  std::string admin_token = admin_options ? admin_options->token : "";
  const int sig =
      wait_for_termination_signal({}, [&] { reload(reloader, server, admin.get(), admin_token, hooks.get()); });
  stop_server(server, sig);
  if (admin) {
    admin->stop();  // after the server: event streams get every offline event first
  }
}

}  // namespace lifeline::app
