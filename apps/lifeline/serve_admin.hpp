#pragma once
// lifeline serve's admin API options (--admin-*) and their translation into
// AdminOptions. Part of ServeArgs, so TOML files take them as keys too.

#include <CLI/CLI.hpp>
#include <optional>
#include <string>

#include "lifeline/admin.hpp"

namespace lifeline::app {

struct AdminArgs {
  std::string listen;  // empty: no admin API; "-" stands for the default address
  std::string token_file;
  bool insecure = false;
  std::string port_file;
  std::string keepalive = "15s";
  std::string request_timeout = "10s";
  std::size_t max_connections = 64;
};

/// Adds the --admin-* options to `cmd`.
void add_admin_options(CLI::App& cmd, AdminArgs& args);

/// AdminOptions from the arguments, with the server's TLS certificate when it
/// has one; nullopt if the admin API is off. Throws UsageError naming the option.
std::optional<AdminOptions> to_admin_options(const AdminArgs& a, const ServerTlsOptions& tls);

/// The token in an --admin-token-file (its first line, trimmed); throws UsageError naming the file.
std::string read_admin_token(const std::string& path);

}  // namespace lifeline::app
