#pragma once
// State shared by the server's shards: options, the registry, handlers.

#include <atomic>
#include <memory>
#include <vector>

#include "connection_limits.hpp"
#include "lifeline/server.hpp"
#include "lifeline/token.hpp"
#include "registry.hpp"
#include "tls.hpp"
#include "ws/upgrade.hpp"

namespace lifeline::detail {

class Shard;

struct ServerContext {
  ServerContext(ServerOptions opts, std::uint64_t instance)
      : options(std::move(opts)),
        limits(options.max_connections, options.max_connections_per_address),
        frame_limits{options.max_data, options.max_hello, options.max_bye},
        tls(options.tls.enabled() ? std::make_unique<TlsContext>(options.tls) : nullptr),
        verifier(options.auth_secrets.empty() ? nullptr
                                              : std::make_shared<const auth::TokenVerifier>(options.auth_secrets)),
        ws_rules{options.websocket.path, options.websocket.allowed_origins, options.websocket.max_upgrade_bytes},
        // A message may hold several frames: the largest one, plus room for a few small ones.
        ws_max_message(std::uint64_t{options.max_data} + proto::kMaxHelloLength + 1024),
        registry(instance, options.event_buffer) {}
  ServerOptions options;
  ConnectionLimits limits;
  proto::FrameLimits frame_limits;  // what each session's decoder accepts
  std::unique_ptr<TlsContext> tls;  // null: plain TCP
  // Null: no tokens required. Swapped whole by Server::reload; a HELLO checks
  // against the one it loads.
  std::atomic<std::shared_ptr<const auth::TokenVerifier>> verifier;
  ws::UpgradeRules ws_rules;     // what a WebSocket upgrade request must be
  std::uint64_t ws_max_message;  // the most one WebSocket message may carry
  Registry registry;
  /// What LIST and SUBSCRIBE read: the registry, or a cluster's view. Set
  /// before the shards start, never after.
  PresenceView* view = &registry;
  Server::DataHandler on_data;
  std::vector<std::unique_ptr<Shard>> shards;
  std::atomic<bool> stopping{false};
  /// TLS handshakes under way, on every shard: accepting pauses at
  /// kMaxTlsHandshakes (shard.cpp), so a reconnect storm queues in the
  /// kernel's listen backlog instead of starting thousands of handshakes
  /// that each progress too slowly to finish before their deadline.
  std::atomic<int> tls_handshakes{0};
};

}  // namespace lifeline::detail
