#pragma once
// Helpers shared by the lifeline subcommands.

#include <CLI/CLI.hpp>
#include <chrono>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "lifeline/client.hpp"
#include "lifeline/protocol.hpp"
#include "lifeline/server.hpp"

namespace lifeline::app {

/// Thrown for a bad option value; main() prints it and exits with status 2.
struct UsageError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

/// "2026-11-23T15:40:00.123Z" for now (UTC, milliseconds).
std::string timestamp();
std::string timestamp(std::chrono::system_clock::time_point t);

/// Parses a duration option value ("250ms", "1s"); throws UsageError naming `option`.
std::chrono::milliseconds duration_arg(const std::string& option, const std::string& value);

/// Splits "a:1,b:2" and repeated options into a flat list of addresses.
std::vector<std::string> split_list(const std::vector<std::string>& values);

/// Parses "key=value" labels; throws UsageError on a missing '='.
std::vector<proto::Label> parse_labels(const std::vector<std::string>& values);

/// Blocks until SIGINT or SIGTERM (returns the signal number) or until `done`
/// holds (returns 0; checked every 50 ms, never called if empty). SIGHUP runs
/// `on_hangup` (serve reloads its configuration), or is logged and ignored
/// without one: it must not kill anything. The signals are those
/// prepare_signals() blocked, so only this wait takes them.
int wait_for_termination_signal(const std::function<bool()>& done = {}, const std::function<void()>& on_hangup = {});

/// The global log options as they stand (--log-format, --log-level), and
/// setting them back, for a reload that re-reads them.
std::pair<std::string, std::string> log_settings();
void set_log_settings(const std::pair<std::string, std::string>& format_and_level);

/// The version of every JSON object lifeline prints (docs/json.md): its "v".
inline constexpr int kJsonVersion = 1;

/// Exit status of an agent whose every client was replaced: another live
/// connection took its id over (BYE replaced), so it stopped instead of
/// taking the id back (docs/operations.md, "Exit status").
inline constexpr int kExitReplaced = 3;
/// Exit status of ls, watch and agent when the server refused the handshake in
/// a way no retry can fix (ClientOptions::stop_when_refused): a bad token,
/// an unsupported protocol version, a HELLO the server cannot accept.
inline constexpr int kExitRefused = 4;

/// TLS and token options of every client-side command (agent, ls, watch),
/// bound straight into the library's option structs.
struct ClientSecurityArgs {
  ClientTlsOptions tls;
  bool tls_no_verify_hostname = false;  // the flag is the negation of tls.verify_hostname
  std::string token;
  std::string token_file;
};
void add_client_security_options(CLI::App& cmd, ClientSecurityArgs& a);
/// Sets o.tls, o.token and o.token_file; any TLS option implies --tls.
void apply_client_security(const ClientSecurityArgs& a, ClientOptions& o);

/// Common options of the client-side tools: --server, --connect-timeout, security.
struct ToolOptions {
  std::vector<std::string> servers{"127.0.0.1:7000"};
  std::string admin;  // ask the admin HTTP API at this URL instead of the protocol
  std::string admin_token_file;
  std::string connect_timeout = "5s";
  bool json = false;
  ClientSecurityArgs security;
};
void add_tool_options(CLI::App& cmd, ToolOptions& o);

/// Bytes as text for a log line: printable ASCII as is, the rest as \xNN.
std::string printable(std::string_view bytes);

/// Writes `port` and a newline to `path`, whole then renamed, so a reader
/// never sees a partial file; logs an error if it cannot.
void write_port_file(const std::string& path, std::uint16_t port);

/// At --log-level debug, logs each client's DATA (its first 200 bytes), so
/// the program shows what clients send; otherwise sets no handler. Before start().
void log_data_at_debug(Server& server);

/// For main(), before any thread starts: SIGINT and SIGTERM blocked (the
/// thread that waits for them takes them with sigwait(); no other inherits
/// them), SIGPIPE ignored (a socket or pipe may close under a write).
void prepare_signals();

/// --log-format and --log-level, global options of `app` that may also be
/// given after the subcommand (`lifeline serve --log-format json`) and, for
/// serve, as the TOML keys `log-format` and `log-level` (the command line
/// wins). Logging follows them once the command line is parsed. Call before
/// adding subcommands: they inherit the fall-through to these options.
void add_log_options(CLI::App& app);
/// Applies the log options as they stand now (serve calls it again after its
/// config file); UsageError for an unknown level.
void apply_log_options();
/// Parses the command line, which runs the chosen subcommand, and returns the
/// exit status: 0; a subcommand's own (CLI::RuntimeError); 2 for a usage or
/// configuration error; 1 for any other failure, printed as "<program>: <what>".
int parse_and_run(CLI::App& app, int argc, char** argv, std::string_view program);

void register_serve(CLI::App& app);
void register_agent(CLI::App& app);
void register_tools(CLI::App& app);  // ls, watch
void register_demo(CLI::App& app);
void register_token(CLI::App& app);  // token issue
void register_history(CLI::App& app);

}  // namespace lifeline::app
