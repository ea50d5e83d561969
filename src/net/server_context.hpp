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
        registry(instance, options.event_buffer) {}
  ServerOptions options;
  ConnectionLimits limits;
  proto::FrameLimits frame_limits;  // what each session's decoder accepts
  std::unique_ptr<TlsContext> tls;  // null: plain TCP
  // Null: no tokens required. Swapped whole by Server::reload; a HELLO checks
  // against the one it loads.
  std::atomic<std::shared_ptr<const auth::TokenVerifier>> verifier;
  Registry registry;
  Server::DataHandler on_data;
  std::vector<std::unique_ptr<Shard>> shards;
  std::atomic<bool> stopping{false};
};

}  // namespace lifeline::detail
