#include "serve_hooks.hpp"

#include "common.hpp"
#include "lifeline/admin.hpp"
#include "lifeline/files.hpp"

namespace lifeline::app {

void add_hook_options(CLI::App& cmd, HookArgs& args) {
  cmd.add_option("--on-online", args.on_online,
                 "run this shell command when a client comes online (LIFELINE_ID, LIFELINE_PEER, ... in its "
                 "environment)");
  cmd.add_option("--on-offline", args.on_offline,
                 "run this shell command when a client goes offline (LIFELINE_REASON, LIFELINE_LAST_SEEN too)");
  cmd.add_option("--hook-timeout", args.command_timeout, "a hook command still running after this is killed")
      ->capture_default_str();
  cmd.add_option("--webhook", args.webhook, "POST every presence event as JSON to this http:// or https:// URL");
  cmd.add_option("--webhook-secret-file", args.webhook_secret_file,
                 "secret (first line, at least 16 bytes) that signs each webhook body: X-Lifeline-Signature");
  cmd.add_option("--webhook-timeout", args.webhook_timeout, "a webhook attempt without a 2xx answer by then failed")
      ->capture_default_str();
  cmd.add_option("--webhook-retries", args.webhook_retries, "retries of a failed webhook, with backoff")
      ->check(CLI::Range(0, 100))
      ->capture_default_str();
  cmd.add_option("--webhook-retry-base", args.webhook_retry_base,
                 "first retry within this; each next one within twice as long (at most 30s)")
      ->capture_default_str();
  cmd.add_option("--hook-queue", args.queue, "events waiting for hooks at most; more are dropped, counted and logged")
      ->check(CLI::Range(1, 10'000'000))
      ->capture_default_str();
}

#ifndef _WIN32  // hooks are not part of the Windows build: serve refuses their options
HookOptions to_hook_options(const HookArgs& a) {
  HookOptions o;
  o.on_online = a.on_online;
  o.on_offline = a.on_offline;
  o.command_timeout = duration_arg("--hook-timeout", a.command_timeout);
  o.webhook_url = a.webhook;
  if (!a.webhook_secret_file.empty()) {
    try {
      const auto text = read_text_file(a.webhook_secret_file, "webhook secret file", 64 * 1024);
      o.webhook_secret = text.substr(0, text.find_first_of("\r\n"));
    } catch (const std::invalid_argument& e) {
      throw UsageError(std::string("--webhook-secret-file: ") + e.what());
    }
  }
  o.webhook_timeout = duration_arg("--webhook-timeout", a.webhook_timeout);
  o.webhook_retries = a.webhook_retries;
  o.retry_base = duration_arg("--webhook-retry-base", a.webhook_retry_base);
  o.retry_cap = std::max(o.retry_base, std::chrono::milliseconds(30000));
  o.queue = a.queue;
  if (auto err = o.validate(); !err.empty()) {
    throw UsageError(err);
  }
  return o;
}

void append_hook_metrics(std::string& out, const HookStats& s) {
  const auto put = [&](const char* name, const char* type, const char* help, double v) {
    append_metric(out, name, type, help, v);
  };
  put("lifeline_hooks_dropped_total", "counter", "Events dropped because the hooks' queue was full.",
      static_cast<double>(s.dropped));
  put("lifeline_hooks_commands_total", "counter", "Hook commands run.", static_cast<double>(s.commands_run));
  put("lifeline_hooks_commands_failed_total", "counter", "Hook commands that failed or were killed.",
      static_cast<double>(s.commands_failed));
  put("lifeline_webhooks_delivered_total", "counter", "Webhooks answered 2xx.",
      static_cast<double>(s.webhooks_delivered));
  put("lifeline_webhooks_retries_total", "counter", "Webhook attempts retried.",
      static_cast<double>(s.webhook_retries));
  put("lifeline_webhooks_failed_total", "counter", "Webhooks given up after every retry.",
      static_cast<double>(s.webhooks_failed));
  put("lifeline_hooks_queued", "gauge", "Events waiting for hooks.", static_cast<double>(s.queued));
}
#endif  // _WIN32

}  // namespace lifeline::app
