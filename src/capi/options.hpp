#pragma once
// ll_client_set / ll_server_set: options as key and text value, so that a new
// option never changes the ABI and every language passes two strings.
#include <cstddef>
#include <string_view>

#include "lifeline/client.hpp"
#include "lifeline/server.hpp"

namespace lifeline::capi {

/// Throws Failure(LL_ERR_INVALID) naming the key or the value at fault.
void set_client_option(ClientOptions& options, std::size_t& queue_capacity, std::string_view key,
                       std::string_view value);
void set_server_option(ServerOptions& options, std::size_t& queue_capacity, std::string_view key,
                       std::string_view value);

}  // namespace lifeline::capi
