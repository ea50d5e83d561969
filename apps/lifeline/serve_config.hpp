#pragma once
// lifeline serve's options: flags, the TOML file that may set any of them, and
// their translation into ServerOptions. Separate from serve.cpp so that the
// config fuzz target (fuzz/config_fuzz.cpp) runs exactly this code.

#include <CLI/CLI.hpp>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "lifeline/server.hpp"
#include "serve_admin.hpp"
#include "serve_hooks.hpp"

namespace lifeline::app {

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
  std::size_t max_sessions_per_id = 8;
  std::vector<std::string> ws_listen;
  std::string ws_path = "/lifeline";
  std::vector<std::string> ws_allowed_origins;
  std::size_t ws_max_upgrade_bytes = 8192;
  std::string ws_port_file;
  std::uint32_t max_data = 65536;
  std::uint32_t max_hello = 4096;
  std::uint32_t max_bye = 1024;
  std::size_t max_connections = 0;
  std::size_t max_per_address = 0;
  std::size_t max_outbound = std::size_t{4} << 20U;
  std::size_t event_buffer = 4096;
  bool no_keepalive = false;
  ServerTlsOptions tls;
  std::string auth_secret_file;
  std::string tls_ticket_key_file;
  std::string port_file;
  std::string config;
  std::string data_dir;  // history off when empty
  std::string history_retention = "30d";
  std::string cluster;  // redis://...; no cluster when empty
  std::string node_id;
  std::string cluster_password_file;
  std::string cluster_prefix = "{lifeline}";
  std::string cluster_lease = "5s";
  std::string offline_grace = "0s";
  std::size_t cluster_stream_length = 100000;
  bool cluster_required = false;
  AdminArgs admin;
  HookArgs hooks;
};

/// Runs the server until SIGINT/SIGTERM: serve.cpp on Linux, serve_win.cpp
/// in the Windows build. register_serve() (serve_register.cpp) calls it.
void run_serve(CLI::App& cmd, ServeArgs& args);

/// Starts `server`; on failure (an address that cannot be bound or a name
/// that does not resolve) logs why and ends the program with status 1.
void start_server(Server& server);

/// After signal `sig`: BYE(shutdown) to every client, and the server stops.
void stop_server(Server& server, int sig);

/// Adds every `serve` option to `cmd`, bound to `args`.
void add_serve_options(CLI::App& cmd, ServeArgs& args);

/// Applies every key of the TOML file at `path` to the option of the same
/// name, unless that option was given on the command line (flags win).
/// Throws UsageError naming the file and the key.
void apply_config(CLI::App& cmd, const std::string& path);
/// The same for TOML text; `origin` starts every error message.
void apply_config_text(CLI::App& cmd, std::string_view text, const std::string& origin);

/// ServerOptions from the parsed arguments; throws UsageError naming the option.
ServerOptions to_options(const ServeArgs& a);

/// Everything a TOML file can configure, as `serve --config` reads it, from
/// text alone (no flags); throws UsageError or CLI::Error on bad input.
ServerOptions options_from_toml(std::string_view text);

}  // namespace lifeline::app
