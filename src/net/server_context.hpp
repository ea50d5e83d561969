#pragma once
// State shared by the server's shards: options, the registry, handlers.

#include <atomic>
#include <memory>
#include <vector>

#include "connection_limits.hpp"
#include "lifeline/server.hpp"
#include "registry.hpp"

namespace lifeline::detail {

class Shard;

struct ServerContext {
  explicit ServerContext(ServerOptions opts)
      : options(std::move(opts)), limits(options.max_connections, options.max_connections_per_address) {}
  ServerOptions options;
  ConnectionLimits limits;
  Registry registry;
  Server::DataHandler on_data;
  std::vector<std::unique_ptr<Shard>> shards;
  std::atomic<bool> stopping{false};
};

}  // namespace lifeline::detail
