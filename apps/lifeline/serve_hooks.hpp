#pragma once
// lifeline serve's hook options (--on-online, --on-offline, --webhook...) and
// their translation into HookOptions. Part of ServeArgs, so TOML files take
// them as keys too, and a SIGHUP reloads them.

#include <CLI/CLI.hpp>
#include <string>

#include "lifeline/hooks.hpp"

namespace lifeline::app {

struct HookArgs {
  std::string on_online;
  std::string on_offline;
  std::string command_timeout = "10s";
  std::string webhook;
  std::string webhook_secret_file;
  std::string webhook_timeout = "5s";
  unsigned webhook_retries = 5;
  std::string webhook_retry_base = "500ms";
  std::size_t queue = 1000;
};

void add_hook_options(CLI::App& cmd, HookArgs& args);
/// Throws UsageError naming the option (a secret file it cannot read, ...).
HookOptions to_hook_options(const HookArgs& a);

/// lifeline_hooks_* series for /metrics.
void append_hook_metrics(std::string& out, const HookStats& s);

}  // namespace lifeline::app
