// lifeline serve: the presence server, configured by flags and/or a TOML file.

#include <spdlog/spdlog.h>
#include <toml++/toml.h>

#include <fstream>
#include <iostream>

#include "common.hpp"
#include "lifeline/log.hpp"
#include "lifeline/server.hpp"

namespace lifeline::app {
namespace {

struct ServeArgs {
  std::vector<std::string> listen{"127.0.0.1:7000"};
  unsigned threads = 0;
  std::string interval = "10s";
  std::string timeout = "30s";
  std::string min_interval = "100ms";
  std::string max_interval = "5m";
  std::string min_timeout = "300ms";
  std::string max_timeout = "15m";
  std::string tick = "50ms";
  std::string handshake_timeout = "5s";
  std::string duplicates = "takeover";
  std::uint32_t max_data = 65536;
  std::size_t max_connections = 0;
  std::size_t max_per_address = 0;
  bool no_keepalive = false;
  std::string port_file;
  std::string config;
};

// Applies every key of a TOML file to the option of the same name, unless that
// option was given on the command line (flags win over the file).
void apply_config(CLI::App& cmd, const std::string& path) {
  toml::table table;
  try {
    table = toml::parse_file(path);
  } catch (const toml::parse_error& e) {
    std::ostringstream where;
    where << e.source().begin;
    throw UsageError("config file " + path + ": " + std::string(e.description()) + " at " + where.str());
  }
  for (const auto& [key, value] : table) {
    const std::string name(key.str());
    CLI::Option* opt = name == "config" ? nullptr : cmd.get_option_no_throw("--" + name);
    if (opt == nullptr) {
      std::string msg = "config file " + path;
      msg += ": unknown key '" + name + "' (see lifeline serve --help)";
      throw UsageError(msg);
    }
    if (opt->count() > 0) {
      continue;
    }
    std::vector<std::string> items;
    const auto add = [&](const toml::node& n) {
      if (auto s = n.value<std::string>()) {
        items.push_back(*s);
      } else if (auto i = n.value<std::int64_t>()) {
        items.push_back(std::to_string(*i));
      } else if (auto b = n.value<bool>()) {
        items.emplace_back(*b ? "true" : "false");
      } else {
        std::string msg = "config file " + path;
        msg += ": key '" + name + "' must be a string, integer or boolean";
        throw UsageError(msg);
      }
    };
    if (const auto* arr = value.as_array()) {
      for (const auto& n : *arr) {
        add(n);
      }
    } else {
      add(value);
    }
    opt->clear();
    for (auto& item : items) {
      opt->add_result(item);
    }
    opt->run_callback();
  }
}

ServerOptions to_options(const ServeArgs& a) {
  ServerOptions o;
  o.listen = split_list(a.listen);
  o.threads = a.threads;
  o.heartbeat.default_interval = duration_arg("--interval", a.interval);
  o.heartbeat.default_timeout = duration_arg("--timeout", a.timeout);
  o.heartbeat.min_interval = duration_arg("--min-interval", a.min_interval);
  o.heartbeat.max_interval = duration_arg("--max-interval", a.max_interval);
  o.heartbeat.min_timeout = duration_arg("--min-timeout", a.min_timeout);
  o.heartbeat.max_timeout = duration_arg("--max-timeout", a.max_timeout);
  o.tick = duration_arg("--tick", a.tick);
  o.handshake_timeout = duration_arg("--handshake-timeout", a.handshake_timeout);
  o.duplicates = a.duplicates == "reject" ? DuplicatePolicy::reject : DuplicatePolicy::takeover;
  o.max_data = a.max_data;
  o.max_connections = a.max_connections;
  o.max_connections_per_address = a.max_per_address;
  o.tcp_keepalive = !a.no_keepalive;
  if (auto err = o.validate(); !err.empty()) {
    throw UsageError("invalid configuration: " + err);
  }
  return o;
}

void run_serve(CLI::App& cmd, ServeArgs& args) {
  if (!args.config.empty()) {
    apply_config(cmd, args.config);
  }
  const auto options = to_options(args);
  Server server(options);
  try {
    server.start();
  } catch (const std::system_error& e) {
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
  cmd->add_option("--listen,-l", args->listen, "address HOST:PORT to listen on (repeatable; port 0 = any free port)")
      ->capture_default_str();
  cmd->add_option("--threads,-t", args->threads,
                  "I/O threads, each with its own sessions and timing wheel (0 = one per core)")
      ->capture_default_str();
  cmd->add_option("--interval", args->interval, "default heartbeat interval (clients may propose their own)")
      ->capture_default_str();
  cmd->add_option("--timeout", args->timeout, "default liveness timeout: silent this long = offline")
      ->capture_default_str();
  cmd->add_option("--min-interval", args->min_interval, "smallest interval a client may get")->capture_default_str();
  cmd->add_option("--max-interval", args->max_interval, "largest interval a client may get")->capture_default_str();
  cmd->add_option("--min-timeout", args->min_timeout, "smallest timeout a client may get")->capture_default_str();
  cmd->add_option("--max-timeout", args->max_timeout, "largest timeout a client may get")->capture_default_str();
  cmd->add_option("--tick", args->tick, "timing wheel resolution: deaths are reported at most one tick late")
      ->capture_default_str();
  cmd->add_option("--handshake-timeout", args->handshake_timeout, "a connection must send HELLO within this time")
      ->capture_default_str();
  cmd->add_option("--duplicates", args->duplicates, "a second connection with an online id: takeover or reject")
      ->check(CLI::IsMember({"takeover", "reject"}))
      ->capture_default_str();
  cmd->add_option("--max-data", args->max_data, "largest DATA payload accepted, bytes")->capture_default_str();
  cmd->add_option("--max-connections", args->max_connections,
                  "connections beyond this get ERROR too_many_connections (0 = no limit)")
      ->check(CLI::Range(0, 100'000'000))
      ->capture_default_str();
  cmd->add_option("--max-per-address", args->max_per_address,
                  "connections per source address beyond this get ERROR too_many_connections (0 = no limit)")
      ->check(CLI::Range(0, 100'000'000))
      ->capture_default_str();
  cmd->add_flag("--no-keepalive", args->no_keepalive, "do not set TCP keepalive / TCP_USER_TIMEOUT");
  cmd->add_option("--port-file", args->port_file, "write the first bound port to this file once listening");
  cmd->add_option("--config,-c", args->config, "TOML file with any of these options as keys (flags win)");
  cmd->callback([cmd, args] { run_serve(*cmd, *args); });
}

}  // namespace lifeline::app
