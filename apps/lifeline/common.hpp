#pragma once
// Helpers shared by the lifeline subcommands.

#include <CLI/CLI.hpp>
#include <chrono>
#include <optional>
#include <string>
#include <vector>

#include "lifeline/protocol.hpp"

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

/// Blocks until SIGINT or SIGTERM; returns the signal number.
int wait_for_termination_signal();

/// Common options of the client-side tools: --server, --connect-timeout.
struct ToolOptions {
  std::vector<std::string> servers{"127.0.0.1:7000"};
  std::string connect_timeout = "5s";
  bool json = false;
};
void add_tool_options(CLI::App& cmd, ToolOptions& o);

void register_serve(CLI::App& app);
void register_agent(CLI::App& app);
void register_tools(CLI::App& app);  // ls, watch
void register_demo(CLI::App& app);
void register_bench(CLI::App& app);  // bench, bench-worker

}  // namespace lifeline::app
