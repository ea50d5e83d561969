#pragma once
/// lifeline::Hooks: run a command and/or POST a signed JSON webhook on each
/// presence event (docs/operations.md, "Hooks").
///
/// Threading: publish() never blocks (a Server event handler calls it): it
/// queues the event, bounded; past the bound the event is dropped, counted
/// and logged. One thread of the hooks' own runs the commands (one at a
/// time, in event order, each killed after its timeout) and the webhook
/// deliveries (in event order, each retried with backoff). reload() and
/// stats() are thread-safe.

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>

#include "lifeline/presence.hpp"

namespace lifeline {

struct HookOptions {
  /// Run with /bin/sh -c on online (and takeover) / offline events; the
  /// event is in LIFELINE_* environment variables, never in the command text.
  std::string on_online;
  std::string on_offline;
  std::chrono::milliseconds command_timeout{10000};
  /// POST each event as JSON here (http:// or https://), signed with
  /// `webhook_secret` (HMAC-SHA256 of the body, header X-Lifeline-Signature).
  std::string webhook_url;
  std::string webhook_secret;
  std::chrono::milliseconds webhook_timeout{5000};
  unsigned webhook_retries = 5;  ///< after the first attempt
  std::chrono::milliseconds retry_base{500};
  std::chrono::milliseconds retry_cap{30000};
  /// Events waiting at most, per kind of hook.
  std::size_t queue = 1000;

  bool operator==(const HookOptions&) const = default;
  bool any() const { return !on_online.empty() || !on_offline.empty() || !webhook_url.empty(); }
  /// Empty if usable, else a message naming the option.
  std::string validate() const;
};

struct HookStats {
  std::uint64_t dropped = 0;
  std::uint64_t commands_run = 0;
  std::uint64_t commands_failed = 0;  ///< non-zero exit, or killed at the timeout
  std::uint64_t webhooks_delivered = 0;
  std::uint64_t webhook_retries = 0;
  std::uint64_t webhooks_failed = 0;  ///< given up after every retry
  std::size_t queued = 0;
};

/// "sha256=<hex HMAC-SHA256(secret, body)>", the X-Lifeline-Signature header.
std::string webhook_signature(const std::string& secret, const std::string& body);
/// The JSON body of an event (docs/json.md's watch vocabulary).
std::string webhook_body(const PresenceEvent& e);

class Hooks {
 public:
  /// Throws std::invalid_argument naming a bad option.
  explicit Hooks(HookOptions options);
  /// Gives queued work up to a second, then stops (logging what is left).
  ~Hooks();
  Hooks(const Hooks&) = delete;
  Hooks& operator=(const Hooks&) = delete;

  void publish(const PresenceEvent& event);
  /// New options for the events from now on (SIGHUP). Throws std::invalid_argument.
  void reload(HookOptions options);
  HookStats stats() const;
  HookOptions options() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace lifeline
